"""Rendered views on disk, rendered once: one ``.npz`` per (mesh content, render settings).

Key: sha256 over the mesh's files (the OBJ and every other file of its folder: MTL, textures)
and the render settings as canonical JSON (size, distance, field of view, object size, views,
seed, minimum elevation, the resolved up / forward axes, :data:`.render.RENDERER_VERSION`).
Files: ``<cache>/shapenet/<key[:2]>/<key>.npz`` holding ``rgb`` (V, H, W, 3) uint8, ``mask``
(V, H, W) bool, ``depth`` (V, H, W) float32, ``poses`` (V, 4, 4), ``intrinsics`` (3, 3),
``normalise`` (4, 4): the file → canonical transform. Written to a temporary file in the same
folder, then ``os.replace``d into place, so a reader never sees half a file. A build checks
each file's zip directory only (:func:`present`); one that is not a zip with every array is
rendered again (and overwritten).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

KEYS = ("rgb", "mask", "depth", "poses", "intrinsics", "normalise")


def default_dir() -> Path:
    """``$KPBENCH_CACHE``, else ``~/.cache/kpbench``."""
    base = os.environ.get("KPBENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "kpbench"
    )
    return Path(base)


def content_hash(mesh_path: Path) -> str:
    """sha256 of the files of the mesh's folder (names and bytes, sorted by name)."""
    h = hashlib.sha256()
    folder = Path(mesh_path).parent
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(folder)).encode("utf-8") + b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def cache_key(mesh_hash: str, settings: dict) -> str:
    text = json.dumps({"mesh": mesh_hash, **settings}, sort_keys=True, default=float)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_path(root: Path, key: str) -> Path:
    return Path(root) / "shapenet" / key[:2] / f"{key}.npz"


def load(path: Path) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file, or None when it is absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as npz:
            return {k: npz[k] for k in KEYS}
    except Exception:  # a damaged cache file is rendered again
        return None


def present(path: Path) -> bool:
    """Whether a cache file is there with every array (its zip directory only: cheap)."""
    if not path.is_file():
        return False
    try:
        with np.load(path) as npz:
            return set(KEYS) <= set(npz.files)
    except Exception:  # not a zip: damaged, rendered again
        return False


def save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically (temporary file + ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, **{k: arrays[k] for k in KEYS})
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
