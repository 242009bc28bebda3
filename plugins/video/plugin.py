"""The ``video`` dataset plugin: a folder of your own clips, with the labels you already have.

Videos (any OpenCV-readable file or folder of frames) serve ``discovery2d`` and ``alignment``;
DeepLabCut, SLEAP or COCO keypoint labels add ``pose2d`` (and the discovery evaluation). The
synthetic scenes (a blue pen rotating on white, a blue object dragged around, both with moving
soft shadows) are written by ``kpbench data synth video --out DIR``.

The ``actions`` dataset is the same loader on a folder of action clips with phase tables (one
folder per action, ``<clip>.phases.csv`` per clip: ``alignment``, TCC); its synthetic twin (an arm
pouring from a cup, a pen turning; :mod:`kpbench_plugins.video.actions`) is written by
``kpbench data synth actions --out DIR``. Importing this module is light: the loader and the
generators are imported when called.
"""

from __future__ import annotations

from pathlib import Path

from kpbench import hookimpl
from kpbench.specs import DatasetSpec

HINT = (
    "put video files (.mp4, .avi, ...) or folders of frames in a folder, optionally with a DeepLabCut "
    "project, SLEAP .slp, COCO keypoints json or <video>.phases.csv labels; pass it with --data-dir, "
    "or write synthetic scenes with `kpbench data synth video --out DIR`"
)

ACTIONS_HINT = (
    "put one folder per action of video clips, each with a <clip>.phases.csv table (frame,phase"
    "[,progress]), in a folder and pass it with --data-dir, or write the synthetic twin with "
    "`kpbench data synth actions --out DIR`"
)


def build(data_dir: Path | None = None, **options):
    """See :func:`kpbench_plugins.video.dataset.build`."""
    from kpbench_plugins.video.dataset import build as _build

    return _build(data_dir, **options)


def synthesize(out: Path, seed: int = 0, **options) -> Path:
    """See :func:`kpbench_plugins.video.synth.synthesize`."""
    from kpbench_plugins.video.synth import synthesize as _synthesize

    return _synthesize(out, seed, **options)


def build_actions(data_dir: Path | None = None, **options):
    """The ``video`` loader on ``data_dir`` (default ``$KPBENCH_DATA/actions``), named ``actions``."""
    from kpbench.dataset import find_data_dir
    from kpbench_plugins.video.dataset import build as _build

    data = _build(find_data_dir("actions", data_dir, ACTIONS_HINT), **options)
    data.name = "actions"
    return data


def synthesize_actions(out: Path, seed: int = 0, **options) -> Path:
    """See :func:`kpbench_plugins.video.actions.synthesize`."""
    from kpbench_plugins.video.actions import synthesize as _synthesize

    return _synthesize(out, seed, **options)


@hookimpl
def kpbench_datasets():
    return [
        DatasetSpec(
            name="video",
            tasks=("discovery2d", "alignment", "pose2d", "propagation"),
            build=build,
            description="a folder of your own videos, with optional DeepLabCut / SLEAP / COCO / phase labels",
            data_hint=HINT,
            synthesize=synthesize,
        ),
        DatasetSpec(
            name="actions",
            tasks=("alignment", "discovery2d"),
            build=build_actions,
            description="clips of one action per folder with per-frame phases (TCC alignment); "
            "synthetic twin: pouring and pen turning",
            data_hint=ACTIONS_HINT,
            synthesize=synthesize_actions,
        ),
    ]
