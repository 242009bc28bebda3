"""What a dataset plugin's ``build`` returns: videos, labelled frames and behaviour sequences.

A concrete dataset subclasses :class:`KeypointDataset` and fills in what its tasks need:

* ``discovery2d``: :meth:`videos` (training frames) and :meth:`labeled_frames`
  (``"train"`` frames to fit the evaluation regression, ``"test"`` frames to score it);
* ``pose2d``: :meth:`labeled_frames`;
* ``behavior``: :meth:`sequences`;
* ``alignment``: :meth:`videos`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kpbench.types import BehaviorSequence, LabeledFrameSample
from kpbench.video import VideoReader


@dataclass
class VideoItem:
    """A video (or a segment of one) in one split.

    Attributes:
        reader: the frames.
        split: ``"train"`` or ``"test"`` (or another split the dataset declares).
        start, stop: the segment ``[start, stop)`` in frames that belongs to this split.
        keypoints: ``(reader.num_frames, K, 2)`` px for the whole video, NaN where unlabelled,
            or None when the video has no keypoint labels.
        labels: ``(reader.num_frames,)`` int per-frame behaviour/phase labels, or None.
        vocab: label name → index for ``labels``.
    """

    reader: VideoReader
    split: str
    start: int = 0
    stop: int | None = None
    keypoints: np.ndarray | None = None
    labels: np.ndarray | None = None
    vocab: dict[str, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.reader.name

    @property
    def frame_range(self) -> range:
        stop = (
            self.reader.num_frames if self.stop is None else min(self.stop, self.reader.num_frames)
        )
        return range(self.start, stop)


@dataclass
class LabeledFrame:
    """One annotated frame, its pixels loaded lazily.

    Attributes:
        source: where it comes from (``"video.mp4#12"`` or an image path).
        keypoints: ``(K, 2)`` float32 px ``(x, y)``, NaN where not labelled.
        image_size: ``(W, H)`` of the full frame in px.
        load: returns the ``(H, W, 3)`` uint8 RGB image.
        video: name of the video it belongs to, if any; ``index`` its frame index.
    """

    source: str
    keypoints: np.ndarray
    image_size: tuple[int, int]
    load: Callable[[], np.ndarray]
    video: str | None = None
    index: int | None = None

    def sample(self) -> LabeledFrameSample:
        return {"image": self.load(), "keypoints": self.keypoints, "source": self.source}


class KeypointDataset:
    """Base class of what ``DatasetSpec.build`` returns.

    Attributes:
        name: dataset id.
        tasks: tasks this instance can serve (e.g. ``pose2d`` only when labels exist).
        keypoint_names: names of the annotated keypoints, in order (empty if none).
        skeleton: pairs of keypoint indices to draw.
        root: the data folder.
        notes: facts about the data worth recording in a run record (counts, what was skipped).
    """

    name: str = ""
    tasks: tuple[str, ...] = ()
    keypoint_names: list[str]
    skeleton: list[tuple[int, int]]

    def __init__(self) -> None:
        self.keypoint_names = []
        self.skeleton = []
        self.notes: dict = {}

    def videos(self, split: str | None = None) -> list[VideoItem]:
        """Videos (segments) of ``split`` (all splits if None)."""
        return []

    def labeled_frames(self, split: str) -> Sequence[LabeledFrame]:
        """Annotated frames of ``split``. Default: every labelled frame of :meth:`videos`."""
        out: list[LabeledFrame] = []
        for item in self.videos(split):
            if item.keypoints is None:
                continue
            for i in item.frame_range:
                kp = item.keypoints[i]
                if np.isnan(kp).all():
                    continue
                out.append(
                    LabeledFrame(
                        source=f"{item.reader.path.name}#{i}",
                        keypoints=kp.astype(np.float32),
                        image_size=(item.reader.width, item.reader.height),
                        load=(lambda r=item.reader, j=i: r.read(j)),
                        video=item.name,
                        index=i,
                    )
                )
        return out

    def sequences(self, split: str) -> list[BehaviorSequence]:
        """Keypoint sequences with per-frame labels (``behavior`` task)."""
        return []

    def describe(self) -> dict:
        """A JSON-able summary for the run record."""
        vids = self.videos()
        return {
            "name": self.name,
            "tasks": list(self.tasks),
            "keypoint_names": list(self.keypoint_names),
            "videos": {
                s: sum(1 for v in vids if v.split == s) for s in sorted({v.split for v in vids})
            },
            **self.notes,
        }


def find_data_dir(dataset: str, data_dir: str | Path | None, hint: str) -> Path:
    """The data folder: ``data_dir`` (``--data-dir``), else ``$KPBENCH_DATA/<dataset>``.

    Raises:
        DataError: no folder was given, or it does not exist (one line: where it looked + ``hint``).
    """
    import os

    from kpbench.errors import DataError

    if data_dir is None:
        if "KPBENCH_DATA" not in os.environ:
            raise DataError(
                f"{dataset} data not found (no --data-dir given and $KPBENCH_DATA is not set); {hint}"
            )
        data_dir = Path(os.environ["KPBENCH_DATA"]) / dataset
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise DataError(f"{dataset} data not found at {root}; {hint}")
    return root
