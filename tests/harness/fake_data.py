"""A dataset for task tests: every per-task accessor returns the samples given for a split."""

from __future__ import annotations

from kpbench.dataset import KeypointDataset


class SplitData(KeypointDataset):
    """``SplitData({"train": [...], "test": [...]})``: each accessor returns one split's samples."""

    name = "fake"

    def __init__(self, splits: dict):
        super().__init__()
        self.splits = splits

    def _split(self, split: str) -> list:
        return list(self.splits.get(split, []))

    sequences = sequences3d = view_pairs = alignment_sequences = propagation_videos = _split
