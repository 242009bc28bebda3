"""Training clips for the colour-copying trackers: frames of the train split's unlabelled
videos at given offsets.

A clip is the frames ``first + offsets`` of one video's ``frame_range`` (a video drawn in
proportion to its length, ``first`` uniform), each resized to ``size × size`` (the papers
resize to 256 × 256 without keeping the aspect ratio). A video shorter than the offsets
span is sampled with the offsets scaled down to fit. Resized frames are cached (up to
``cache`` frames), so a small dataset is decoded once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import cv2
import numpy as np
import torch

from kpbench.errors import DataError


class ClipSource:
    """Clips of ``data.videos("train")``.

    Args:
        data: a ``KeypointDataset``.
        who: the method's name, for the error message.
        min_frames: the shortest video worth sampling (a clip's frame count).
        size: side of the square frames, px.
        cache: resized frames kept in memory.

    Raises:
        kpbench.errors.DataError: no train-split video has ``min_frames`` frames.
    """

    def __init__(self, data, who: str, min_frames: int, size: int, cache: int = 20000):
        videos = list(data.videos("train"))
        self.videos = [v for v in videos if len(v.frame_range) >= int(min_frames)]
        if not self.videos:
            raise DataError(
                f"{who}: dataset {data.name!r} has no train-split video of at least "
                f"{int(min_frames)} frames ({len(videos)} train videos) to learn from; it "
                "trains on the unlabelled frames of the train split"
            )
        lengths = np.array([len(v.frame_range) for v in self.videos], np.float64)
        self.weights = lengths / lengths.sum()
        self.size, self.cache = int(size), int(cache)
        self._frames: OrderedDict = OrderedDict()

    def frame(self, v: int, i: int) -> np.ndarray:
        """Frame ``i`` of video ``v``, ``(S, S, 3)`` uint8 RGB."""
        key = (v, i)
        if key not in self._frames:
            img = np.asarray(self.videos[v].reader.read(i))[..., :3]
            self._frames[key] = cv2.resize(
                img, (self.size, self.size), interpolation=cv2.INTER_AREA
            )
            while len(self._frames) > self.cache:
                self._frames.popitem(last=False)
        self._frames.move_to_end(key)
        return self._frames[key]

    def indices(self, rng: np.random.Generator, v: int, offsets: Sequence[int]) -> list[int]:
        """Frame indices of video ``v`` at ``offsets`` (ascending, from 0) after a random start."""
        span = self.videos[v].frame_range
        off = np.asarray(offsets, np.int64)
        if off[-1] >= len(span):
            off = np.floor(off * (len(span) - 1) / max(int(off[-1]), 1)).astype(np.int64)
        first = span.start + int(rng.integers(0, len(span) - int(off[-1])))
        return [first + int(o) for o in off]

    def clip(self, rng: np.random.Generator, offsets: Sequence[int]) -> torch.Tensor:
        """``(L, 3, S, S)`` float RGB in [0, 1]: a random video's frames at ``offsets``."""
        v = int(rng.choice(len(self.videos), p=self.weights))
        frames = np.stack([self.frame(v, i) for i in self.indices(rng, v, offsets)])
        return torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255

    def batch(self, rng: np.random.Generator, offsets: Sequence[int], clips: int) -> torch.Tensor:
        """``(clips, L, 3, S, S)``, every clip at ``offsets``."""
        return torch.stack([self.clip(rng, offsets) for _ in range(int(clips))])


def spaced(length: int, gap: int) -> list[int]:
    """``[0, gap, 2·gap, …]``: ``length`` offsets ``gap`` apart."""
    return [k * int(gap) for k in range(int(length))]
