"""UVC as a kpbench method: trained on frame pairs of the train split's unlabelled videos,
evaluated by the shared propagator on its grey encoder's ``layer3`` features (stride 8).

Recipe (reference ``track_match_v1.py`` and its README command ``--wepoch 10 --nepoch 30
--batchsize 40 --coord_switch 0 --lc 0.3``): pairs of frames up to 50 apart; frame 1 rotated
by up to ±10° and cut to a ``patch_size`` patch, frame 2 whole at ``full_size``. Warm-up steps
match two same-place patches (fine-grained matching only); then the patch is localised in
frame 2 and matched inside the box. Adam at lr 1e-4 with polynomial decay (power 0.9).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from kpbench.errors import ConfigError
from kpbench.method import TrainableMethod
from kpbench.propagation.clips import ClipSampler, train_loop
from kpbench.propagation.encoders import ModuleEncoder
from kpbench.propagation.method import PropagationMethod
from kpbench_plugins.uvc import losses as L
from kpbench_plugins.uvc.colour import rgb_to_lab
from kpbench_plugins.uvc.model import UVCNet

STRIDE = 8


def patch_views(frames: torch.Tensor, rng: np.random.Generator, patch: int, rotate: float,
                same_place: bool) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Frame pairs ``(B, 2, 3, S, S)`` → (frame 1's patch ``(B, 3, P, P)``, frame 2: whole, or
    with ``same_place`` its patch at frame 1's place without the rotation)."""
    b, _, _, s, _ = frames.shape
    scale = patch / s
    angle = np.deg2rad(rng.uniform(-rotate, rotate, b)) if rotate else np.zeros(b)
    shift = rng.uniform(-(1 - scale), 1 - scale, (b, 2))
    theta = torch.zeros(b, 2, 3)
    cos, sin = torch.tensor(np.cos(angle)), torch.tensor(np.sin(angle))
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = (
        scale * cos, -scale * sin, scale * sin, scale * cos)  # fmt: skip
    theta[:, :, 2] = torch.from_numpy(shift)
    theta = theta.to(frames.dtype).to(frames.device)

    def cut(x, th):
        g = F.affine_grid(th, (b, 3, patch, patch), align_corners=False)
        return F.grid_sample(x, g, padding_mode="border", align_corners=False)

    first = cut(frames[:, 0], theta)
    if not same_place:
        return first, frames[:, 1]
    upright = theta.clone()
    upright[:, :, :2] = torch.eye(2, dtype=theta.dtype, device=theta.device) * scale
    return first, cut(frames[:, 1], upright)


class UVCMethod(PropagationMethod, TrainableMethod):
    def __init__(self, config: dict):
        self.config = c = config
        if int(c["patch_size"]) % STRIDE or int(c["full_size"]) % STRIDE:
            raise ConfigError("uvc: patch_size and full_size must be multiples of 8")
        if int(c["patch_size"]) > int(c["full_size"]):
            raise ConfigError("uvc: patch_size must not exceed full_size")
        self.model = UVCNet()
        self.optimizer = self.scheduler = None

    def encoder(self) -> ModuleEncoder:
        return ModuleEncoder(self.model, STRIDE, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0))

    # -- objective --------------------------------------------------------------------------
    def loss(self, first: torch.Tensor, second: torch.Tensor, warm_up: bool) -> dict:
        """Losses of one batch: ``first`` patches and ``second`` frames (or patches when
        ``warm_up``), RGB in [0, 1]."""
        c, temp = self.config, float(self.config["temp"])
        lab1, lab2 = rgb_to_lab(first), rgb_to_lab(second)
        f1, f2 = self.model.features(lab1), self.model.features(lab2)
        if c["normalise"]:  # cosine affinities (× temp) instead of raw dot products
            f1, f2 = F.normalize(f1, dim=1), F.normalize(f2, dim=1)
        h, w = f1.shape[-2:]
        out = {}
        if not warm_up:
            centre, _ = L.localise(f1, f2, temp)
            f2 = L.crop(f2, centre, (h, w), (h, w))
            lab2 = L.crop(lab2, centre, (h * STRIDE, w * STRIDE), (h * STRIDE, w * STRIDE))
        aff = L.affinity(f1, f2, temp)
        out["colour"] = L.colour_losses(aff, lab1, lab2, STRIDE, float(c["colour_switch"]))
        win = min(int(c["lc_win"]), h, w)
        out["concentration"] = float(c["lc"]) * L.concentration(aff, h, w, win)
        if float(c["coord_switch"]):
            out["coordinate"] = float(c["coord_switch"]) * L.coordinate_cycle(aff, h, w)
        out["loss"] = sum(out.values())
        return out

    # -- training ---------------------------------------------------------------------------
    def _optimizer(self):
        c = self.config
        opt = torch.optim.Adam(self.model.parameters(), lr=float(c["lr"]))
        total = max(int(c["steps"]), 1)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: max(1 - s / total, 0.0) ** float(c["lr_power"])
        )
        return opt, sched

    def warm(self) -> bool:
        """In the warm-up (the scheduler counts the steps taken, resumed runs included)."""
        done = self.scheduler.last_epoch if self.scheduler is not None else 0
        return done < int(self.config["warmup_steps"])

    def train_step(self, batch) -> float:
        """One Adam step on ``(first, second, warm_up)``."""
        if self.optimizer is None:
            self.optimizer, self.scheduler = self._optimizer()
        self.model.train()
        out = self.loss(*batch)
        self.optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        self.optimizer.step()
        self.scheduler.step()
        self._last = {k: float(v.detach()) for k, v in out.items()}
        return self._last["loss"]

    def views(self, pairs: torch.Tensor, rng: np.random.Generator, warm_up: bool):
        c = self.config
        first, second = patch_views(pairs, rng, int(c["patch_size"]), float(c["rotate"]), warm_up)
        return first.to(self._device()), second.to(self._device()), warm_up

    def train_batch(self, batch_size: int, data=None):
        """``batch_size`` pairs of random frames, localisation on (after the warm-up)."""
        size = int(self.config["full_size"])
        pairs = torch.rand(batch_size, 2, 3, size, size, generator=torch.Generator().manual_seed(0))
        return self.views(pairs, np.random.default_rng(0), False)

    def fit(self, data, ctx) -> None:
        c = self.config
        sampler = ClipSampler(data, "uvc", 2, int(c["max_gap"]), int(c["full_size"]),
                              cache_frames=int(c["cache_frames"]))  # fmt: skip
        ctx.note("train_frames", sampler.frames)
        self.optimizer, self.scheduler = self._optimizer()

        def step(rng):
            warm = self.warm()
            self.train_step(self.views(sampler.batch(rng, int(c["batch_size"]), True), rng, warm))
            return self._last

        train_loop(ctx, self.model, self.optimizer, self.scheduler, int(c["steps"]),
                   int(c["steps_per_epoch"]), "uvc", step)  # fmt: skip
