"""The ``mocap`` dataset: BVH motion-capture takes (CMU) as ``lifting3d`` and ``alignment`` sequences.

The 3D joints come from forward kinematics of each take, mapped to Human3.6M's 17 joints and
resampled to 50 fps; the 2D joints are their projections into virtual Human3.6M-like cameras
(see :mod:`kpbench_plugins.mocap.dataset`). Data: mocap.cs.cmu.edu ("The data used in this
project was obtained from mocap.cs.cmu.edu. The database was created with funding from NSF
EIA-0196217."). Importing this module is cheap: the loader is imported when called.

No synthetic twin: the data is real and small (three CMU takes are enough to test on).
"""

from __future__ import annotations

from pathlib import Path

from kpbench import hookimpl
from kpbench.specs import DatasetSpec

DATA_HINT = (
    "put CMU motion-capture BVH files (the cgspeed.com 'cmuconvert' BVH conversion of "
    "mocap.cs.cmu.edu, e.g. 131_01.bvh … 131_03.bvh) into $KPBENCH_DATA/mocap (or pass --data-dir)"
)


def build(data_dir: Path | None = None, **options):
    """Open a folder of BVH takes (see :func:`kpbench_plugins.mocap.dataset.build`)."""
    from kpbench_plugins.mocap.dataset import build as build_dataset

    return build_dataset(data_dir, **options)


@hookimpl
def kpbench_datasets():
    return [
        DatasetSpec(
            name="mocap",
            tasks=("lifting3d", "alignment"),
            build=build,
            description="BVH motion capture (CMU): Human3.6M's 17 joints in virtual cameras, 50 fps",
            data_hint=DATA_HINT,
        )
    ]
