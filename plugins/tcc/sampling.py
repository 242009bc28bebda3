"""What TCC's training batches are made of: frame choice, context frames, inputs, augmentation.

* ``offset_uniform`` (the reference's sampling): ``num_frames`` distinct random frames at or
  after ``offset`` (1), sorted; a sequence too short for that gives its first frames (the
  last frame repeated).
* Context: each chosen frame ``t`` is embedded with the frames ``t − (k−1)·stride, …, t``
  (k = 2, stride 15: the frame and the one 15 frames earlier), past only, clamped at 0.
* Pixels: resized once to ``image_size`` × ``image_size`` (kept as uint8), scaled to [−1, 1]
  per batch. Augmentation, the same for every frame of one video: horizontal flip (p = 0.5),
  brightness + δ with δ ~ U(−32/255, 32/255) (additive, as TF's ``adjust_brightness``),
  contrast × U(0.5, 1.5) (torchvision v2), clipped to [0, 1].
* Keypoints: per frame, centred on the mean of its labelled joints and divided by one scale
  (the median per-frame RMS spread of the training frames); missing joints are 0 with a
  visibility flag of 0. Augmentation: one random scale in [0.8, 1.2] per video.
"""

from __future__ import annotations

import numpy as np
import torch

BRIGHTNESS_DELTA = 32.0 / 255.0
CONTRAST_RANGE = (0.5, 1.5)
KEYPOINT_SCALE_RANGE = (0.8, 1.2)


def offset_uniform(rng: np.random.Generator, length: int, num_frames: int, offset: int = 1):
    """``num_frames`` sorted frame indices of a sequence of ``length`` frames."""
    if length - offset >= num_frames:
        return np.sort(rng.choice(np.arange(offset, length), num_frames, replace=False))
    return np.minimum(np.arange(num_frames), length - 1)


def context_steps(steps: np.ndarray, k: int, stride: int) -> np.ndarray:
    """``(...,)`` frame indices → ``(..., k)``: each frame's context frames, oldest first."""
    back = (np.arange(k)[::-1] * stride).astype(np.int64)
    return np.maximum(np.asarray(steps, np.int64)[..., None] - back, 0)


# -- pixels ---------------------------------------------------------------------------------------
def resize_frames(frames: np.ndarray, size: int, chunk: int = 64) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 → ``(T, 3, size, size)`` uint8 (bilinear, antialiased)."""
    out = []
    for start in range(0, len(frames), chunk):
        x = torch.from_numpy(np.ascontiguousarray(frames[start : start + chunk]))
        x = x.permute(0, 3, 1, 2).float()
        if x.shape[-2:] != (size, size):
            x = torch.nn.functional.interpolate(
                x, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        out.append(x.round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out) if out else torch.zeros(0, 3, size, size, dtype=torch.uint8)


def to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 → float in [0, 1]."""
    return frames.float().div(255.0)


def to_input(unit: torch.Tensor) -> torch.Tensor:
    """[0, 1] → [−1, 1], the network's input range."""
    return unit * 2.0 - 1.0


def augment_frames(
    video: torch.Tensor, rng: np.random.Generator, flip: bool = True
) -> torch.Tensor:
    """One video's frames ``(n, 3, S, S)`` in [0, 1], all with the same random flip (when
    ``flip``), brightness and contrast."""
    from torchvision.transforms.v2 import functional as TF

    if rng.random() < 0.5 and flip:
        video = TF.horizontal_flip(video)
    video = (video + rng.uniform(-BRIGHTNESS_DELTA, BRIGHTNESS_DELTA)).clamp(0.0, 1.0)
    return TF.adjust_contrast(video, float(rng.uniform(*CONTRAST_RANGE))).clamp(0.0, 1.0)


# -- keypoints ------------------------------------------------------------------------------------
def flat_joints(keypoints: np.ndarray) -> np.ndarray:
    """``(T, ..., 2)`` (``(T, K, 2)`` or ``(T, A, K, 2)``) → ``(T, J, 2)`` float64."""
    kp = np.asarray(keypoints, np.float64)
    return kp.reshape(len(kp), -1, 2)


def _centred(kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    visible = np.isfinite(kp).all(-1)  # (T, J)
    count = np.maximum(visible.sum(1, keepdims=True), 1)
    centre = np.where(visible[..., None], kp, 0.0).sum(1, keepdims=True) / count[..., None]
    return np.where(visible[..., None], kp - centre, 0.0), visible


def keypoint_scale(sequences: list[np.ndarray]) -> float:
    """The median per-frame RMS distance of the labelled joints to their mean (px); 1 if none."""
    spreads = []
    for kp in sequences:
        rel, visible = _centred(flat_joints(kp))
        n = visible.sum(1)
        rms = np.sqrt((rel**2).sum((1, 2)) / np.maximum(n, 1))
        spreads.append(rms[n > 1])
    every = np.concatenate(spreads) if spreads else np.zeros(0)
    every = every[every > 0]
    return float(np.median(every)) if len(every) else 1.0


def keypoint_features(keypoints: np.ndarray, scale: float) -> torch.Tensor:
    """``(T, ..., 2)`` px → ``(T, 3J)`` float32: centred x, y divided by ``scale``, visibility."""
    rel, visible = _centred(flat_joints(keypoints))
    feats = np.concatenate([rel / scale, visible[..., None].astype(np.float64)], -1)
    return torch.from_numpy(feats.reshape(len(feats), -1).astype(np.float32))


def augment_keypoints(video: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """One video's ``(n, 3J)`` features with one random scale on the coordinates."""
    x = video.unflatten(-1, (-1, 3)).clone()
    x[..., :2] *= float(rng.uniform(*KEYPOINT_SCALE_RANGE))
    return x.flatten(-2)
