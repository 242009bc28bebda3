"""kpbench sweep: a suite file fanned out as one kpbench run per cell (see docs/scale.md)."""
