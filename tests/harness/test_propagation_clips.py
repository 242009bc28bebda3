"""kpbench.propagation.clips: training clips from the train split's videos, and the trackers'
training loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kpbench.context import Context
from kpbench.dataset import KeypointDataset, VideoItem
from kpbench.errors import DataError
from kpbench.propagation.clips import ClipSampler, train_loop
from kpbench.tracking import Tracker
from kpbench.video import ArrayFrames


class Counting(KeypointDataset):
    """Videos whose frame i is filled with the value i (so a clip shows which frames it read)."""

    name = "counting"

    def __init__(self, lengths=(30, 6), test=(50,)):
        super().__init__()
        self.items = [
            VideoItem(ArrayFrames(np.arange(n, dtype=np.uint8)[:, None, None, None]
                                  .repeat(8, 1).repeat(8, 2).repeat(3, 3), f"{split}{i}"), split)
            for split, ns in (("train", lengths), ("test", test)) for i, n in enumerate(ns)
        ]  # fmt: skip

    def videos(self, split=None):
        return [v for v in self.items if split in (None, v.split)]


def frame_ids(clip: torch.Tensor) -> list[int]:
    return [round(float(f.mean()) * 255) for f in clip]


def test_clips_are_consecutive_frames_gap_apart_from_the_train_split():
    sampler = ClipSampler(Counting(), "m", length=4, gap=3, size=4)
    assert sampler.frames == 36 and len(sampler.videos) == 2
    rng = np.random.default_rng(0)
    for _ in range(20):
        clip = sampler.clip(rng)
        assert clip.shape == (4, 3, 4, 4) and 0 <= float(clip.min()) <= float(clip.max()) <= 1
        ids = frame_ids(clip)
        step = ids[1] - ids[0]
        assert ids == [ids[0] + k * step for k in range(4)]
        assert step in (3, 1)  # the 6-frame video is too short for gap 3: the largest that fits
        assert ids[-1] < 30


def test_random_gaps_are_drawn_up_to_gap():
    sampler = ClipSampler(Counting(lengths=(60,)), "m", length=2, gap=5, size=4)
    rng = np.random.default_rng(1)
    gaps = {np.diff(frame_ids(sampler.clip(rng, random_gap=True)))[0] for _ in range(200)}
    assert gaps == {1, 2, 3, 4, 5}
    assert sampler.batch(rng, 3, random_gap=True).shape == (3, 2, 3, 4, 4)


def test_the_cache_keeps_at_most_cache_frames():
    sampler = ClipSampler(Counting(), "m", length=3, gap=1, size=4, cache_frames=5)
    rng = np.random.default_rng(2)
    for _ in range(10):
        sampler.clip(rng)
        assert len(sampler.cache) <= 5


def test_no_long_enough_train_video_is_refused_in_one_line():
    with pytest.raises(DataError, match="no train-split video of at least 8 frames"):
        ClipSampler(Counting(lengths=(6,)), "crw", length=8, gap=1, size=4)


def test_train_loop_logs_epochs_checkpoints_and_resumes(tmp_path):
    model = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    ctx = Context({}, torch.device("cpu"), 0, tmp_path, False, Tracker(enabled=False), False,
                  rank=0, world_size=1, local_rank=0)  # fmt: skip
    calls = []

    def step(rng):
        calls.append(float(rng.random()))
        return {"loss": float(len(calls))}

    train_loop(ctx, model, opt, sched, steps=5, steps_per_epoch=2, name="t", step=step)
    assert len(calls) == 5
    assert [h["epoch"] for h in ctx.history] == [0, 1, 2]
    assert [h["loss"] for h in ctx.history] == [1.5, 3.5, 5.0]  # per-epoch means
    resumed = Context({}, torch.device("cpu"), 0, tmp_path, True, Tracker(enabled=False), False,
                      rank=0, world_size=1, local_rank=0)  # fmt: skip
    calls.clear()
    train_loop(resumed, model, opt, sched, steps=7, steps_per_epoch=2, name="t", step=step)
    assert len(calls) == 1  # epochs 0-2 done: only epoch 3 (one step) is left
