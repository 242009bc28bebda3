"""Read a VideoPose3D npz without running arbitrary pickles.

VideoPose3D writes its dicts (``positions_3d``, ``positions_2d``, ``metadata``) as 0-d object
arrays, which ``np.load`` can only read with ``allow_pickle=True``: a crafted file would then
run any code it names. Here an object array is unpickled by a :class:`pickle.Unpickler` that
resolves only what numpy arrays, dicts, lists and numbers need; any other global (``os.system``,
``builtins.eval``, ...) is refused with :class:`pickle.UnpicklingError`. Plain arrays are read
with ``allow_pickle=False``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import numpy as np

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


def _read(fp) -> np.ndarray:
    version = np.lib.format.read_magic(fp)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fp)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fp)
    if not dtype.hasobject:
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
                arr = _read(fp)
            if arr is None:
                with z.open(f"{key}.npy") as fp:
                    arr = np.lib.format.read_array(fp, allow_pickle=False)
            out[key] = arr
    return out


def files(path: Path | str) -> list[str]:
    """The array names in the npz at ``path``."""
    with zipfile.ZipFile(path) as z:
        return [n[: -len(".npy")] for n in z.namelist() if n.endswith(".npy")]
