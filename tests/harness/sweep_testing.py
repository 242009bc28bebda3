"""Shared by the sweep tests: the toy plugin installed for subprocesses, its data, a suite.

A sweep runs every cell as its own ``python -m kpbench.cli run`` process, so the toy plugin
(``toy_plugin.py``: a 1x1-conv keypoint detector on 24 frames of 32x32 px, seconds per run) is
installed the way a third-party plugin is: a folder with the module and a ``.dist-info`` whose
``entry_points.txt`` names it, on ``PYTHONPATH``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def install_toy(site: Path) -> Path:
    """Make ``site`` an importable folder holding the toy plugin as an installed distribution."""
    site.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "toy_plugin.py", site / "toy_plugin.py")
    (site / "kpbench_toy_entry.py").write_text(
        "from toy_plugin import ToyPlugin\n\nplugin = ToyPlugin()\n"
    )
    info = site / "kpbench_toy-0.1.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kpbench-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kpbench]\ntoy = kpbench_toy_entry:plugin\n")
    return site


def toy_data(folder: Path) -> Path:
    import sys

    sys.path.insert(0, str(HERE))
    from toy_plugin import synthesize

    folder.mkdir(parents=True, exist_ok=True)
    return synthesize(folder)


def write_suite(path: Path, data: Path, seeds: list[int], failing: bool, **extra) -> Path:
    """A toymethod suite: one cell per seed, plus one that fails in its second epoch."""
    suite = {
        "results": "results",
        "methods": ["toymethod"],
        "datasets": {"toy": str(data)},
        "seeds": seeds,
        "presets": ["smoke"],
        "run": {"threads": 1, "device": "cpu"},
        **extra,
    }
    if failing:
        suite["cells"] = [{"method": "toymethod", "dataset": "toy", "seed": 0,
                           "preset": "smoke", "sets": ["fail_at_epoch=1"]}]  # fmt: skip
    path.write_text(yaml.safe_dump(suite))
    return path
