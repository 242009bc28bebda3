"""The ``h36m`` dataset: Human3.6M (Ionescu et al., TPAMI 2014) as VideoPose3D prepares it.

Data: http://vision.imar.ro/human3.6m/ (registration), converted with
facebookresearch/VideoPose3D ``data/prepare_data_h36m.py`` (see its DATASETS.md).
Importing this module is cheap: the loader and the twin writer are imported when called.
"""

from __future__ import annotations

from pathlib import Path

from kpbench import hookimpl
from kpbench.specs import DatasetSpec

DATA_HINT = (
    "put VideoPose3D's data_3d_h36m.npz and data_2d_h36m_<detector>.npz (made by its "
    "data/prepare_data_h36m.py, see its DATASETS.md) into $KPBENCH_DATA/h36m (or pass --data-dir); "
    "or write a synthetic twin with `kpbench data synth h36m --out DIR`"
)


def build(data_dir: Path | None = None, **options):
    """Open a Human3.6M folder (see :func:`kpbench_plugins.h36m.dataset.build`)."""
    from kpbench_plugins.h36m.dataset import build as build_dataset

    return build_dataset(data_dir, **options)


def synthesize(out: Path, seed: int = 0, **options) -> Path:
    """Write a synthetic Human3.6M twin (see :func:`kpbench_plugins.h36m.synth.synthesize`)."""
    from kpbench_plugins.h36m.synth import synthesize as write_twin

    return write_twin(Path(out), seed, **options)


@hookimpl
def kpbench_datasets():
    return [
        DatasetSpec(
            name="h36m",
            tasks=("lifting3d",),
            build=build,
            description="Human3.6M (VideoPose3D npz): 17-joint 2D → 3D sequences, 4 cameras, "
            "train S1 S5-S8, test S9 S11",
            data_hint=DATA_HINT,
            synthesize=synthesize,
        )
    ]
