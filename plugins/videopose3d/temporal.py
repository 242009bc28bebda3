"""What VideoPose3D's two uses share: the two tied model forms, window batches and the recipe.

Training runs the single-frame (strided) form on windows of one receptive field, one output
frame each, as the reference does with ``--stride 1``; prediction runs the sequence (dilated) form
over whole edge-padded sequences. Both forms hold the very same parameter and buffer tensors.
The recipe is the paper's: Adam (amsgrad), lr × ``lr_decay`` per epoch, BatchNorm momentum
decayed from 0.1 to 0.001 over the epochs, dropout 0.25.
"""

from __future__ import annotations

from abc import abstractmethod

import numpy as np
import torch

from kpbench.errors import ConfigError
from kpbench.method import TrainableMethod
from kpbench.training import training_loop
from kpbench_plugins.videopose3d.model import TemporalModel


def tie(single: TemporalModel, model: TemporalModel) -> None:
    """Make ``single`` use ``model``'s parameter and buffer tensors (same names, shared)."""
    own = dict(model.named_modules())
    for name, module in single.named_modules():
        other = own[name]
        for key in list(module._parameters):
            module._parameters[key] = other._parameters[key]
        for key in list(module._buffers):
            module._buffers[key] = other._buffers[key]


def pad_edges(x: np.ndarray, left: int, right: int) -> np.ndarray:
    """Repeat the first / last frame ``left`` / ``right`` times (the reference's edge padding)."""
    return np.concatenate([np.repeat(x[:1], left, 0), x, np.repeat(x[-1:], right, 0)])


class TemporalMethod(TrainableMethod):
    """The shared part; a subclass gives the inputs, targets, loss and prediction of its task."""

    def __init__(self, config: dict, inputs: int, outputs: int):
        self.config = config
        widths = [int(w) for w in config["filter_widths"]]
        kw = dict(
            filter_widths=widths, causal=bool(config["causal"]), dropout=config["dropout"],
            channels=int(config["channels"]),
        )  # fmt: skip
        try:
            self.model = TemporalModel(inputs, outputs, **kw)
            self.single = TemporalModel(inputs, outputs, single_frame=True, **kw)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        tie(self.single, self.model)
        self.rf = self.model.receptive_field
        self.optimizer = None

    # -- what a task supplies --------------------------------------------------------------------
    @abstractmethod
    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss of a batch's outputs against its targets."""

    def flip_batch(self, x: np.ndarray, y: np.ndarray, flip: np.ndarray):
        """Mirror the windows ``x`` and targets ``y`` where ``flip``; default: no flip."""
        return x, y

    # -- windows ---------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def padding(self) -> tuple[int, int]:
        """Frames to add before and after a sequence so every frame gets an output."""
        pad, shift = (self.rf - 1) // 2, self.model.causal_shift
        return pad + shift, pad - shift

    def windows(self, padded: list[np.ndarray], index: np.ndarray) -> np.ndarray:
        """``(B, RF, F)`` windows: ``index`` rows of (sequence, frame) into edge-padded inputs."""
        return np.stack([padded[s][f : f + self.rf] for s, f in index]).astype(np.float32)

    # -- training --------------------------------------------------------------------------------
    def _optimizer(self):
        c = self.config
        opt = torch.optim.Adam(self.model.parameters(), lr=c["lr"], amsgrad=True)
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=c["lr_decay"])
        return opt, sched

    def _bn_momentum(self, epoch: int) -> float:
        c = self.config
        start, end = c["bn_momentum"], c["bn_momentum_final"]
        return start * float(np.exp(-epoch / max(c["epochs"], 1) * np.log(start / end)))

    def _step(self, x: torch.Tensor, y: torch.Tensor, net=None) -> float:
        self.single.train()
        pred = (net or self.single)(x.to(self.device))[:, 0]
        loss = self.loss(pred, y.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def train_loop(self, inputs: list, targets: list, weights: np.ndarray | None, ctx) -> None:
        """Train on sequences: ``inputs[i]`` (T, F) features, ``targets[i]`` (T, ...) per frame;
        ``weights`` (N,) per training frame (None: uniform), to sample frames with."""
        c = self.config
        left, right = self.padding()
        padded = [pad_edges(x, left, right) for x in inputs]
        index = np.array([(s, f) for s, y in enumerate(targets) for f in range(len(y))])
        if not len(index):
            raise ConfigError("no training frames")
        ctx.note("train_frames", len(index))
        ctx.note("receptive_field", self.rf)
        net = ctx.wrap_model(self.single)
        self.optimizer, sched = self._optimizer()
        batch = int(c["batch_size"])
        per_epoch = c["steps_per_epoch"] or int(np.ceil(len(index) / batch))
        loop = training_loop(ctx, self.model, self.optimizer, sched, c["epochs"], "videopose3d")
        for epoch in loop:
            self.model.set_bn_momentum(self._bn_momentum(epoch.index))
            order = _draw(np.random.default_rng([ctx.seed, epoch.index, 1]), len(index),
                          per_epoch * batch, weights)  # fmt: skip
            for n in epoch.steps(per_epoch):
                rows = index[order[n * batch : (n + 1) * batch]]
                x = self.windows(padded, rows)
                y = np.stack([targets[s][f] for s, f in rows])
                x, y = self.flip_batch(x, y, epoch.rng.random(len(rows)) < 0.5)
                epoch.add(self._step(torch.from_numpy(x), torch.from_numpy(y), net))
            sched.step()
            epoch.log(lr=sched.get_last_lr()[0])

    # -- prediction -------------------------------------------------------------------------------
    @torch.inference_mode()
    def run_sequence(self, x: np.ndarray) -> np.ndarray:
        """The sequence form over one whole sequence ``(T, F)`` → ``(T, outputs)``."""
        self.model.eval()
        left, right = self.padding()
        xp = torch.from_numpy(pad_edges(x, left, right).astype(np.float32))[None]
        return self.model(xp.to(self.device))[0].float().cpu().numpy()

    # -- timing -----------------------------------------------------------------------------------
    def example_batch(self, batch_size: int, data=None):
        """``batch_size`` windows of one receptive field (one output frame each), random
        features of the input's size: the timed call is the single-frame form."""
        g = torch.Generator().manual_seed(0)
        width = self.model.expand_conv.in_channels
        return torch.randn(batch_size, self.rf, width, generator=g).to(self.device)

    def infer(self, batch):
        """One output frame per window through the single-frame (strided) form."""
        self.single.eval()
        return self.single(batch)

    def train_batch(self, batch_size: int, data=None):
        x = self.example_batch(batch_size)
        with torch.no_grad():
            y = torch.zeros_like(self.single.eval()(x)[:, 0])
        return x, y

    def train_step(self, batch) -> float:
        if self.optimizer is None:
            self.optimizer, _ = self._optimizer()
        return self._step(*batch)


def _draw(rng: np.random.Generator, n: int, count: int, weights) -> np.ndarray:
    """``count`` row numbers: shuffled passes over ``n`` rows, or weighted draws."""
    if weights is not None:
        p = np.asarray(weights, np.float64)
        return rng.choice(n, size=count, p=p / p.sum())
    passes = int(np.ceil(count / n))
    return np.concatenate([rng.permutation(n) for _ in range(passes)])[:count]
