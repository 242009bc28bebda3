"""The ``shapenet`` dataset: rendered view pairs of ShapeNetCore meshes for ``multiview3d``.

``build(data_dir, **options)`` finds the meshes (:mod:`.layout`), renders each model's views
once (:mod:`.views`, cached on disk by :mod:`.cache`) and serves pairs of views of one model
(:meth:`ShapeNetDataset.view_pairs`), their images read from the cache only when a pair is
accessed. Everything the build saw is in ``notes``: the meshes used, skipped (with the error)
and ignored (why), the split, the axes of each rendered mesh, views rendered vs. read from the
cache, the render settings and the engine.
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from kpbench.dataset import KeypointDataset, find_data_dir
from kpbench.errors import ConfigError, DataError
from kpbench.tasks.common import LazySamples

from . import cache
from .layout import find_models, select_categories, split_models
from .mesh import MeshError
from .orient import check_axis
from .plugin import DATA_HINT
from .views import RenderSettings, model_views, view_pairs_of

SPLITS = ("train", "test")


def _whole(value, option: str, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(f"shapenet: data.{option}={value!r} must be a whole number >= {low}")
    return int(value)


def _positive(value, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(f"shapenet: data.{option}={value!r} must be a number > 0")
    return float(value)


@lru_cache(maxsize=4)
def _read_views(path: str) -> dict[str, np.ndarray]:
    arrays = cache.load(Path(path))
    if arrays is None:
        raise DataError(
            f"shapenet: the cached views {path} vanished or were damaged after the build; "
            "build the dataset again (it renders them again)"
        )
    return arrays


class ShapeNetDataset(KeypointDataset):
    """View pairs of rendered ShapeNet models (see :func:`build` for the options)."""

    name = "shapenet"
    tasks = ("multiview3d",)

    def __init__(self, root: Path, settings: RenderSettings, pairs_per_model: int,
                 categories=None, test_fraction: float = 0.2, test_models=None,
                 max_models: int | None = None, cache_dir: Path | None = None,
                 ignored_options: dict | None = None):  # fmt: skip
        super().__init__()
        self.root = Path(root)
        models, found = find_models(self.root)
        if not models:
            raise DataError(
                f"shapenet: no model in {self.root} (looked for <synset>/<id>/"
                f"models/model_normalized.obj and <synset>/<id>/model.obj); {DATA_HINT}"
            )
        ignored: dict[str, str] = {
            p.name: "not a synset folder (8 digits) of the ShapeNetCore layout"
            for p in sorted(self.root.iterdir())
            if p.name != "taxonomy.json" and p.name not in found
        }
        for m in models:
            v1 = m.path.parent.parent / "model.obj"
            if m.layout == "v2" and v1.is_file():
                ignored[str(v1)] = "v1 copy of a model also in the v2 layout (v2 used)"
        chosen = select_categories(models, categories, found)
        for m in models:
            if m not in chosen:
                ignored[str(m.path)] = f"category {m.category} not in data.categories"
        if max_models is not None:
            kept = []
            for synset in sorted({m.synset for m in chosen}):
                of = [m for m in chosen if m.synset == synset]
                kept += of[:max_models]
                for m in of[max_models:]:
                    ignored[str(m.path)] = f"beyond data.max_models={max_models} of {m.category}"
            chosen = kept
        cache_root = Path(cache_dir).expanduser() if cache_dir else cache.default_dir()

        self._pairs: dict[str, list[tuple[int, int, int]]] = {s: [] for s in SPLITS}
        self._models, used, skipped, axes = [], [], {}, {}
        rendered = cached = 0
        engines: set[str] = set()
        start = time.perf_counter()
        split = split_models(chosen, test_fraction, test_models)
        for m in chosen:
            try:
                views = model_views(m, settings, cache_root)
            except MeshError as exc:
                skipped[str(m.path)] = str(exc)
                continue
            except OSError as exc:
                raise DataError(
                    f"shapenet: cannot write the render cache at {cache_root} "
                    f"({exc.strerror}); pass --set data.cache=DIR"
                ) from None
            index = len(self._models)
            self._models.append((m, str(views.path)))
            used.append(str(m.path))
            if views.rendered:
                rendered += settings.views_per_model
                axes[m.key] = f"up {views.axes[0]}, forward {views.axes[1]}"
                engines.add(views.engine)
            else:
                cached += settings.views_per_model
            for i, j in view_pairs_of(m, settings.views_per_model, pairs_per_model, settings.seed):
                self._pairs[split[m.key]].append((index, i, j))
        seconds = time.perf_counter() - start
        if not self._models:
            raise DataError(
                f"shapenet: none of the {len(chosen)} meshes in {self.root} could "
                f"be read (e.g. {next(iter(skipped.items()), ('', ''))}); fix or "
                "replace them"
            )
        self.notes = {
            "layout": sorted({m.layout for m, _ in self._models}),
            "categories": sorted({m.category for m, _ in self._models}),
            "used_meshes": used,
            "skipped_meshes": skipped,
            "ignored": ignored,
            "split_rule": "per category, models ranked by sha256(model id): the first "
            f"ceil({test_fraction} n) test" if test_models is None else "data.test_models",
            "models": {s: sorted(m.key for m, _ in self._models if split[m.key] == s)
                       for s in SPLITS},
            "pairs": {s: len(v) for s, v in self._pairs.items()},
            "render": {**settings.as_key(), "pairs_per_model": pairs_per_model,
                       "cache": str(cache_root), "views_rendered": rendered,
                       "views_cached": cached, "engines": sorted(engines),
                       "seconds": round(seconds, 3)},
            "axes_of_rendered_meshes": axes,
        }  # fmt: skip
        if ignored_options:
            self.notes["ignored_options"] = dict(ignored_options)

    def _pair(self, split: str, k: int) -> dict:
        index, i, j = self._pairs[split][k]
        model, path = self._models[index]
        v = _read_views(path)
        pose_a, pose_b = v["poses"][i].astype(np.float64), v["poses"][j].astype(np.float64)
        return {
            "object": model.model_id,
            "category": model.category,
            "synset": model.synset,
            "views": (i, j),
            "image_a": v["rgb"][i], "image_b": v["rgb"][j],
            "mask_a": v["mask"][i], "mask_b": v["mask"][j],
            "depth_a": v["depth"][i], "depth_b": v["depth"][j],
            "intrinsics": v["intrinsics"].astype(np.float64),
            "pose_a": pose_a, "pose_b": pose_b,
            "relative": pose_b @ np.linalg.inv(pose_a),
        }  # fmt: skip

    def view_pairs(self, split: str) -> LazySamples:
        """The pairs of ``split`` (model by model), each read from the cache on access."""
        pairs = self._pairs.get(split, [])
        return LazySamples(len(pairs), lambda k: self._pair(split, k))

    def describe(self) -> dict:
        return {"name": self.name, "tasks": list(self.tasks), "keypoint_names": [], **self.notes}


def build(
    data_dir: Path | str | None = None,
    *,
    categories=None,
    views_per_model: int = 24,
    pairs_per_model: int = 24,
    image_size: int = 128,
    distance: float = 30.0,
    fov: float = 5.0,
    object_size: float = 2.0,
    min_elevation: float = 0.0,
    test_fraction: float = 0.2,
    test_models=None,
    max_models: int | None = None,
    up_axis: str = "auto",
    forward_axis: str = "auto",
    seed: int = 0,
    cache: str | Path | None = None,
    **others,
) -> ShapeNetDataset:
    """Open a ShapeNetCore folder (v1 or v2 layout; default ``$KPBENCH_DATA/shapenet``).

    A folder of KeypointNet's ``*.tfrecord`` files (and no model) is read as such instead
    (:mod:`.records`: no rendering; only ``test_fraction`` and ``image_size`` apply).

    Args:
        categories: names or synset ids (list or comma text); None: every category found.
        views_per_model: views rendered per model (cameras on the upper hemisphere).
        pairs_per_model: distinct view pairs served per model (at most V(V−1)/2).
        image_size: square image side in px (KeypointNet: 128).
        distance, fov, object_size: camera distance, field of view in degrees, and the
            object's longest side, in world units (KeypointNet: 30, 5°, 2).
        min_elevation: lowest camera elevation in degrees above the horizon (0: whole hemisphere).
        test_fraction, test_models: the split (see :mod:`.layout`).
        max_models: at most this many models per category (the first by model id).
        up_axis, forward_axis: the files' axes (see :mod:`.orient`): auto, infer, ±x, ±y, ±z.
        seed: seeds the viewpoints and pairs (with each model's id).
        cache: the render cache folder (default ``$KPBENCH_CACHE`` or ``~/.cache/kpbench``).
        others: unknown options, recorded in ``notes['ignored_options']``.

    Raises:
        DataError: no folder, no model, no readable mesh, or an unwritable cache (one line).
        ConfigError: an option with a wrong value.
    """
    root = find_data_dir("shapenet", data_dir, DATA_HINT)
    records = sorted(root.glob("*.tfrecord"))
    if records and not find_models(root)[0]:
        from .records import KeypointNetRecords

        mesh_only = {
            "categories": (categories, None), "views_per_model": (views_per_model, 24),
            "pairs_per_model": (pairs_per_model, 24), "distance": (distance, 30.0),
            "fov": (fov, 5.0), "object_size": (object_size, 2.0),
            "min_elevation": (min_elevation, 0.0), "test_models": (test_models, None),
            "max_models": (max_models, None), "up_axis": (up_axis, "auto"),
            "forward_axis": (forward_axis, "auto"), "seed": (seed, 0), "cache": (cache, None),
        }  # fmt: skip
        unused = {k: v for k, (v, default) in mesh_only.items() if v != default}
        size = _whole(image_size, "image_size", 8)
        return KeypointNetRecords(root, records, test_fraction, size, {**unused, **others})
    views = _whole(views_per_model, "views_per_model", 2)
    if not 0 <= float(min_elevation) < 90:
        raise ConfigError(f"shapenet: data.min_elevation={min_elevation!r} must be in [0, 90)")
    settings = RenderSettings(
        image_size=_whole(image_size, "image_size", 8),
        distance=_positive(distance, "distance"),
        fov=_positive(fov, "fov"),
        object_size=_positive(object_size, "object_size"),
        views_per_model=views,
        min_elevation=float(min_elevation),
        seed=int(seed),
        up_axis=check_axis(up_axis, "up_axis"),
        forward_axis=check_axis(forward_axis, "forward_axis"),
        shapenet_release=(root / "taxonomy.json").is_file(),
    )
    if settings.fov >= 180:
        raise ConfigError(f"shapenet: data.fov={fov!r} must be below 180 degrees")
    return ShapeNetDataset(
        root, settings, _whole(pairs_per_model, "pairs_per_model"), categories=categories,
        test_fraction=test_fraction, test_models=test_models,
        max_models=None if max_models is None else _whole(max_models, "max_models"),
        cache_dir=cache, ignored_options=others,
    )  # fmt: skip
