"""The rendered views of one model: from the cache, or rendered now and cached.

:func:`model_views` is what the dataset calls per model; everything that changes the images is
in ``settings`` (hence in the cache key, see :mod:`.cache`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import cache
from .camera import hemisphere_poses, intrinsics
from .layout import Model, model_hash
from .mesh import load_mesh
from .orient import normalising_transform, resolve_axes
from .render import RENDERER_VERSION, RayCaster


@dataclass(frozen=True)
class RenderSettings:
    """What a model's views depend on (besides the mesh files)."""

    image_size: int = 128
    distance: float = 30.0
    fov: float = 5.0
    object_size: float = 2.0
    views_per_model: int = 24
    min_elevation: float = 0.0
    seed: int = 0
    up_axis: str = "auto"
    forward_axis: str = "auto"
    shapenet_release: bool = False

    def as_key(self) -> dict:
        return {**self.__dict__, "renderer": RENDERER_VERSION}


def model_rng(model: Model, seed: int, salt: int) -> np.random.Generator:
    """A generator for one model: seeded by ``(seed, hash of its key, salt)``."""
    return np.random.default_rng([int(seed), int(model_hash(model.key)[:12], 16), int(salt)])


@dataclass
class ModelViews:
    """Where a model's views are on disk, and whether they were rendered now."""

    path: Path
    rendered: bool
    axes: tuple[str, str] | None  # (up, forward) of the file, when rendered now
    engine: str | None


def render_model(model: Model, s: RenderSettings) -> tuple[dict[str, np.ndarray], tuple, str]:
    """Load, normalise and render ``model``: arrays as :mod:`.cache` stores them.

    Raises:
        MeshError: the mesh cannot be read.
    """
    mesh = load_mesh(model.path)
    axes = resolve_axes(mesh, s.up_axis, s.forward_axis, s.shapenet_release)
    normalise = normalising_transform(mesh, *axes)
    world = normalise.copy()
    world[:3] *= s.object_size
    caster = RayCaster(mesh.transformed(world))
    poses = hemisphere_poses(s.views_per_model, s.distance, model_rng(model, s.seed, 0),
                             s.min_elevation)  # fmt: skip
    K = intrinsics(s.image_size, s.fov)
    arrays = caster.render_many(poses, K, s.image_size)
    arrays.update(poses=poses, intrinsics=K, normalise=normalise)
    return arrays, axes, caster.engine


def model_views(model: Model, s: RenderSettings, cache_root: Path) -> ModelViews:
    """The model's views: read from the cache when there, else rendered and cached."""
    key = cache.cache_key(cache.content_hash(model.path), {**s.as_key(), "model": model.key})
    path = cache.cache_path(cache_root, key)
    if cache.present(path):
        return ModelViews(path, False, None, None)
    arrays, axes, engine = render_model(model, s)
    cache.save(path, arrays)
    return ModelViews(path, True, axes, engine)


def view_pairs_of(model: Model, n_views: int, n_pairs: int, seed: int) -> list[tuple[int, int]]:
    """``n_pairs`` distinct ordered view pairs (i ≠ j, no unordered pair twice), seeded."""
    rng = model_rng(model, seed, 1)
    total = n_views * (n_views - 1) // 2
    chosen = rng.choice(total, size=min(n_pairs, total), replace=False)
    iu, ju = np.triu_indices(n_views, k=1)
    out = []
    for c in chosen:
        i, j = int(iu[c]), int(ju[c])
        out.append((i, j) if rng.random() < 0.5 else (j, i))
    return out
