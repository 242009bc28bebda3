"""Colorization as a kpbench method: grey clips, 16 colour clusters, the pointer loss.

Training clips are ``reference_frames + 1`` frames ``frame_gap`` apart; the last is the
target. Every frame is seen in grey only (its lightness); colour enters as labels: each
frame's ab channels, area-averaged onto the 32 × 32 feature grid (at 256 px), take the
index of the nearest of ``clusters`` k-means centres fitted before training on the
training frames' ab values (sklearn, seeded by the run). The centres are part of the model
state (a buffer), so a checkpoint carries them.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from kpbench_plugins.colorization.colour import fit_clusters, quantise, rgb_to_lab
from kpbench_plugins.colorization.losses import colorization_loss
from kpbench_plugins.colorization.model import STRIDE, ColorizationNet, GreyEncoder
from kpbench_plugins.colorization.tracker import ColourTracker


class ColorizationModel(nn.Module):
    """The network and its colour clusters (``centres`` (k, 2) ab; ``fitted`` 0/1)."""

    def __init__(self, config: dict):
        super().__init__()
        c = config
        self.net = ColorizationNet(int(c["head_width"]), int(c["embedding_size"]),
                                   int(c["head_layers"]), bool(c["coords"]))  # fmt: skip
        self.register_buffer("centres", torch.zeros(int(c["clusters"]), 2))
        self.register_buffer("fitted", torch.zeros((), dtype=torch.uint8))


class ColorizationMethod(ColourTracker):
    label = "colorization"
    stride = STRIDE

    def build_net(self) -> nn.Module:
        return ColorizationModel(self.config)

    def feature_module(self) -> nn.Module:
        return GreyEncoder(self.model.net)

    def clip_length(self) -> int:
        return int(self.config["reference_frames"]) + 1

    # -- colour clusters --------------------------------------------------------------------------
    def fit_centres(self, clips: torch.Tensor, seed: int) -> None:
        """k-means centres of the ab values of ``clips`` (B, L, 3, S, S)."""
        ab = rgb_to_lab(clips.float().cpu())[:, :, 1:].permute(0, 1, 3, 4, 2).reshape(-1, 2)
        centres = fit_clusters(ab.numpy(), int(self.config["clusters"]), seed)
        self.model.centres.copy_(torch.from_numpy(centres))
        self.model.fitted.fill_(1)

    def prepare(self, draw, ctx) -> None:
        rng = np.random.default_rng([ctx.seed, 7919])
        n = max(1, int(self.config["cluster_batches"]))
        self.fit_centres(torch.cat([draw(rng) for _ in range(n)]), ctx.seed)
        ctx.note("colour_clusters", self.model.centres.cpu().round().tolist())

    def labels(self, clips: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """``(B, L, h, w)`` cluster index of each feature cell's mean ab colour."""
        b, n = clips.shape[:2]
        ab = rgb_to_lab(clips.flatten(0, 1))[:, 1:]
        ab = F.adaptive_avg_pool2d(ab, (h, w))
        return quantise(ab, self.model.centres).unflatten(0, (b, n))

    # -- loss -------------------------------------------------------------------------------------
    def clip_loss(self, clips: torch.Tensor, rng, progress: float) -> dict:
        if not int(self.model.fitted):
            self.fit_centres(clips, 0)  # a step without fit(): cluster this batch's colours
        b, n = clips.shape[:2]
        emb = self.feature_module()(clips.flatten(0, 1)).unflatten(0, (b, n))
        labels = self.labels(clips, *emb.shape[-2:])
        loss = colorization_loss(emb[:, -1], emb[:, :-1], labels[:, :-1], labels[:, -1],
                                 int(self.config["clusters"]), float(self.config["temperature"]))  # fmt: skip
        return {"loss": loss}
