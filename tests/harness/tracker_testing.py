"""What the propagation trackers' tests share: one torch thread, a run context, a dataset of
in-memory train videos, and one such video (:func:`blobs`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kpbench.context import Context
from kpbench.dataset import KeypointDataset, VideoItem
from kpbench.tracking import Tracker
from kpbench.video import ArrayFrames


@pytest.fixture(autouse=True)
def one_thread():
    """Small models on a shared CPU: one thread avoids the threads waiting on each other."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def context(cfg, tmp_path) -> Context:
    """A CPU run context writing under ``tmp_path``, without tracking or progress bars."""
    return Context(cfg, torch.device("cpu"), 0, tmp_path, False, Tracker(enabled=False), False,
                   rank=0, world_size=1, local_rank=0)  # fmt: skip


class TrainVideos(KeypointDataset):
    """Unlabelled ``train`` videos from (T, H, W, 3) uint8 arrays (none: a dataset to refuse)."""

    name = "tiny"

    def __init__(self, videos=()):
        super().__init__()
        self.items = [VideoItem(ArrayFrames(v, f"v{i}"), "train") for i, v in enumerate(videos)]

    def videos(self, split=None):
        return [v for v in self.items if split in (None, v.split)]


def blobs(frames: int = 24, size: int = 32) -> np.ndarray:
    """One train video: three coloured squares drifting over a dark background."""
    rng = np.random.default_rng(0)
    video = np.full((frames, size, size, 3), 30, np.uint8)
    colours = [(230, 40, 40), (40, 220, 60), (50, 70, 240)]
    start, step = rng.uniform(4, size - 12, (3, 2)), rng.uniform(-0.6, 0.6, (3, 2))
    for t in range(frames):
        for c, p in zip(colours, start + t * step):
            x, y = np.clip(p, 0, size - 8).astype(int)
            video[t, y : y + 8, x : x + 8] = c
    return video
