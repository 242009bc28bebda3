"""MAST as a kpbench method: Lab clips, one ab channel dropped, the dropped channel of the
last frame reconstructed from a memory of earlier frames (long-term ones through the ROI).

A training clip is ``clip_frames`` frames ``gap`` apart, ``gap`` drawn per batch from
``gaps`` (``gap_probs``); the last frame is the target and the frames at ``memory_frames``
its memory, ``(target − m) · gap`` frames before it. With the reference's clip (5 frames,
memory 0 and 2, gaps 2/5/8) the first frame is 8, 20 or 32 frames back: at gap 5 and 8 it
is a long-term memory read through the two-step ROI (dilation 2 and 3). The reference's
model call is the same (``model(ref_x, ref_y, tar_x, [0, 2], 4)``); its loader fed it pairs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from kpbench.errors import ConfigError
from kpbench_plugins.colorization.clips import ClipSource, spaced
from kpbench_plugins.colorization.colour import normalised_lab
from kpbench_plugins.colorization.tracker import ColourTracker
from kpbench_plugins.corrflow.losses import cell_colours, channel_dropout, colour_loss
from kpbench_plugins.corrflow.method import build_encoder
from kpbench_plugins.corrflow.model import STRIDE, LabEncoder
from kpbench_plugins.mast.memory import read_memory


class MASTMethod(ColourTracker):
    label = "mast"
    stride = STRIDE

    def __init__(self, config: dict):
        n, memory = int(config["clip_frames"]), [int(m) for m in config["memory_frames"]]
        if not memory or any(not 0 <= m < n - 1 for m in memory):
            raise ConfigError(f"mast: memory_frames {memory} must index frames 0..{n - 2} of "
                              f"the {n}-frame clip (the last frame is the target)")  # fmt: skip
        if len(config["gaps"]) != len(config["gap_probs"]):
            raise ConfigError("mast: gaps and gap_probs need one entry each")
        super().__init__(config)

    def build_net(self) -> nn.Module:
        return build_encoder(self.config)

    def feature_module(self) -> nn.Module:
        return LabEncoder(self.model)

    def clip_length(self) -> int:
        return int(self.config["clip_frames"])

    def _gap(self, rng: np.random.Generator) -> int:
        p = np.asarray(self.config["gap_probs"], np.float64)
        return int(self.config["gaps"][rng.choice(len(p), p=p / p.sum())])

    def clip_sampler(self, data):
        c = self.config
        source = ClipSource(data, self.label, self.clip_length(), int(c["image_size"]))

        def draw(rng):
            self.last_gap = self._gap(rng)
            return source.batch(
                rng, spaced(self.clip_length(), self.last_gap), int(c["batch_size"])
            )

        return draw

    def _clip_gap(self) -> int:
        """The gap of the clips just drawn (synthetic clips: the largest, so the ROI runs)."""
        return int(getattr(self, "last_gap", max(int(g) for g in self.config["gaps"])))

    def clip_loss(self, clips: torch.Tensor, rng, progress: float) -> dict:
        c = self.config
        lab = normalised_lab(clips)  # (B, L, 3, S, S)
        dropped, ch = channel_dropout(lab, rng, 0.0, channels=(1, 2))
        b, n = clips.shape[:2]
        feats = self.model(dropped.flatten(0, 1)).unflatten(0, (b, n))
        h, w = feats.shape[-2:]
        memory = [int(m) for m in c["memory_frames"]]
        gap = self._clip_gap()
        colours = [cell_colours(lab[:, m, ch], h, w) for m in memory]
        pred, _ = read_memory(feats[:, -1], [feats[:, m] for m in memory], colours,
                              [(n - 1 - m) * gap for m in memory], int(c["radius"]),
                              int(c["coarse_radius"]), int(c["roi_after"]),
                              int(c["max_dilation"]))  # fmt: skip
        return {"loss": colour_loss(pred, lab[:, -1, ch], float(c["huber_scale"]))}
