"""BKinD's input pipeline: decoded, resized frame caches and (t, t+T) training pairs.

As in the reference code, every frame is resized to a square ``image_size`` × ``image_size``
(ignoring the aspect ratio) and ImageNet-normalised; a pair is frame ``t`` and frame
``t + frame_gap``, and a new pair starts every ``pair_stride`` frames (reference: gap 6,
stride 7 for CalMS21 at 30 fps).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from kpbench.dataset import KeypointDataset, VideoItem

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)


def to_tensor(frames: np.ndarray) -> torch.Tensor:
    """``(N, H, W, 3)`` or ``(H, W, 3)`` uint8 RGB → ImageNet-normalised float ``(N, 3, H, W)``."""
    t = torch.from_numpy(np.ascontiguousarray(frames))
    if t.ndim == 3:
        t = t[None]
    t = t.permute(0, 3, 1, 2).float().div_(255.0)
    return (t - IMAGENET_MEAN) / IMAGENET_STD


def resize_square(frame: np.ndarray, size: int, preprocess: Callable | None = None) -> np.ndarray:
    """Apply ``preprocess`` (at full resolution, as the report did) then resize to ``size`` × ``size``."""
    import cv2

    if preprocess is not None:
        frame = preprocess(frame)
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def decode_segment(item: VideoItem, size: int, max_frames: int | None, preprocess: Callable | None):
    """Decode a video segment into ``(frames (N, size, size, 3) uint8, indices (N,))``.

    With ``max_frames`` the segment is cut to its first ``max_frames`` frames (contiguous, so
    the frame gap keeps its meaning in time).
    """
    rng = item.frame_range
    stop = rng.stop if max_frames is None else min(rng.stop, rng.start + max_frames)
    indices, frames = [], []
    for i, frame in item.reader.iter_frames(range(rng.start, stop)):
        indices.append(i)
        frames.append(resize_square(frame, size, preprocess))
    if not frames:
        return np.zeros((0, size, size, 3), np.uint8), np.zeros(0, int)
    return np.stack(frames), np.asarray(indices)


class FramePairs(Dataset):
    """(t, t+T) pairs over decoded training segments, as ImageNet-normalised tensors."""

    def __init__(self, segments: Sequence[tuple[str, np.ndarray]], gap: int, stride: int):
        self.segments = list(segments)
        self.gap = gap
        self.pairs: list[tuple[int, int]] = []
        for s, (_, frames) in enumerate(self.segments):
            self.pairs += [(s, t) for t in range(0, len(frames) - gap, stride)]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s, t = self.pairs[i]
        frames = self.segments[s][1]
        pair = to_tensor(np.stack([frames[t], frames[t + self.gap]]))
        return pair[0], pair[1]


def training_pairs(data: KeypointDataset, config: dict, preprocess: Callable | None) -> FramePairs:
    """Decode the ``train`` videos of ``data`` and build the pair dataset."""
    from kpbench.errors import DataError

    segments = []
    for item in data.videos("train"):
        frames, _ = decode_segment(
            item, config["image_size"], config["max_frames_per_video"], preprocess
        )
        if len(frames) > config["frame_gap"]:
            segments.append((item.name, frames))
    pairs = FramePairs(segments, config["frame_gap"], config["pair_stride"])
    if len(pairs) == 0:
        raise DataError(
            f"{data.name}: no training pair — the train videos are shorter than frame_gap+1="
            f"{config['frame_gap'] + 1} frames; add videos or lower --set frame_gap"
        )
    return pairs
