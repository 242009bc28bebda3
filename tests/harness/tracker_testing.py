"""What the propagation trackers' tests share: one torch thread, a run context, and a dataset
of in-memory train videos."""

from __future__ import annotations

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
