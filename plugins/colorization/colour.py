"""Colour for the colorization family: CIE Lab from RGB, and k-means colour clusters in ab.

The three trackers learn by copying colour from reference frames. They work in CIE Lab
(D65 white, sRGB companding): L in [0, 100] is the lightness the networks may see, a and b
(about [-128, 127]) the colour they must copy. Conversions run on torch tensors so the
encoders can apply them to the propagator's RGB frames on any device.
"""

from __future__ import annotations

import numpy as np
import torch

#: sRGB (linear) → XYZ, D65 white (IEC 61966-2-1).
_RGB_TO_XYZ = ((0.412453, 0.357580, 0.180423),
               (0.212671, 0.715160, 0.072169),
               (0.019334, 0.119193, 0.950227))  # fmt: skip
_WHITE = (0.950456, 1.0, 1.088754)  # D65 XYZ


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``(..., 3, H, W)`` RGB in [0, 1] → Lab: L in [0, 100], a and b in about [-128, 127]."""
    rgb = rgb.clamp(0, 1)
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("ij,...jhw->...ihw", m, linear) / white[:, None, None]
    eps = 216 / 24389
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), (24389 / 27 * xyz + 16) / 116)
    fx, fy, fz = f.unbind(-3)
    return torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], -3)


def normalised_lab(rgb: torch.Tensor) -> torch.Tensor:
    """Lab scaled to about [-1, 1]: ``((L − 50) / 50, a / 127, b / 127)`` (MAST's loader)."""
    lab = rgb_to_lab(rgb)
    scale = torch.tensor((50.0, 127.0, 127.0), dtype=lab.dtype, device=lab.device)
    shift = torch.tensor((50.0, 0.0, 0.0), dtype=lab.dtype, device=lab.device)
    return (lab - shift[:, None, None]) / scale[:, None, None]


def fit_clusters(ab: np.ndarray, k: int, seed: int, max_points: int = 100_000) -> np.ndarray:
    """``k`` k-means centres ``(k, 2)`` of ab colours ``(N, 2)`` (a seeded sklearn fit on at
    most ``max_points`` of them, drawn at random), sorted by a then b."""
    from sklearn.cluster import KMeans

    ab = np.asarray(ab, np.float64).reshape(-1, 2)
    if len(ab) > max_points:
        ab = ab[np.random.default_rng(seed).choice(len(ab), max_points, replace=False)]
    unique = len(np.unique(np.round(ab, 3), axis=0))
    if unique < k:  # KMeans needs k distinct points: nudge duplicates apart by a hair
        ab = ab + np.random.default_rng(seed).normal(0, 1e-3, ab.shape)
    centres = KMeans(k, n_init=3, random_state=seed).fit(ab).cluster_centers_
    return centres[np.lexsort((centres[:, 1], centres[:, 0]))].astype(np.float32)


def quantise(ab: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """The nearest centre's index ``(..., H, W)`` of ab colours ``(..., 2, H, W)``."""
    d = (ab.unsqueeze(-4) - centres.to(ab)[:, :, None, None]).pow(2).sum(-3)  # (..., k, H, W)
    return d.argmin(-3)
