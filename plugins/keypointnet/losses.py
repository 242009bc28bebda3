"""KeypointNet's six loss terms on a batch of view pairs, with the reference's weights.

Definitions follow tensorflow/models ``research/keypointnet/main.py`` (``model_fn`` and the
functions it calls), in OpenCV form (:mod:`kpbench_plugins.keypointnet.geometry`). K is the
number of keypoints, B the batch of pairs; 2D terms are in NDC, 3D terms in the poses' units.

| term | definition | weight |
|---|---|---|
| ``consistency`` | Σ over both directions of mean_B Σ_k (1/K)‖proj_{i→j}(X_i,k) − uv_j,k‖² | 1.0 |
| ``pose`` | mean_B 2·asin(min(1, ‖R̂ − R‖_F/2√2)), R̂ the Procrustes fit of (X_a + n) → (X_b + n), n ~ N(0, σ=``noise``) | 0.2 |
| ``separation`` | Σ over views of Σ_{i≠j} max(0, δ − ‖X_i − X_j‖²) / (2·K·B), δ = ``sep_delta`` on the **squared** distance | 1.0 |
| ``silhouette`` | Σ over views of mean_{B,k} −log(Σ_px p_k·mask + 1e−12) | 1.0 |
| ``variance`` | Σ over views of mean_{B,k} Σ_px p_k‖grid − uv_k‖² | 0.5 |
| ``orientation`` | Σ over views of mean((OrientNet's ±x points − their true projections)²) | 1.0 |

The reference's separation sum includes the K terms i = j, each a constant δ; they are left
out here (same gradients, a loss that reaches 0). It divides by the per-replica batch flag
(8); here by the batch actually given.
"""

from __future__ import annotations

import torch

from kpbench_plugins.keypointnet.geometry import (
    angular_distance,
    procrustes,
    project,
    transform,
    unproject,
)
from kpbench_plugins.keypointnet.model import ndc_grid

#: The reference's ``_default_hparams`` loss weights.
WEIGHTS = {"consistency": 1.0, "pose": 0.2, "separation": 1.0, "silhouette": 1.0,
           "variance": 0.5, "orientation": 1.0}  # fmt: skip


def consistency(uv_from_i: torch.Tensor, uv_j: torch.Tensor) -> torch.Tensor:
    """mean_B Σ_k (1/K)‖uv_from_i − uv_j‖² (one direction)."""
    return ((uv_from_i - uv_j) ** 2).sum(-1).mean(-1).mean()


def separation(xyz: torch.Tensor, delta: float) -> torch.Tensor:
    """Σ_{i≠j} max(0, δ − ‖X_i − X_j‖²) / (2·K·B) for (B, K, 3) points (one view)."""
    b, k, _ = xyz.shape
    d2 = ((xyz[:, :, None] - xyz[:, None]) ** 2).sum(-1)
    off = ~torch.eye(k, dtype=torch.bool, device=xyz.device)
    return torch.relu(delta - d2)[:, off].sum() / (2 * k * b)


def silhouette(prob: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean_{B,k} −log(Σ_px p_k · mask + 1e−12); ``mask`` (B, H, W) in {0, 1}."""
    inside = (prob * mask[:, None]).sum((2, 3))
    return -torch.log(inside + 1e-12).mean()


def variance(prob: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """mean_{B,k} Σ_px p_k ‖grid − uv_k‖² (NDC)."""
    gx, gy = ndc_grid(*prob.shape[2:], prob.device, prob.dtype)
    d2 = (gx - uv[..., 0, None, None]) ** 2 + (gy - uv[..., 1, None, None]) ** 2
    return (prob * d2).sum((2, 3)).mean()


def orientation(orient: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of OrientNet's (B, 2, 2) NDC points against their true projections."""
    return ((orient - target) ** 2).mean()


def pose(xyz_a: torch.Tensor, xyz_b: torch.Tensor, rotation: torch.Tensor, noise: float):
    """Mean angular distance (rad) of the Procrustes rotation of the noisy keypoints to the truth."""
    if noise > 0:
        xyz_a = xyz_a + noise * torch.randn_like(xyz_a)
        xyz_b = xyz_b + noise * torch.randn_like(xyz_b)
    return angular_distance(procrustes(xyz_a, xyz_b), rotation).mean()


def total(views: list[dict], batch: dict, config: dict) -> tuple[torch.Tensor, dict]:
    """The weighted sum of the six terms for the two views' network outputs.

    Args:
        views: the network's outputs for view a and view b (``uv``, ``z``, ``prob``,
            ``orient``).
        batch: ``cams`` (B, 2, 4) NDC cameras, ``relative`` (B, 4, 4) a → b, ``masks``
            (B, 2, S, S), ``orient_target`` (B, 2, 2, 2) NDC of ±x per view.
        config: ``sep_delta``, ``noise`` and the ``loss_*`` weights.

    Returns:
        The loss and each term's value (float) under its name.
    """
    cams, rel = batch["cams"], batch["relative"]
    xyz = [unproject(v["uv"], v["z"], cams[:, i]) for i, v in enumerate(views)]
    carry = [rel, torch.linalg.inv(rel)]
    terms = {name: 0.0 for name in WEIGHTS}
    for i in range(2):
        uv_from_i = project(transform(carry[i], xyz[i]), cams[:, 1 - i])
        terms["consistency"] = terms["consistency"] + consistency(uv_from_i, views[1 - i]["uv"])
        terms["separation"] = terms["separation"] + separation(xyz[i], config["sep_delta"])
        terms["silhouette"] = terms["silhouette"] + silhouette(
            views[i]["prob"], batch["masks"][:, i]
        )
        terms["variance"] = terms["variance"] + variance(views[i]["prob"], views[i]["uv"])
        terms["orientation"] = terms["orientation"] + orientation(
            views[i]["orient"], batch["orient_target"][:, i]
        )
    terms["pose"] = pose(xyz[0], xyz[1], rel[:, :3, :3], config["noise"])
    loss = sum(config[f"loss_{name}"] * terms[name] for name in WEIGHTS)
    return loss, {name: float(torch.as_tensor(value).detach()) for name, value in terms.items()}
