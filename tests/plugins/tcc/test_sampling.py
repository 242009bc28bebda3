"""TCC's pixel augmentation: one flip, brightness and contrast per video; the flip can be off."""

from __future__ import annotations

import numpy as np
import torch

from kpbench_plugins.tcc.sampling import augment_frames


def _video() -> torch.Tensor:
    """4 frames of 3 x 8 x 8 whose left half is dark and right half bright."""
    video = torch.full((4, 3, 8, 8), 0.2)
    video[..., 4:] = 0.8
    return video


def _flipped(out: torch.Tensor) -> bool:
    return bool(out[..., :4].mean() > out[..., 4:].mean())


def test_the_flip_is_one_per_video_and_about_half_the_time():
    rng = np.random.default_rng(0)
    flips = []
    for _ in range(200):
        out = augment_frames(_video(), rng)
        per_frame = {bool(f[..., :4].mean() > f[..., 4:].mean()) for f in out}
        assert len(per_frame) == 1  # every frame of the video the same way
        flips.append(_flipped(out))
    assert 70 < sum(flips) < 130


def test_flip_off_keeps_left_and_right_and_draws_the_same_brightness():
    on, off = np.random.default_rng(1), np.random.default_rng(1)
    for _ in range(50):
        a, b = augment_frames(_video(), on), augment_frames(_video(), off, flip=False)
        assert not _flipped(b)
        torch.testing.assert_close(a.mean(), b.mean())  # same draws, only the flip differs
