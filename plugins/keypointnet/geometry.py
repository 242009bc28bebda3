"""KeypointNet's geometry in OpenCV's camera convention, and a differentiable Procrustes.

**Conventions (converted once, here).** The reference (tensorflow/models
``research/keypointnet/main.py``) works in OpenGL: the camera looks down −z (depths ≈ −30),
NDC has y up, ``(u, v) = −f·(x, y) / z`` and model-view matrices are row-vector. kpbench's
``multiview3d`` task is OpenCV: x right, y down, z forward (depth > 0), column vectors, pixel
centres at integer coordinates, per-pair intrinsics ``K`` in px. Here:

* **NDC** is the network's image frame, ``[−1, 1]²`` over the (resized) image, x right and
  **y down**, pixel centres at ``(j + ½)/(S/2) − 1``. It maps to the original ``W × H`` view's
  pixels by ``u = (x + 1)·W/2 − ½`` whatever size the network sees, so the intrinsics of the
  original view serve the resized one too.
* A camera is 4 numbers per view, ``(a_x, b_x, a_y, b_y)``: ``x_ndc = a_x·X/Z + b_x`` with
  ``a_x = 2 f_x / W`` and ``b_x = 2 (c_x + ½)/W − 1`` (y likewise; skew ignored). This is the
  reference's ``u = −f·x/z`` once its −z is our +z and its y-up our y-down.
* **Depth** is positive: ``Z = depth_bias + Σ p·z_map`` with ``depth_bias`` = +30 (the
  reference adds −30).

**Procrustes.** :func:`procrustes` is the reference's ``estimate_rotation`` in column-vector
form (``b ≈ R a``): weighted centring, ``H = Σ w a bᵀ = U S Vᵀ``, ``R = V diag(1, 1, d) Uᵀ``
with ``d = det(V Uᵀ)`` (held constant: it is ±1). The SVD's gradient has ``1/(s_j² − s_i²)``
terms that are infinite for equal singular values (all keypoints at one point, or collinear
ones, as at the start of training); :class:`SafeSVD` replaces them by
``Δ/(Δ² + ε²)``, ``Δ = s_j² − s_i²``, with ``ε`` = :data:`SVD_EPS` · s_max² (+ 1e−30), which is
exact up to ``O(ε²/Δ²)`` where the gap is real and 0 where it is not.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Relative regulariser of the SVD gradient's 1/(s_j² − s_i²) terms.
SVD_EPS = 1e-6


def camera_ndc(intrinsics: np.ndarray, size) -> np.ndarray:
    """``(a_x, b_x, a_y, b_y)`` of a pinhole ``K`` (3, 3) px for a ``(W, H)`` view (see above)."""
    k = np.asarray(intrinsics, np.float64)
    w, h = float(size[0]), float(size[1])
    return np.array([2 * k[0, 0] / w, 2 * (k[0, 2] + 0.5) / w - 1, 2 * k[1, 1] / h,
                     2 * (k[1, 2] + 0.5) / h - 1])  # fmt: skip


def unproject(uv: torch.Tensor, z: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
    """NDC ``uv`` (..., K, 2) at depths ``z`` (..., K) → camera-frame points (..., K, 3)."""
    cam = cam.unsqueeze(-2)  # (..., 1, 4)
    x = (uv[..., 0] - cam[..., 1]) / cam[..., 0] * z
    y = (uv[..., 1] - cam[..., 3]) / cam[..., 2] * z
    return torch.stack([x, y, z], -1)


def project(xyz: torch.Tensor, cam: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Camera-frame points (..., K, 3) → NDC (..., K, 2)."""
    cam = cam.unsqueeze(-2)
    z = xyz[..., 2] + eps
    return torch.stack([cam[..., 0] * xyz[..., 0] / z + cam[..., 1],
                        cam[..., 2] * xyz[..., 1] / z + cam[..., 3]], -1)  # fmt: skip


def transform(matrix: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
    """(B, 4, 4) rigid transforms applied to (B, K, 3) points (column vectors)."""
    return xyz @ matrix[:, :3, :3].transpose(1, 2) + matrix[:, None, :3, 3]


class SafeSVD(torch.autograd.Function):
    """``U, S, V`` of (B, 3, 3) matrices (``A = U diag(S) Vᵀ``), with a bounded gradient."""

    @staticmethod
    def forward(ctx, a: torch.Tensor):
        u, s, vh = torch.linalg.svd(a.double())
        v = vh.transpose(-1, -2)
        ctx.save_for_backward(u, s, v)
        ctx.dtype = a.dtype
        return u.to(a.dtype), s.to(a.dtype), v.to(a.dtype)

    @staticmethod
    def backward(ctx, gu, gs, gv):
        u, s, v = ctx.saved_tensors
        gu = torch.zeros_like(u) if gu is None else gu.double()
        gs = torch.zeros_like(s) if gs is None else gs.double()
        gv = torch.zeros_like(v) if gv is None else gv.double()
        s2 = s * s
        delta = s2.unsqueeze(-2) - s2.unsqueeze(-1)  # Δ_ij = s_j² − s_i²
        eps = SVD_EPS * s2.amax(-1, keepdim=True).unsqueeze(-1) + 1e-30
        f = delta / (delta * delta + eps * eps)  # 0 on the diagonal (Δ = 0)
        ut_gu, vt_gv = u.transpose(-1, -2) @ gu, v.transpose(-1, -2) @ gv
        j = f * (ut_gu - ut_gu.transpose(-1, -2))
        k = f * (vt_gv - vt_gv.transpose(-1, -2))
        sm = torch.diag_embed(s)
        inner = j @ sm + torch.diag_embed(gs) + sm @ k
        return (u @ inner @ v.transpose(-1, -2)).to(ctx.dtype)


def procrustes(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor | None = None):
    """The proper rotation ``R`` (B, 3, 3) with ``b ≈ R a + t`` for (B, K, 3) point sets.

    ``weights`` (B, K) summing to 1 per row (default uniform, as the reference's ``1/K``).
    """
    if weights is None:
        weights = torch.full(a.shape[:2], 1.0 / a.shape[1], dtype=a.dtype, device=a.device)
    w = weights.unsqueeze(-1)
    x = a - (a * w).sum(1, keepdim=True)
    y = b - (b * w).sum(1, keepdim=True)
    h = (x * w).transpose(1, 2) @ y
    u, _, v = SafeSVD.apply(h)
    with torch.no_grad():
        d = torch.linalg.det(v @ u.transpose(1, 2)).sign()
        d = torch.where(d == 0, torch.ones_like(d), d)
    fix = torch.ones(len(a), 3, dtype=a.dtype, device=a.device)
    fix = torch.cat([fix[:, :2], d[:, None]], 1)
    return (v * fix.unsqueeze(1)) @ u.transpose(1, 2)


def angular_distance(r_hat: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """``2·asin(min(1, ‖R̂ − R‖_F / 2√2))`` (B,) in radians, with finite gradients: the norm is
    ``√(x + 1e−12)`` and the asin argument is clamped below 1."""
    frob = torch.sqrt(((r_hat - r) ** 2).sum((1, 2)) + 1e-12)
    return 2.0 * torch.asin(torch.clamp(frob / (2 * math.sqrt(2.0)), max=1.0 - 1e-6))
