"""HRNet's heatmap targets, loss and decoding, as in the reference code.

Reference: leoxiaobin/deep-high-resolution-net.pytorch ``lib/dataset/JointsDataset.py``
(``generate_target``), ``lib/core/loss.py`` (``JointsMSELoss``) and ``lib/core/inference.py``
(``get_max_preds``, ``get_final_preds``). Coordinates are heatmap pixels (x right, y down, pixel
centres at integers); the input crop is ``stride`` (4) times larger.
"""

from __future__ import annotations

import numpy as np
import torch


def gaussian_targets(
    keypoints: np.ndarray, weights: np.ndarray, heatmap_size: tuple[int, int], sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Unnormalised Gaussian heatmaps (peak 1) at the keypoints, and their target weights.

    Like the reference, a centre is quantised to the nearest heatmap pixel
    (``int(x + 0.5)``) and the Gaussian is cut to a ``(6σ+1)²`` window around it; a keypoint
    whose window lies wholly outside the map gets weight 0 (and an all-zero map).

    Args:
        keypoints: ``(K, 2)`` heatmap px ``(x, y)``; NaN where not labelled.
        weights: ``(K,)`` 1 for a labelled keypoint, 0 otherwise.
        heatmap_size: ``(W, H)``.
        sigma: the Gaussian's standard deviation in heatmap px (2 at 48×64, 3 at 72×96).

    Returns:
        ``(K, H, W)`` float32 targets and ``(K,)`` float32 weights.
    """
    w, h = heatmap_size
    k = len(keypoints)
    target = np.zeros((k, h, w), np.float32)
    weight = np.asarray(weights, np.float32).copy()
    radius = int(sigma * 3)
    xs, ys = np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)
    for j in range(k):
        if weight[j] <= 0 or not np.isfinite(keypoints[j]).all():
            weight[j] = 0.0
            continue
        mx, my = int(keypoints[j, 0] + 0.5), int(keypoints[j, 1] + 0.5)
        if mx - radius >= w or my - radius >= h or mx + radius + 1 < 0 or my + radius + 1 < 0:
            weight[j] = 0.0
            continue
        gx = np.where(np.abs(xs - mx) <= radius, np.exp(-((xs - mx) ** 2) / (2 * sigma**2)), 0)
        gy = np.where(np.abs(ys - my) <= radius, np.exp(-((ys - my) ** 2) / (2 * sigma**2)), 0)
        target[j] = gy[:, None] * gx[None, :]
    return target, weight


def joints_mse_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``JointsMSELoss`` with target weights: ``(1/K) Σ_k 0.5 · mean_{b, px}((w·Ĥ − w·H)²)``.

    Args:
        pred, target: ``(B, K, H, W)`` heatmaps.
        weight: ``(B, K)`` target weights (0 for unlabelled keypoints).
    """
    w = weight[:, :, None, None].to(pred.dtype)
    per_keypoint = 0.5 * ((pred * w - target * w) ** 2).mean(dim=(0, 2, 3))
    return per_keypoint.mean()


def decode(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints from heatmaps: argmax, then a quarter-pixel shift toward the higher neighbour.

    A map whose maximum is not positive gives ``(0, 0)`` (as the reference); the shift
    ``0.25 · sign(H[x+1] − H[x−1])`` (and likewise in y) applies when ``1 < x < W−1`` and
    ``1 < y < H−1``, exactly the reference's condition.

    Args:
        heatmaps: ``(N, K, H, W)``.

    Returns:
        ``(N, K, 2)`` float64 heatmap px ``(x, y)`` and ``(N, K)`` maxima (the keypoint scores).
    """
    hm = np.asarray(heatmaps, np.float64)
    n, k, h, w = hm.shape
    flat = hm.reshape(n, k, -1)
    idx = flat.argmax(-1)
    maxvals = np.take_along_axis(flat, idx[..., None], -1)[..., 0]
    coords = np.stack([idx % w, idx // w], -1).astype(np.float64)
    coords *= (maxvals > 0)[..., None]
    px = np.floor(coords[..., 0] + 0.5).astype(int)
    py = np.floor(coords[..., 1] + 0.5).astype(int)
    inside = (px > 1) & (px < w - 1) & (py > 1) & (py < h - 1)
    b, j = np.nonzero(inside)
    x, y = px[b, j], py[b, j]
    dx = hm[b, j, y, x + 1] - hm[b, j, y, x - 1]
    dy = hm[b, j, y + 1, x] - hm[b, j, y - 1, x]
    coords[b, j, 0] += 0.25 * np.sign(dx)
    coords[b, j, 1] += 0.25 * np.sign(dy)
    return coords, maxvals


def flip_back(heatmaps: torch.Tensor, pairs: list[tuple[int, int]], shift: bool = True):
    """Heatmaps of a horizontally flipped input, brought back to the unflipped frame.

    Flips along the width, swaps left/right channels, and (``shift``) moves the maps one pixel
    right as the reference's ``SHIFT_HEATMAP`` does (on COCO val it lifts AP from 72.0 to 74.0,
    issue #22 of the reference repo).
    """
    out = heatmaps.flip(-1)
    if pairs:
        order = list(range(out.shape[1]))
        for a, b in pairs:
            order[a], order[b] = b, a
        out = out[:, order]
    if shift:
        out = torch.cat([out[..., :1], out[..., :-1]], dim=-1)
    return out
