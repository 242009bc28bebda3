"""What the colour-copying trackers (colorization, CorrFlow, MAST) share: the training loop
on clips of unlabelled video, synthetic clips for timing, and the propagation encoder.

A subclass builds its network (:meth:`ColourTracker.build_net`), says how a clip is drawn
(:meth:`ColourTracker.clip_sampler`) and what its self-supervised loss on a batch of clips
is (:meth:`ColourTracker.clip_loss`), and which module maps RGB frames to features
(:meth:`ColourTracker.feature_module`). Prediction, the timed inference call and its example
batch are :class:`~kpbench.propagation.method.PropagationMethod`'s: every tracker is scored
by the one shared propagator on its features, whatever its own objective did in training.

The optimiser is the references' Adam (betas 0.9, 0.999) whose rate halves after each count
of training samples in ``lr_halve_at`` (CorrFlow's and MAST's ``adjust_lr``: 400 k, 600 k,
800 k and 1 M samples).
"""

from __future__ import annotations

import math
from abc import abstractmethod

import numpy as np
import torch

from kpbench.method import TrainableMethod
from kpbench.propagation.encoders import ModuleEncoder
from kpbench.propagation.method import PropagationMethod
from kpbench.training import training_loop
from kpbench_plugins.colorization.clips import ClipSource, spaced


def synthetic_clips(batch: int, length: int, size: int, seed: int = 0) -> torch.Tensor:
    """``(B, L, 3, S, S)`` RGB in [0, 1]: a smooth random colour image sliding one pixel per
    frame (a training step's input without data: timing and the conformance check)."""
    g = torch.Generator().manual_seed(seed)
    base = torch.rand(batch, 3, max(size // 8, 2), max(size // 8, 2), generator=g)
    big = torch.nn.functional.interpolate(base, size=(size + length, size + length),
                                          mode="bilinear", align_corners=False)  # fmt: skip
    return torch.stack([big[:, :, t : t + size, t : t + size] for t in range(length)], 1)


class ColourTracker(PropagationMethod, TrainableMethod):
    """A tracker trained by copying colour between frames of unlabelled clips."""

    #: the method's name in messages and progress bars.
    label = "tracker"
    #: stride of :meth:`feature_module`'s features in input pixels.
    stride = 8

    def __init__(self, config: dict):
        self.config = config
        self.model = self.build_net()
        self.optimizer = self.scheduler = None

    # -- what a method defines --------------------------------------------------------------------
    @abstractmethod
    def build_net(self) -> torch.nn.Module:
        """The network (``self.model``)."""

    @abstractmethod
    def feature_module(self) -> torch.nn.Module:
        """RGB in [0, 1] ``(B, 3, H, W)`` → features ``(B, C, ⌈H/stride⌉, ⌈W/stride⌉)``."""

    @abstractmethod
    def clip_length(self) -> int:
        """Frames per training clip."""

    def clip_sampler(self, data):
        """``draw(rng) -> (B, L, 3, S, S)``: clips of the train split, ``frame_gap`` apart
        (refuses clearly when the split has no video long enough)."""
        c = self.config
        source = ClipSource(data, self.label, self.clip_length(), int(c["image_size"]))
        offsets = spaced(self.clip_length(), int(c["frame_gap"]))
        return lambda rng: source.batch(rng, offsets, int(c["batch_size"]))

    @abstractmethod
    def clip_loss(self, clips: torch.Tensor, rng: np.random.Generator, progress: float) -> dict:
        """Losses on ``clips`` (``"loss"`` the total, a tensor); ``progress`` in [0, 1] is the
        share of training done (for schedules such as scheduled sampling)."""

    def prepare(self, draw, ctx) -> None:
        """Fit anything the loss needs from the training clips before training (optional)."""

    # -- propagation ------------------------------------------------------------------------------
    def encoder(self) -> ModuleEncoder:
        """The features the shared propagator uses (RGB in [0, 1] fed as is)."""
        return ModuleEncoder(self.feature_module(), self.stride, mean=(0.0, 0.0, 0.0),
                             std=(1.0, 1.0, 1.0))  # fmt: skip

    # -- training ---------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _optimizer(self):
        c = self.config
        opt = torch.optim.Adam(self.model.parameters(), lr=float(c["lr"]), betas=(0.9, 0.999))
        batch, marks = int(c["batch_size"]), [int(m) for m in c["lr_halve_at"]]

        def factor(step: int) -> float:
            return 0.5 ** sum(step * batch > m for m in marks)

        return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def _ensure_optimizer(self) -> None:
        if self.optimizer is None:
            self.optimizer, self.scheduler = self._optimizer()

    def _step(self, clips: torch.Tensor, rng: np.random.Generator) -> dict:
        self._ensure_optimizer()
        self.model.train()
        done = self.scheduler.last_epoch / max(int(self.config["steps"]), 1)
        parts = self.clip_loss(clips.to(self.device), rng, min(done, 1.0))
        self.optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        self.optimizer.step()
        self.scheduler.step()
        return {k: float(v.detach()) for k, v in parts.items()}

    def fit(self, data, ctx) -> None:
        c = self.config
        draw = self.clip_sampler(data)
        self.prepare(draw, ctx)
        self.optimizer, self.scheduler = self._optimizer()
        steps, per_epoch = int(c["steps"]), int(c["steps_per_epoch"])
        epochs = math.ceil(steps / per_epoch)
        parts = (ctx, self.model, self.optimizer, self.scheduler, epochs, self.label)
        for epoch in training_loop(*parts):
            for _ in epoch.steps(min(per_epoch, steps - epoch.index * per_epoch)):
                epoch.add(self._step(draw(epoch.rng), epoch.rng))

    def train_batch(self, batch_size: int, data=None) -> torch.Tensor:
        """``batch_size`` synthetic clips of the training size (see :func:`synthetic_clips`)."""
        size = int(self.config["image_size"])
        return synthetic_clips(batch_size, self.clip_length(), size).to(self.device)

    def train_step(self, batch) -> float:
        return self._step(batch, np.random.default_rng(0))["loss"]
