"""CRW's training views (reference ``utils/augs.py``, ``--frame-transforms crop --frame-aug
grid``): one random resized crop of the whole clip, then each frame cut into a grid of
overlapping patches, each patch jittered by its own random resized crop.

Crops are resampled bilinearly with :func:`torchvision.ops.roi_align` (batched, no loops over
patches).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torchvision.ops import roi_align


def random_boxes(rng: np.random.Generator, n: int, width: float, height: float,
                 scale: tuple[float, float], ratio: tuple[float, float]) -> np.ndarray:  # fmt: skip
    """``n`` boxes ``(x0, y0, x1, y1)`` as ``RandomResizedCrop`` draws them: area a fraction
    ``scale`` of the image, aspect ratio log-uniform in ``ratio``, placed uniformly."""
    area = rng.uniform(*scale, n) * width * height
    aspect = np.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1]), n))
    w = np.minimum(np.sqrt(area * aspect), width)
    h = np.minimum(np.sqrt(area / aspect), height)
    x0, y0 = rng.uniform(0, 1, n) * (width - w), rng.uniform(0, 1, n) * (height - h)
    return np.stack([x0, y0, x0 + w, y0 + h], 1)


def crop(images: torch.Tensor, boxes: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """``images (N, C, H, W)``, one box per image → ``(N, C, size, size)``."""
    boxes = torch.as_tensor(boxes, dtype=images.dtype, device=images.device)
    rois = torch.cat([torch.arange(len(images), device=images.device, dtype=images.dtype)[:, None],
                      boxes], 1)  # fmt: skip
    return roi_align(images, rois, (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)


def grid_boxes(size: int, patch: int, stride: int) -> np.ndarray:
    """The grid's patch boxes over a ``size × size`` frame, row-major: ``(N, 4)``."""
    starts = np.arange(0, size - patch + 1, stride, dtype=np.float64)
    y, x = np.meshgrid(starts, starts, indexing="ij")
    x, y = x.ravel(), y.ravel()
    return np.stack([x, y, x + patch, y + patch], 1)


def patch_grid(clips: torch.Tensor, rng: np.random.Generator, size: int, patch: int,
               stride: float, augment: bool = True) -> torch.Tensor:  # fmt: skip
    """``clips (B, T, 3, H, W)`` → patches ``(B, T, N, 3, patch, patch)``.

    With ``augment``: the clip cropped at scale (0.8, 0.95), ratio (0.7, 1.3), resized to
    ``size``; patches ``patch`` px every ``stride × patch`` px, each re-cropped at scale
    (0.7, 0.9) of itself (the reference's spatial jitter). Without: the clip resized, the
    grid as it is.
    """
    b, t, c, h, w = clips.shape
    frames = clips.flatten(0, 1)
    if augment:
        box = random_boxes(rng, b, w, h, (0.8, 0.95), (0.7, 1.3))
    else:
        box = np.array([[0.0, 0.0, w, h]] * b)
    frames = crop(frames, np.repeat(box, t, 0), size)
    grid = grid_boxes(size, patch, max(1, int(round(patch * stride))))
    n = len(grid)
    boxes = np.tile(grid, (b * t, 1))
    if augment:
        jitter = random_boxes(rng, len(boxes), patch, patch, (0.7, 0.9), (3 / 4, 4 / 3))
        boxes = np.concatenate([boxes[:, :2] + jitter[:, :2], boxes[:, :2] + jitter[:, 2:]], 1)
    patches = crop(frames.repeat_interleave(n, 0), boxes, patch)
    return patches.view(b, t, n, c, patch, patch)
