"""The ``propagation`` task's baselines (defined in :mod:`kpbench.tasks.propagation`'s docs):
the first frame held still, and two encoders that were never trained for correspondence run
through the one propagator with the task's settings (each input's ``protocol``)."""

from __future__ import annotations

import numpy as np

from kpbench.evaluation import EvalSet
from kpbench.weights import TORCHVISION_FILES, find_weights

#: The ImageNet ResNet-18 file the ``imagenet_encoder`` baseline looks for.
IMAGENET_FILE = TORCHVISION_FILES["resnet18"]
#: ``evalset.info`` keys :func:`imagenet_choice` fills at selection.
WEIGHTS_KEY, SKIPPED_KEY = "imagenet_weights", "imagenet_encoder_skipped"


def baseline_held_still(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """The first frame's keypoints in every frame (unlabelled ones at (0, 0))."""
    parts = [
        np.repeat(np.nan_to_num(x["first_keypoints"], nan=0.0)[None], x["num_frames"], 0)
        for x in evalset.inputs
    ]
    return {"keypoints": np.concatenate(parts).astype(np.float64)}


def imagenet_choice(explicit) -> dict:
    """Where the ImageNet weights are, for ``evalset.info``: ``{"imagenet_weights": path}``, or
    ``{"imagenet_encoder_skipped": reason}`` when no file is found.

    Args:
        explicit: the task option ``imagenet_weights`` (a path; None or ``"auto"`` = search
            ``$KPBENCH_WEIGHTS`` and the torch hub cache for ``resnet18-f37072fd.pth``).

    Raises:
        kpbench.errors.ConfigError: ``explicit`` names a file that does not exist.
    """
    path = find_weights(IMAGENET_FILE, explicit, key="task.imagenet_weights")
    if path is None:
        return {
            SKIPPED_KEY: f"no {IMAGENET_FILE} in $KPBENCH_WEIGHTS or the torch hub cache "
            "(give --set task.imagenet_weights=PATH); the imagenet_encoder baseline is not scored"
        }
    return {WEIGHTS_KEY: str(path)}


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _propagated(evalset: EvalSet, module) -> dict:
    from kpbench.propagation.encoders import ModuleEncoder
    from kpbench.propagation.propagator import propagate, settings_from

    device = _device()
    encoder = ModuleEncoder(module.to(device), stride=8)
    parts = [
        propagate(
            encoder,
            x["frames"],
            x["start"],
            x["num_frames"],
            x["first_keypoints"],
            x["first_visibility"],
            settings_from(x.get("protocol")),
            device=device,
        )
        for x in evalset.inputs
    ]
    return {"keypoints": np.concatenate(parts)}


def baseline_random_encoder(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """``resnet18_stride8`` at PyTorch's random initialisation (seeded by the run's seed)."""
    import torch

    from kpbench.propagation.encoders import resnet18_stride8

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = resnet18_stride8()
    return _propagated(evalset, module)


def baseline_imagenet_encoder(evalset: EvalSet, prediction: dict, seed: int) -> dict | None:
    """``resnet18_stride8`` with torchvision's ImageNet weights; None (not scored) when the
    selection found no weight file (``evalset.info`` says why)."""
    from kpbench.propagation.encoders import resnet18_stride8

    path = evalset.info.get(WEIGHTS_KEY)
    if path is None:
        return None
    return _propagated(evalset, resnet18_stride8(path))
