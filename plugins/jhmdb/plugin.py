"""The ``jhmdb`` dataset: J-HMDB (Jhuang, Gall, Zuffi, Schmid, Black, ICCV 2013).

Data: http://jhmdb.is.tue.mpg.de/ (``JHMDB_video.zip`` → ``Rename_Images``, ``joint_positions.zip``,
``splits.zip``). Layout and rules: :mod:`kpbench_plugins.jhmdb.dataset`.
Importing this module is cheap: the loader and the twin writer are imported when called.
"""

from __future__ import annotations

from pathlib import Path

from kpbench import hookimpl
from kpbench.specs import DatasetSpec

DATA_HINT = (
    "download Rename_Images (JHMDB_video.zip), joint_positions.zip and splits.zip from "
    "http://jhmdb.is.tue.mpg.de/ and unzip them into $KPBENCH_DATA/jhmdb (or pass --data-dir); "
    "or write a synthetic twin with `kpbench data synth jhmdb --out DIR`"
)


def build(data_dir: Path | None = None, **options):
    """Open a JHMDB folder (see :func:`kpbench_plugins.jhmdb.dataset.build`)."""
    from kpbench_plugins.jhmdb.dataset import build as build_dataset

    return build_dataset(data_dir, **options)


def synthesize(out: Path, seed: int = 0, **options) -> Path:
    """Write a synthetic JHMDB twin (see :func:`kpbench_plugins.jhmdb.synth.synthesize`)."""
    from kpbench_plugins.jhmdb.synth import synthesize as write_twin

    return write_twin(Path(out), seed, **options)


@hookimpl
def kpbench_datasets():
    return [
        DatasetSpec(
            name="jhmdb",
            tasks=("propagation",),
            build=build,
            description="J-HMDB: 928 clips of 21 actions, 15 joints in every frame, 3 splits "
            "(keypoint propagation from the first frame)",
            data_hint=DATA_HINT,
            synthesize=synthesize,
        )
    ]
