"""CycleTime as a kpbench method: trained by cycle-consistent tracking on unlabelled clips
of the train split, evaluated by the shared propagator on its 512-channel features (stride 8).

Recipe (reference ``train_video_cycle_simple.py``, ``models/dataset/vlog_train.py``): clips of
``clip_len`` frames ``frame_gap`` apart, the target frame ``pred_distance`` gaps after the
last, all resized to ``img_size`` and flipped together half the time; the patch is a random
``patch_size`` crop of the target frame. Adam (lr 2e-4, β₁ 0.5), no weight decay.
"""

from __future__ import annotations

import numpy as np
import torch

from kpbench.errors import ConfigError
from kpbench.method import TrainableMethod
from kpbench.propagation.clips import ClipSampler, train_loop
from kpbench.propagation.encoders import ModuleEncoder
from kpbench.propagation.method import PropagationMethod
from kpbench_plugins.cycletime.losses import cycle_losses
from kpbench_plugins.cycletime.model import CycleTimeNet, sample

STRIDE = 8


class CycleTimeMethod(PropagationMethod, TrainableMethod):
    def __init__(self, config: dict):
        self.config = c = config
        img, patch = int(c["img_size"]), int(c["patch_size"])
        if img % STRIDE or patch % STRIDE or patch >= img:
            raise ConfigError("cycletime: img_size and patch_size must be multiples of 8, "
                              "patch_size < img_size")  # fmt: skip
        if patch // STRIDE < 7:
            raise ConfigError(f"cycletime: patch_size {patch} gives {patch // STRIDE} feature "
                              "cells; the tracker head needs at least 7 (patch_size >= 56)")  # fmt: skip
        self.model = CycleTimeNet(c["backbone"], int(c["dim"]), patch // STRIDE, img // STRIDE,
                                  float(c["temperature"]))  # fmt: skip
        self.optimizer = self.scheduler = None
        self.mean = torch.tensor((0.485, 0.456, 0.406))[:, None, None]
        self.std = torch.tensor((0.229, 0.224, 0.225))[:, None, None]

    def encoder(self) -> ModuleEncoder:
        return ModuleEncoder(self.model, STRIDE)

    # -- objective --------------------------------------------------------------------------
    def views(self, clips: torch.Tensor, rng: np.random.Generator):
        """Clips ``(B, T+1, 3, S, S)`` in [0, 1] (the last frame the target) → normalised
        ``(frames, patches (B, 3, P, P), theta_true (B, 2, 3))``."""
        b = len(clips)
        flip = torch.from_numpy(rng.random(b) < 0.5)
        clips = torch.where(flip[:, None, None, None, None], clips.flip(-1), clips)
        clips = (clips - self.mean) / self.std
        s = int(self.config["patch_size"]) / int(self.config["img_size"])
        theta = torch.zeros(b, 2, 3)
        theta[:, 0, 0] = theta[:, 1, 1] = s
        theta[:, :, 2] = torch.from_numpy(rng.uniform(-(1 - s), 1 - s, (b, 2))).float()
        patches = sample(clips[:, -1], theta, int(self.config["patch_size"]))
        dev = self._device()
        return clips.to(dev), patches.to(dev), theta.to(dev)

    def loss(self, clips: torch.Tensor, patches: torch.Tensor, theta: torch.Tensor) -> dict:
        b, t = clips.shape[:2]
        feats = self.model(clips.flatten(0, 1)).unflatten(0, (b, t))
        return cycle_losses(self.model.theta, self.model(patches), feats[:, :-1], feats[:, -1],
                            theta, float(self.config["lam"]))  # fmt: skip

    # -- training ---------------------------------------------------------------------------
    def _optimizer(self):
        c = self.config
        opt = torch.optim.Adam(self.model.parameters(), lr=float(c["lr"]),
                               betas=(float(c["beta1"]), 0.999))  # fmt: skip
        return opt, torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)

    def train_step(self, batch) -> float:
        if self.optimizer is None:
            self.optimizer, self.scheduler = self._optimizer()
        self.model.train()
        out = self.loss(*batch)
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.optimizer.step()
        self._last = {k: float(v.detach()) for k, v in out.items()}
        return self._last["loss"]

    def _length(self) -> int:
        return int(self.config["clip_len"]) + int(self.config["pred_distance"])

    def _keep(self, clips: torch.Tensor) -> torch.Tensor:
        """The clip's frames and the target (the last of the sampled span)."""
        return torch.cat([clips[:, : int(self.config["clip_len"])], clips[:, -1:]], 1)

    def train_batch(self, batch_size: int, data=None):
        """``batch_size`` clips of random frames with their target patches."""
        size = int(self.config["img_size"])
        g = torch.Generator().manual_seed(0)
        clips = torch.rand(batch_size, int(self.config["clip_len"]) + 1, 3, size, size, generator=g)
        return self.views(clips, np.random.default_rng(0))

    def fit(self, data, ctx) -> None:
        c = self.config
        sampler = ClipSampler(data, "cycletime", self._length(), int(c["frame_gap"]),
                              int(c["img_size"]), cache_frames=int(c["cache_frames"]))  # fmt: skip
        ctx.note("train_frames", sampler.frames)
        self.optimizer, self.scheduler = self._optimizer()

        def step(rng):
            clips = self._keep(sampler.batch(rng, int(c["batch_size"])))
            self.train_step(self.views(clips, rng))
            return self._last

        train_loop(ctx, self.model, self.optimizer, self.scheduler, int(c["steps"]),
                   int(c["steps_per_epoch"]), "cycletime", step)  # fmt: skip
