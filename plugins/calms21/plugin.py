"""The ``calms21`` dataset: CalMS21 mouse social behaviour (Sun et al., NeurIPS 2021 D&B track).

Paper: https://arxiv.org/abs/2104.02710 — data: https://data.caltech.edu/records/s0vdx-0k302.
Importing this module is cheap: the loader and the twin writer are imported when called.
"""

from __future__ import annotations

from pathlib import Path

from kpbench import hookimpl
from kpbench.specs import DatasetSpec

DATA_HINT = (
    "download task1_classic_classification.zip (+ task1_videos_mp4.zip for discovery2d/pose2d) from "
    "https://data.caltech.edu/records/s0vdx-0k302 and unzip into $KPBENCH_DATA/calms21 (or pass --data-dir); "
    "or write a synthetic twin with `kpbench data synth calms21 --out DIR`"
)


def build(data_dir: Path | None = None, **options):
    """Open a CalMS21 folder (see :func:`kpbench_plugins.calms21.dataset.build`)."""
    from kpbench_plugins.calms21.dataset import build as build_dataset

    return build_dataset(data_dir, **options)


def synthesize(out: Path, seed: int = 0, **options) -> Path:
    """Write a synthetic CalMS21 task-1 twin (see :func:`kpbench_plugins.calms21.synth.synthesize`)."""
    from kpbench_plugins.calms21.synth import synthesize as write_twin

    return write_twin(Path(out), seed, **options)


@hookimpl
def kpbench_datasets():
    return [
        DatasetSpec(
            name="calms21",
            tasks=("discovery2d", "pose2d", "behavior", "propagation"),
            build=build,
            description="CalMS21: resident/intruder mice, 7 MARS keypoints each, per-frame behaviour labels",
            data_hint=DATA_HINT,
            synthesize=synthesize,
        )
    ]
