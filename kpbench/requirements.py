"""What a method says it needs from the machine (``MethodSpec.requires``), checked before a run.

Keys (all optional):

* ``gpu`` (bool): the method runs only on a CUDA device;
* ``min_memory_gib`` (number): host memory (total RAM) it needs, GiB;
* ``min_gpu_memory_gib`` (number): memory of the CUDA device it runs on, GiB (checked only on
  CUDA).

A run on a machine without them is refused before any data is read or training starts, with
one line naming the method, the need and what this machine has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kpbench.errors import IncompatibleError

KEYS = ("gpu", "min_memory_gib", "min_gpu_memory_gib")


def check_keys(name: str, requires: Mapping[str, Any]) -> None:
    """Refuse unknown or mistyped keys of ``MethodSpec.requires`` (a plugin error, at load)."""
    unknown = sorted(set(requires) - set(KEYS))
    if unknown:
        raise ValueError(
            f"method {name}: unknown requires keys {unknown}; known: {', '.join(KEYS)}"
        )
    if "gpu" in requires and not isinstance(requires["gpu"], bool):
        raise ValueError(f"method {name}: requires['gpu'] must be True or False")
    for key in KEYS[1:]:
        value = requires.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"method {name}: requires[{key!r}] must be a number of GiB")


def machine(device) -> dict:
    """What this machine offers: ``{"cuda": bool, "memory_gib": float, "gpu_memory_gib": float|None}``."""
    import psutil
    import torch

    cuda = getattr(device, "type", str(device)) == "cuda"
    gpu = None
    if cuda:
        index = device.index if device.index is not None else torch.cuda.current_device()
        gpu = torch.cuda.get_device_properties(index).total_memory / 2**30
    return {
        "cuda": cuda,
        "memory_gib": psutil.virtual_memory().total / 2**30,
        "gpu_memory_gib": gpu,
    }


def check(name: str, requires: Mapping[str, Any], device, have: dict | None = None) -> None:
    """Raise :class:`IncompatibleError` when the machine lacks what ``requires`` asks for.

    Args:
        name: the method.
        requires: its ``MethodSpec.requires``.
        device: the run's ``torch.device``.
        have: what the machine offers (default: :func:`machine`; tests pass their own).
    """
    if not requires:
        return
    have = machine(device) if have is None else have
    if requires.get("gpu") and not have["cuda"]:
        raise IncompatibleError(
            f"method {name} needs a CUDA GPU (requires gpu) and this run is on {device}; "
            "run it on a machine with one (--device cuda)"
        )
    need = requires.get("min_memory_gib")
    if need is not None and have["memory_gib"] < need:
        raise IncompatibleError(
            f"method {name} needs {need:g} GiB of memory (requires min_memory_gib); this machine "
            f"has {have['memory_gib']:.1f} GiB; run it on a larger machine"
        )
    need = requires.get("min_gpu_memory_gib")
    if need is not None and have["cuda"] and (have["gpu_memory_gib"] or 0) < need:
        raise IncompatibleError(
            f"method {name} needs {need:g} GiB of GPU memory (requires min_gpu_memory_gib); "
            f"{device} has {have['gpu_memory_gib']:.1f} GiB; use a larger GPU or a smaller preset"
        )
