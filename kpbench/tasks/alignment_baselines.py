"""The ``alignment`` task's baselines, ``raw`` and ``untrained`` (defined in
:mod:`kpbench.tasks.alignment`'s docs): embeddings made without training, scored by the same
evaluation as every method."""

from __future__ import annotations

import numpy as np

from kpbench.evaluation import EvalSet


def _pixels(frames: np.ndarray) -> np.ndarray:
    import cv2

    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    small = [cv2.resize(g, (8, 8), interpolation=cv2.INTER_AREA) for g in grey]
    return np.stack(small).reshape(len(frames), 64).astype(np.float64)


def _centred(keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints, np.float64)
    labelled = ~np.isnan(kp).any(-1, keepdims=True)
    mean = np.nansum(kp, axis=1, keepdims=True) / np.maximum(labelled.sum(1, keepdims=True), 1)
    return np.nan_to_num(kp - mean, nan=0.0).reshape(len(kp), -1)


def _modality(inputs, baseline: str) -> str:
    """``"frames"`` when every input has frames, else ``"keypoints"`` when every one has them.

    Raises:
        ValueError: some inputs have frames only and others keypoints only.
    """
    if all(x.get("frames") is not None for x in inputs):
        return "frames"
    if all(x.get("keypoints") is not None for x in inputs):
        return "keypoints"
    raise ValueError(
        f"baseline {baseline}: the inputs mix sequences with frames only and keypoints only; "
        "it needs frames in every input or keypoints in every input"
    )


def baseline_raw(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """Grey 8×8 pixels per frame when every input has frames, else centred keypoints.

    Raises:
        ValueError: some inputs have frames only and others keypoints only.
    """
    inputs = list(evalset.inputs)
    if _modality(inputs, "raw") == "frames":
        parts = [_pixels(x["frames"]) for x in inputs]
    else:
        parts = [_centred(x["keypoints"]) for x in inputs]
    return {"embeddings": np.concatenate(parts)}


#: Frames per forward pass of the ``untrained`` ResNet-18.
UNTRAINED_BATCH = 64


def baseline_untrained(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """A randomly initialised encoder (seeded): ResNet-18 features of the frames (D = 512), or
    a random MLP of the centred keypoints (D = 128); see the module docs.

    Raises:
        ValueError: some inputs have frames only and others keypoints only.
    """
    import torch
    from torch import nn

    inputs = list(evalset.inputs)
    modality = _modality(inputs, "untrained")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if modality == "frames":
            from torchvision.models import resnet18

            net = resnet18(weights=None)
            net.fc = nn.Identity()
        else:
            k2 = _centred(inputs[0]["keypoints"]).shape[1]
            net = nn.Sequential(nn.Linear(k2, 128), nn.ReLU(), nn.Linear(128, 128))
    net.eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    parts = []
    with torch.no_grad():
        for x in inputs:
            if modality == "keypoints":
                kp = torch.as_tensor(_centred(x["keypoints"]), dtype=torch.float32)
                parts.append(net(kp).double().numpy())
                continue
            frames = np.asarray(x["frames"])
            for lo in range(0, len(frames), UNTRAINED_BATCH):
                batch = torch.as_tensor(frames[lo : lo + UNTRAINED_BATCH]).permute(0, 3, 1, 2)
                batch = nn.functional.interpolate(
                    batch.float() / 255.0, size=(112, 112), mode="bilinear", antialias=True
                )
                parts.append(net((batch - mean) / std).double().numpy())
    return {"embeddings": np.concatenate(parts)}
