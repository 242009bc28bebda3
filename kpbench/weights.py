"""Find and load pretrained weight files (state dicts) without ever downloading.

Every method asks here for its pretrained files, so the search order is the same everywhere:

1. an explicit path from the config (it must exist);
2. ``$KPBENCH_WEIGHTS/<filename>``;
3. the torch hub cache, ``torch.hub.get_dir()/checkpoints/<filename>`` (where torchvision puts
   the files it downloads, so weights fetched once by any torchvision user are found);
4. nothing: the caller decides what to do without weights (and records it).

The config value ``"auto"`` (or ``None``) means "search, starting at step 2".
"""

from __future__ import annotations

import os
from pathlib import Path

from kpbench.errors import ConfigError

#: Environment variable naming a folder of pretrained weight files.
ENV_VAR = "KPBENCH_WEIGHTS"

#: File names torchvision 0.29 gives its ImageNet weights (IMAGENET1K_V1) in the hub cache.
TORCHVISION_FILES: dict[str, str] = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-0676ba61.pth",
    "vgg19": "vgg19-dcbb9e9d.pth",
}


def _hub_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir())


def find_weights(
    filename: str, explicit: str | Path | None = None, *, key: str = "weights"
) -> Path | None:
    """Locate a weight file; never downloads.

    Args:
        filename: file name to look for in ``$KPBENCH_WEIGHTS`` and the torch hub cache,
            e.g. ``"resnet50-0676ba61.pth"``.
        explicit: a path from the config; ``None`` or ``"auto"`` means search.
        key: the config key ``explicit`` came from, named in the error message.

    Returns:
        The path of an existing file, or ``None`` when no file was found.

    Raises:
        ConfigError: ``explicit`` names a file that does not exist.
    """
    if explicit is not None and str(explicit) != "auto":
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"{key}: weight file {str(path)!r} does not exist; "
                f"give an existing file, or 'auto' to search ${ENV_VAR} and the torch hub cache"
            )
        return path
    folder = os.environ.get(ENV_VAR)
    candidates = [Path(folder).expanduser() / filename] if folder else []
    candidates.append(_hub_dir() / "checkpoints" / filename)
    return next((p for p in candidates if p.is_file()), None)


def load_state_dict(path: str | Path) -> dict:
    """Load a state dict onto the CPU with ``torch.load(..., weights_only=True)``.

    A checkpoint that wraps its state dict under ``"state_dict"`` or ``"model"`` is unwrapped.

    Args:
        path: a ``.pth``/``.pt`` file.

    Returns:
        Mapping of parameter names to CPU tensors.

    Raises:
        ConfigError: the file cannot be read, or does not hold a state dict.
    """
    import torch

    path = Path(path)
    state = load_torch_file(
        path, "weight file", "replace it with a file saved by torch.save(model.state_dict())"
    )
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict):
                state = state[wrapper]
                break
    if (
        not isinstance(state, dict)
        or not state
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items())
    ):
        raise ConfigError(
            f"weight file {str(path)!r} does not hold a state dict (name -> tensor); "
            f"save one with torch.save(model.state_dict(), path)"
        )
    return state


def load_torch_file(path: Path, what: str, fix: str):
    """``torch.load(path, map_location="cpu", weights_only=True)``; any failure is one
    :class:`ConfigError` line naming ``what`` and ``path``: a refused global (a file that pickles
    code) is named as such, a damaged or foreign file is "could not be read", each with ``fix``."""
    import pickle
    import re

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"(?i)unsupported(?: global:)? GLOBAL ([\w.]+)", str(exc))
        if not found:  # a damaged or foreign file, not a refused global
            raise ConfigError(_unreadable(what, path, exc, fix)) from None
        raise ConfigError(
            f"{what} {str(path)!r} refused: it pickles Python objects beyond tensors "
            f"({found.group(1)}), which torch.load(weights_only=True) does not run; use a file "
            "saved by torch.save of tensors and plain values, from a source you trust"
        ) from None
    except Exception as exc:  # truncated file, not a torch file at all
        raise ConfigError(_unreadable(what, path, exc, fix)) from None


def _unreadable(what: str, path: Path, exc: Exception, fix: str) -> str:
    return f"{what} {str(path)!r} could not be read by torch.load ({type(exc).__name__}); {fix}"
