"""CorrFlow as a kpbench method: Lab clips of three frames, channel dropout, recursive
windowed reconstruction with scheduled sampling and a forward-backward cycle."""

from __future__ import annotations

import torch
from torch import nn

from kpbench_plugins.colorization.colour import normalised_lab
from kpbench_plugins.colorization.tracker import ColourTracker
from kpbench_plugins.corrflow.losses import channel_dropout, corrflow_loss
from kpbench_plugins.corrflow.model import STRIDE, LabEncoder, ResNet18Stride4


def build_encoder(config: dict) -> ResNet18Stride4:
    return ResNet18Stride4(config["widths"], int(config["feature_dim"]))


class CorrFlowMethod(ColourTracker):
    label = "corrflow"
    stride = STRIDE

    def build_net(self) -> nn.Module:
        return build_encoder(self.config)

    def feature_module(self) -> nn.Module:
        return LabEncoder(self.model)

    def clip_length(self) -> int:
        return int(self.config["clip_frames"])

    def truth_prob(self, progress: float) -> float:
        """Scheduled sampling: P(copy from the truth), linear from start to end over training."""
        a, b = float(self.config["truth_prob_start"]), float(self.config["truth_prob_end"])
        return a - (a - b) * progress

    def clip_loss(self, clips: torch.Tensor, rng, progress: float) -> dict:
        c = self.config
        lab = normalised_lab(clips)  # (B, L, 3, S, S)
        dropped, _ = channel_dropout(lab, rng, float(c["dropout_keep_prob"]))
        b, n = clips.shape[:2]
        feats = self.model(dropped.flatten(0, 1)).unflatten(0, (b, n)).unbind(1)
        return corrflow_loss(list(feats), list(lab.unbind(1)), int(c["radius"]),
                             self.truth_prob(progress), lambda p: rng.random() < p,
                             float(c["cycle_weight"]), float(c["huber_scale"]))  # fmt: skip
