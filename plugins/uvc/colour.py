"""Colour for UVC: RGB → CIE Lab scaled as the reference reads it, and the grey input.

The reference loads frames with OpenCV's 8-bit Lab (L·255/100, a + 128, b + 128) and
normalises them to [-1, 1] by ``(x − 128) / 128``; its encoder sees the L channel alone,
mapped to [0, 1] and repeated over three channels, with ImageNet's normalisation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# sRGB (D65) → XYZ, and the D65 white point
_RGB2XYZ = ((0.412453, 0.357580, 0.180423), (0.212671, 0.715160, 0.072169),
            (0.019334, 0.119193, 0.950227))  # fmt: skip
_WHITE = (0.950456, 1.0, 1.088754)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``(..., 3, H, W)`` sRGB in [0, 1] → Lab in the reference's [-1, 1] scaling."""
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = torch.tensor(_RGB2XYZ, dtype=rgb.dtype, device=rgb.device)
    xyz = torch.einsum("ij,...jhw->...ihw", m, lin)
    xyz = xyz / torch.tensor(_WHITE, dtype=rgb.dtype, device=rgb.device)[:, None, None]
    eps = (6 / 29) ** 3
    f = torch.where(xyz > eps, xyz.clamp_min(eps) ** (1 / 3), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    fx, fy, fz = f.unbind(-3)
    lab = torch.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], -3)
    scaled = torch.stack([lab[..., 0, :, :] * 255 / 100, lab[..., 1, :, :] + 128,
                          lab[..., 2, :, :] + 128], -3)  # fmt: skip
    return (scaled - 128) / 128


def space_to_depth(x: torch.Tensor, stride: int) -> torch.Tensor:
    """``(B, C, H, W)`` → ``(B, C·s², H/s, W/s)``: each feature cell carries its s × s pixels."""
    return F.pixel_unshuffle(x, stride)


def depth_to_space(x: torch.Tensor, stride: int) -> torch.Tensor:
    return F.pixel_shuffle(x, stride)
