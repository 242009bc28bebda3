"""The ``shapenet`` dataset: view pairs rendered from ShapeNetCore meshes (KeypointNet's data).

ShapeNetCore (Chang et al., 2015; https://shapenet.org, registration) in its v1 or v2 folder
layout, or any meshes laid out like it. Each model is normalised, rendered on the CPU from
cameras on the upper hemisphere as KeypointNet (Suwajanakorn et al., NeurIPS 2018) rendered
it, cached, and served as ``multiview3d`` view pairs. See docs/shapenet.md.
Importing this module is cheap: the loader, renderer and twin writer load when called.
"""

from __future__ import annotations

from pathlib import Path

from kpbench import hookimpl
from kpbench.specs import DatasetSpec

DATA_HINT = (
    "put ShapeNetCore (v2: <synset>/<model_id>/models/model_normalized.obj, or v1: "
    "<synset>/<model_id>/model.obj, with taxonomy.json) into $KPBENCH_DATA/shapenet (or pass "
    "--data-dir); or write a synthetic twin with `kpbench data synth shapenet --out DIR`"
)


def build(data_dir: Path | None = None, **options):
    """Open a ShapeNetCore folder (see :func:`kpbench_plugins.shapenet.dataset.build`)."""
    from kpbench_plugins.shapenet.dataset import build as build_dataset

    return build_dataset(data_dir, **options)


def synthesize(out: Path, seed: int = 0, **options) -> Path:
    """Write procedural cars and aeroplanes (see :func:`kpbench_plugins.shapenet.synth.synthesize`)."""
    from kpbench_plugins.shapenet.synth import synthesize as write_twin

    return write_twin(Path(out), seed, **options)


@hookimpl
def kpbench_datasets():
    return [
        DatasetSpec(
            name="shapenet",
            tasks=("multiview3d",),
            build=build,
            description="ShapeNetCore meshes (v1/v2 layout) rendered on the CPU as KeypointNet's "
            "view pairs: 128² RGB, mask, depth, 5° FOV at distance 30, upper hemisphere",
            data_hint=DATA_HINT,
            synthesize=synthesize,
        )
    ]
