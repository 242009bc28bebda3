"""CRW as a kpbench method: trained by the contrastive random walk on unlabelled train-split
clips, evaluated by the shared propagator on its encoder's features (``layer3``, stride 8).

Recipe (reference ``train.py`` / README command): Adam at lr 1e-4 without weight decay, the lr
×0.3 at the milestones; clips of ``clip_len`` frames, each frame a grid of jittered patches
(:mod:`kpbench_plugins.crw.augment`); the walk at temperature 0.07 with edge dropout 0.1.
"""

from __future__ import annotations

import numpy as np
import torch

from kpbench.errors import ConfigError
from kpbench.method import TrainableMethod
from kpbench.propagation.clips import ClipSampler, train_loop
from kpbench.propagation.encoders import ModuleEncoder
from kpbench.propagation.method import PropagationMethod
from kpbench_plugins.crw.augment import patch_grid
from kpbench_plugins.crw.losses import walk_loss
from kpbench_plugins.crw.model import CRWNet

#: The reference's input normalisation (``utils/augs.py`` ``IMG_MEAN``/``IMG_STD``).
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


class CRWMethod(PropagationMethod, TrainableMethod):
    def __init__(self, config: dict):
        self.config = c = config
        if int(c["clip_len"]) < 2:
            raise ConfigError(f"crw: clip_len must be >= 2, got {c['clip_len']}")
        if int(c["patch_size"]) > int(c["img_size"]):
            raise ConfigError("crw: patch_size must not exceed img_size")
        self.model = CRWNet(int(c["embed_dim"]), c["padding"])
        self.optimizer = self.scheduler = None
        self._mean = torch.tensor(MEAN)[:, None, None]
        self._std = torch.tensor(STD)[:, None, None]

    def encoder(self) -> ModuleEncoder:
        return ModuleEncoder(self.model, 8, MEAN, STD)

    # -- training ---------------------------------------------------------------------------
    def _optimizer(self):
        c = self.config
        opt = torch.optim.Adam(self.model.parameters(), lr=float(c["lr"]),
                               weight_decay=float(c["weight_decay"]))  # fmt: skip
        sched = torch.optim.lr_scheduler.MultiStepLR(
            opt, [int(m) for m in c["lr_milestones"]], float(c["lr_gamma"])
        )
        return opt, sched

    def views(self, clips: torch.Tensor, rng: np.random.Generator, augment: bool = True):
        """Clips ``(B, T, 3, H, W)`` in [0, 1] → normalised patches ``(B, T, N, 3, P, P)``."""
        c = self.config
        patches = patch_grid(clips, rng, int(c["img_size"]), int(c["patch_size"]),
                             float(c["patch_stride"]), augment)  # fmt: skip
        return (patches - self._mean) / self._std

    def loss(self, patches: torch.Tensor) -> tuple[torch.Tensor, dict]:
        c = self.config
        nodes = self.model.nodes(patches.to(self._device()))
        return walk_loss(nodes, float(c["temperature"]), float(c["edge_dropout"]))

    def train_step(self, batch) -> float:
        if self.optimizer is None:
            self.optimizer, self.scheduler = self._optimizer()
        self.model.train()
        loss, _ = self.loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        return float(loss.detach())

    def train_batch(self, batch_size: int, data=None):
        """``batch_size`` clips of random frames cut into the recipe's patch grid."""
        c = self.config
        g = torch.Generator().manual_seed(0)
        size = int(c["img_size"])
        clips = torch.rand(batch_size, int(c["clip_len"]), 3, size, size, generator=g)
        return self.views(clips, np.random.default_rng(0)).to(self._device())

    def fit(self, data, ctx) -> None:
        c = self.config
        sampler = ClipSampler(data, "crw", int(c["clip_len"]), int(c["frame_gap"]),
                              int(c["img_size"]), cache_frames=int(c["cache_frames"]))  # fmt: skip
        ctx.note("train_frames", sampler.frames)
        self.optimizer, self.scheduler = self._optimizer()

        def step(rng):
            patches = self.views(sampler.batch(rng, int(c["batch_size"])), rng)
            loss = self.train_step(patches.to(ctx.device))
            return {"loss": loss}

        train_loop(ctx, self.model, self.optimizer, self.scheduler, int(c["steps"]),
                   int(c["steps_per_epoch"]), "crw", step)  # fmt: skip
