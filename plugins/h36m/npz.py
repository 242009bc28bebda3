"""Read a VideoPose3D npz without running arbitrary pickles.

VideoPose3D writes its dicts (``positions_3d``, ``positions_2d``, ``metadata``) as 0-d object
arrays, which ``np.load`` can only read with ``allow_pickle=True``: a crafted file would then
run any code it names. Here an object array is unpickled by a :class:`pickle.Unpickler` that
resolves only what numpy arrays, dicts, lists and numbers need; any other global (``os.system``,
``builtins.eval``, ...) is refused with :class:`pickle.UnpicklingError`. Plain arrays are read
with ``allow_pickle=False``, after checking that their declared size fits the file.
:func:`load_dict` reads one of VideoPose3D's dicts with one-line errors.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

from kpbench.errors import DataError

from .plugin import DATA_HINT

#: The globals a pickled numpy array needs (numpy 1.x ``numpy.core``, 2.x ``numpy._core``).
ALLOWED = {
    (core, name)
    for core in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
} | {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in ALLOWED or (module == "numpy" and name.endswith("DType")):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refused to load global {module}.{name}: only numpy arrays, dicts, lists, text and "
            "numbers are read from this file"
        )


def _read(fp, key: str, size: int) -> np.ndarray | None:
    """The object array in ``fp`` (unpickled safely); None for a plain array, which is
    checked to fit in the ``size`` bytes the zip member holds (no huge allocation)."""
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    if not dtype.hasobject:
        need = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if need > size:
            raise ValueError(f"'{key}' declares shape {shape} ({need} bytes) in {size} bytes")
        return None
    return np.asarray(_ArraysOnly(fp).load())


def load(path: Path | str, keys: list[str]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the npz at ``path`` that it holds (others are left out).

    Raises:
        pickle.UnpicklingError: an object array names a global outside :data:`ALLOWED`.
        zipfile.BadZipFile, ValueError, OSError, EOFError: the file is damaged.
    """
    out = {}
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        for key in keys:
            if f"{key}.npy" not in names:
                continue
            with z.open(f"{key}.npy") as fp:
                arr = _read(fp, key, z.getinfo(f"{key}.npy").file_size)
            if arr is None:
                with z.open(f"{key}.npy") as fp:
                    arr = np.lib.format.read_array(fp, allow_pickle=False)
            out[key] = arr
    return out


def files(path: Path | str) -> list[str]:
    """The array names in the npz at ``path``."""
    with zipfile.ZipFile(path) as z:
        return [n[: -len(".npy")] for n in z.namelist() if n.endswith(".npy")]


def load_dict(path: Path, key: str) -> tuple[dict, dict | None]:
    """``(npz[key], npz['metadata'] or None)`` of a VideoPose3D npz; DataError when unreadable."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"PK\x03\x04":  # an npz is a zip; never unpickle anything else
            raise DataError(
                f"h36m: {path} is not an npz (zip) file: damaged or something else; write it again"
            )
    try:
        arrays = load(path, [key, "metadata"])
        if key not in arrays:
            names = files(path)
            raise DataError(
                f"h36m: {path} has no '{key}' array (it has {', '.join(names) or 'none'}); "
                f"it is not a VideoPose3D file, {DATA_HINT}"
            )
        data, meta = (_item(arrays.get(k)) for k in (key, "metadata"))
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"h36m: cannot read {path} ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}); "
            "the file is damaged, write it again"
        ) from None
    if (
        not isinstance(data, dict)
        or not all(isinstance(k, str) and isinstance(v, dict) for k, v in data.items())
        or not all(isinstance(a, str) for v in data.values() for a in v)
    ):
        raise DataError(
            f"h36m: {path}: '{key}' is not a dict {{subject: {{action: ...}}}} with text keys as "
            "VideoPose3D writes it; write it again"
        )
    return data, meta if isinstance(meta, dict) else None


def _item(arr):
    """The object a 0-d object array holds (VideoPose3D's dicts), else None."""
    return arr.item() if arr is not None and arr.dtype == object and arr.shape == () else None
