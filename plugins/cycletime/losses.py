"""CycleTime's objective (Wang, Jabri & Efros, CVPR 2019; reference ``model_simple.py``
``CycleTime.forward``/``loss``, ``geotnf/loss.py``).

A patch of the target frame (its features ``x^p``, its true placement ``θ*``) is tracked
backward through the clip's frames and forward again to the target, each step by the
differentiable tracker ``T``: ``locate(query, frame) → θ``, then the frame's features sampled
under ``θ`` become the next query.

* long cycles, for i = 1 .. T: back through the last i frames, forward through the i-1 later
  ones, then onto the target: ``L_long^i = l_θ(θ*, θ_i)``;
* skip cycles: straight to frame t−i and straight back: ``L_skip^i = l_θ(θ*, θ)``;
* feature similarity: the patch tracked straight to frame t−i should look like the patch,
  ``L_sim^i = −⟨x^p, T(x^I_{t−i}, x^p)⟩`` (per cell, unit features; the paper's term, where the
  reference code counts weak inliers instead).

``l_θ`` is the reference's ``TransformedGridLoss``: the squared distance between a 20 × 20
grid of points in [-1, 1]² moved by both transforms, summed over x and y, averaged. The total
is ``Σ_i L_sim^i + λ L_skip^i + λ L_long^i`` with the reference's weights: means over i,
``λ`` on the skip cycles, ``0.2 λ`` on the long ones.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from kpbench_plugins.cycletime.model import sample


def grid_loss(theta: torch.Tensor, target: torch.Tensor, points: int = 20) -> torch.Tensor:
    """Mean squared distance of a ``points × points`` grid moved by ``theta`` and ``target``."""
    axis = torch.linspace(-1, 1, points, device=theta.device, dtype=theta.dtype)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    p = torch.stack([x.flatten(), y.flatten(), torch.ones_like(x.flatten())])  # (3, n)
    return ((theta @ p - target @ p) ** 2).sum(1).mean()


def track(locate: Callable, query: torch.Tensor, frames: list[torch.Tensor], cells: int):
    """Follow unit ``query (B, C, p, p)`` through ``frames`` (raw features, in order): each
    frame's ``θ`` and its sampled patch become the next query. Returns ``(thetas, query)``."""
    thetas = []
    for frame in frames:
        theta = locate(query, F.normalize(frame, dim=1))
        thetas.append(theta)
        query = F.normalize(sample(frame, theta, cells), dim=1)
    return thetas, query


def cycle_losses(locate: Callable, patch: torch.Tensor, clip: torch.Tensor,
                 target: torch.Tensor, theta_true: torch.Tensor, lam: float = 0.1) -> dict:  # fmt: skip
    """The three terms and their total.

    Args:
        locate: the tracker, ``(unit query, unit frame) → θ (B, 2, 3)``.
        patch: the target patch's features ``(B, C, p, p)``.
        clip: the earlier frames' features ``(B, T, C, H, W)``, oldest first.
        target: the target frame's features ``(B, C, H, W)``.
        theta_true: where the patch lies in the target frame, ``(B, 2, 3)``.
        lam: λ.
    """
    cells, t = patch.shape[-1], clip.shape[1]
    query = F.normalize(patch, dim=1)
    frames = list(clip.unbind(1))
    long, skip, sim = [], [], []
    for i in range(1, t + 1):
        back = frames[::-1][:i]
        _, q = track(locate, query, back + frames[t - i + 1 :], cells)
        long.append(grid_loss(locate(q, F.normalize(target, dim=1)), theta_true))
        _, q = track(locate, query, [frames[t - i]], cells)
        sim.append(-(q * query).sum(1).mean())
        skip.append(grid_loss(locate(q, F.normalize(target, dim=1)), theta_true))
    out = {
        "similarity": torch.stack(sim).mean(),
        "skip": lam * torch.stack(skip).mean(),
        "long": 0.2 * lam * torch.stack(long).mean(),
    }
    out["loss"] = out["similarity"] + out["skip"] + out["long"]
    return out
