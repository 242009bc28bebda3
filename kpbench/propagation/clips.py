"""Clips of consecutive frames from the train split's unlabelled videos, for self-supervised
trackers (CRW, UVC and CycleTime sample their training clips here), and their training loop.

A clip is ``length`` frames ``gap`` apart from one video's ``frame_range``, every frame resized
to ``size × size`` (the JHMDB protocol resizes without keeping the aspect ratio). Decoded
frames are cached (up to ``cache_frames``) so a small dataset is decoded once.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from kpbench.errors import DataError


class ClipSampler:
    """Random clips from ``data.videos(split)``.

    Args:
        data: a ``KeypointDataset``.
        who: the method's name, for the error message.
        length: frames per clip; gap: frames between consecutive clip frames (a video too
            short for ``gap`` is sampled with the largest gap that fits).
        size: side of the square frames (px).
        cache_frames: decoded frames kept in memory.

    Raises:
        kpbench.errors.DataError: the split has no video of at least ``length`` frames.
    """

    def __init__(self, data, who: str, length: int, gap: int, size: int,
                 split: str = "train", cache_frames: int = 20000):  # fmt: skip
        self.length, self.gap, self.size = int(length), max(1, int(gap)), int(size)
        self.videos = [v for v in data.videos(split) if len(v.frame_range) >= self.length]
        if not self.videos:
            raise DataError(
                f"{who}: dataset {data.name!r} has no {split}-split video of at least "
                f"{self.length} frames to sample training clips from (it trains on unlabelled "
                "video)"
            )
        self.weights = np.array([len(v.frame_range) for v in self.videos], np.float64)
        self.weights /= self.weights.sum()
        self.cache: OrderedDict = OrderedDict()
        self.cache_frames = int(cache_frames)

    @property
    def frames(self) -> int:
        """Frames available to sample from."""
        return int(sum(len(v.frame_range) for v in self.videos))

    def _frames(self, v: int, indices: list[int]) -> list[np.ndarray]:
        reader, size = self.videos[v].reader, (self.size, self.size)
        missing = [i for i in indices if (v, i) not in self.cache]
        if missing:
            for i, img in reader.iter_frames(missing, size):
                self.cache[(v, i)] = np.ascontiguousarray(img[..., :3])
            while len(self.cache) > self.cache_frames:
                self.cache.popitem(last=False)
        for i in indices:
            if (v, i) not in self.cache:
                raise DataError(f"{reader.name}: frame {i} could not be decoded")
            self.cache.move_to_end((v, i))
        return [self.cache[(v, i)] for i in indices]

    def clip(self, rng: np.random.Generator, random_gap: bool = False) -> torch.Tensor:
        """One clip: ``(length, 3, size, size)`` float RGB in [0, 1]; ``random_gap`` draws the
        gap uniformly from 1 .. ``gap`` (UVC's frame pairs) instead of using ``gap``."""
        v = int(rng.choice(len(self.videos), p=self.weights))
        span = self.videos[v].frame_range
        gap = int(rng.integers(1, self.gap + 1)) if random_gap else self.gap
        gap = min(gap, (len(span) - 1) // max(self.length - 1, 1)) or 1
        first = span.start + int(rng.integers(0, len(span) - (self.length - 1) * gap))
        frames = self._frames(v, [first + k * gap for k in range(self.length)])
        x = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
        return x.float() / 255.0

    def batch(self, rng: np.random.Generator, clips: int, random_gap: bool = False) -> torch.Tensor:
        """``(clips, length, 3, size, size)``."""
        return torch.stack([self.clip(rng, random_gap) for _ in range(clips)])


def train_loop(ctx, model, optimizer, scheduler, steps: int, steps_per_epoch: int, name: str,
               step) -> None:  # fmt: skip
    """The self-supervised trackers' loop: ``steps`` optimiser steps in logged epochs of
    ``steps_per_epoch`` through :func:`kpbench.training.training_loop` (checkpointed every
    ``checkpoint_every`` steps and after each epoch; resumed from the run's checkpoint).

    ``step(rng) -> dict`` draws a batch with the epoch's ``rng``, takes one optimiser step and
    returns its losses (floats; ``"loss"`` the total), averaged per epoch in the log.
    """
    import math

    from kpbench.training import training_loop

    per_epoch = int(steps_per_epoch)
    epochs = math.ceil(int(steps) / per_epoch)
    for epoch in training_loop(ctx, model, optimizer, scheduler, epochs, name):
        for _ in epoch.steps(min(per_epoch, int(steps) - epoch.index * per_epoch)):
            epoch.add(step(epoch.rng))
