"""CorrFlow's objective on a clip of frames 0, 1, 2 (Lai & Xie, §3).

* **Colour-channel dropout** (the information bottleneck): the encoder sees the Lab frames
  with the same channel(s) zeroed in every frame of a batch; the rest are scaled by
  3 / (3 − dropped) as the reference's ``dropout2d`` does.
* **Reconstruction with scheduled sampling**: frame ``n``'s colours are copied from frame
  ``n − 1`` within a window (:func:`~kpbench_plugins.corrflow.window.copy_window`); the
  reference colours are frame ``n − 1``'s true ones with probability ``p`` (falling from
  0.9 to 0.6 over training), else the model's own previous prediction. Frame 1 always
  copies from frame 0's truth.
* **Forward-backward cycle** (regulariser, weight 0.1): frame 0's colours carried forward
  recursively to frame ``i`` (1, 2) and back to frame 0, compared with frame 0.

Colours are the Lab frames (scaled to about [-1, 1]) average-pooled to the feature grid;
predictions are upsampled bilinearly to the frame and scored with a Huber loss on
20 × the scaled Lab (MAST's ``smooth_l1_loss(20·out, 20·target)``; the same for both).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kpbench_plugins.corrflow.window import copy_window


def channel_dropout(lab: torch.Tensor, rng: np.random.Generator, keep_prob: float,
                    channels=(0, 1, 2)) -> tuple[torch.Tensor, list[int]]:  # fmt: skip
    """``lab`` ``(..., 3, H, W)`` with one of ``channels`` zeroed (the same one for the whole
    batch) and the rest scaled by 3/2; unchanged with probability ``keep_prob``."""
    if rng.random() < keep_prob:
        return lab, []
    drop = [int(rng.choice(channels))]
    mask = torch.ones(3, device=lab.device, dtype=lab.dtype)
    mask[drop] = 0
    return lab * mask[:, None, None] * 1.5, drop


def colour_loss(pred: torch.Tensor, target: torch.Tensor, scale: float) -> torch.Tensor:
    """Huber (smooth L1, β = 1) of ``scale``·pred upsampled to ``target``'s size vs ``scale``·target."""
    up = F.interpolate(pred, size=target.shape[-2:], mode="bilinear", align_corners=False)
    return F.smooth_l1_loss(up * scale, target * scale)


def cell_colours(lab: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Lab frames ``(N, 3, H, W)`` averaged onto the ``h × w`` feature grid."""
    return F.adaptive_avg_pool2d(lab, (h, w))


def corrflow_loss(feats: list[torch.Tensor], labs: list[torch.Tensor], radius: int,
                  truth_prob: float, use_truth, cycle_weight: float, scale: float) -> dict:  # fmt: skip
    """CorrFlow's losses on one clip.

    Args:
        feats: per frame ``(B, C, h, w)`` features of the (dropped-out) input.
        labs: per frame ``(B, 3, H, W)`` true scaled Lab colours.
        radius: window radius in cells.
        truth_prob: probability of copying from frame ``n − 1``'s truth (scheduled sampling).
        use_truth: ``use_truth(p) -> bool`` draws that choice (a seeded generator's).
        cycle_weight: weight of the cycle loss.
        scale: Lab scale inside the Huber loss.

    Returns:
        ``{"loss", "reconstruction", "cycle"}`` tensors.
    """
    h, w = feats[0].shape[-2:]
    cells = [cell_colours(lab, h, w) for lab in labs]
    recon, prev = 0.0, None
    for n in range(1, len(feats)):
        ref = cells[n - 1] if n == 1 or use_truth(truth_prob) else prev
        prev = copy_window(feats[n], feats[n - 1], ref, radius)
        recon = recon + colour_loss(prev, labs[n], scale)
    cycle = 0.0
    for i in range(1, len(feats)):
        out = cells[0]
        for j in range(1, i + 1):
            out = copy_window(feats[j], feats[j - 1], out, radius)
        for j in range(i, 0, -1):
            out = copy_window(feats[j - 1], feats[j], out, radius)
        cycle = cycle + colour_loss(out, labs[0], scale)
    return {"loss": recon + cycle_weight * cycle, "reconstruction": recon, "cycle": cycle}
