"""CalMS21 (Sun et al., NeurIPS 2021 Datasets & Benchmarks): two mice, MARS keypoints, behaviours.

Reads the official files (https://data.caltech.edu/records/s0vdx-0k302) as released:
``calms21_task{1,2,3}_{train,test}.json`` and, for the video tasks, ``task1_videos_mp4/{train,test}/
<stem>.mp4``. Keypoints are pixels of 1024 × 570 frames at 30 fps; mouse 0 is the (black)
resident, mouse 1 the (white) intruder; parts are nose, left ear, right ear, neck, left hip,
right hip, tail base. Class vocabularies are read from each record's metadata (the index of
"other" is 3 in tasks 1/2 and 0 in task 3). Parsed JSON is cached as npz (see ``cache.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kpbench.dataset import FileLedger, KeypointDataset, VideoItem, find_data_dir
from kpbench.errors import ConfigError, DataError
from kpbench.tasks.behavior import BehaviorSequence
from kpbench.video import VideoReader

from .cache import CachedFile, SeqInfo, cache_dir_for, open_cached
from .plugin import DATA_HINT

PARTS = ("nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base")
MICE = ("resident", "intruder")
KEYPOINT_NAMES = [f"{mouse}_{part}" for mouse in MICE for part in PARTS]
_EDGES = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (3, 5), (4, 6), (5, 6)]
SKELETON = [(a + 7 * m, b + 7 * m) for m in range(len(MICE)) for a, b in _EDGES]
FPS = 30.0
FRAME_SIZE = (1024, 570)  # (W, H) px of the official videos
SPLITS = ("train", "test")
DOWNLOAD = "https://data.caltech.edu/records/s0vdx-0k302"


@dataclass
class _Sequence:
    file: CachedFile
    info: SeqInfo
    split: str
    name: str
    video: Path | None


def to_frames_k2(keypoints: np.ndarray) -> np.ndarray:
    """Official ``(T, 2 mice, 2 coords, 7 parts)`` → ``(T, 2, 7, 2)`` with the last axis (x, y)."""
    return np.ascontiguousarray(np.transpose(keypoints, (0, 1, 3, 2)))


class CalMS21Dataset(KeypointDataset):
    """One CalMS21 folder: behaviour sequences, and videos where the mp4 files are present.

    Args:
        root: the data folder.
        task: CalMS21 task 1, 2 or 3 (which JSON files to read).
        max_sequences: keep only the first N sequences of each split (None: all).

    Attributes:
        tasks: ``("behavior",)``, plus ``discovery2d``, ``pose2d`` and ``propagation`` (the
            14 keypoints of both mice, tracked from each video's first frame) when every loaded
            split has videos.
        keypoint_names: 14 names, ``resident_nose`` … ``intruder_tail_base`` (a frame: both
            mice side by side, what ``discovery2d`` regresses).
        instance_keypoint_names: the 7 MARS parts of one mouse (:data:`PARTS`), the ``pose2d`` K.
        frame_instances: ``["resident", "intruder"]``: ``labeled_instances`` gives one
            ``pose2d`` instance per mouse per frame (mouse 0 is the resident).
    """

    name = "calms21"

    def __init__(self, root: Path, task: int = 1, max_sequences: int | None = None):
        super().__init__()
        self.root = Path(root)
        self.task = task
        self.keypoint_names = list(KEYPOINT_NAMES)
        self.instance_keypoint_names = list(PARTS)
        self.frame_instances = list(MICE)
        self.skeleton = list(SKELETON)
        self._readers: dict[Path, VideoReader] = {}
        cache_dir = cache_dir_for(self.root)
        files = _find_json(self.root, task)
        self._seqs: list[_Sequence] = []
        for split, path in files.items():
            cached = open_cached(path, cache_dir)
            infos = cached.sequences[:max_sequences] if max_sequences else cached.sequences
            for info in infos:
                name = info.seq_id if task == 1 else f"{info.group}/{info.seq_id}"
                video = _find_video(self.root, task, split, info.seq_id)
                self._seqs.append(_Sequence(cached, info, split, name, video))
        splits = [split for split in SPLITS if any(s.split == split for s in self._seqs)]
        with_video = {s.split for s in self._seqs if s.video is not None}
        video_tasks = (
            ("discovery2d", "pose2d", "propagation")
            if with_video and with_video == set(splits)
            else ()
        )
        self.tasks = (*video_tasks, "behavior")
        self.notes = {
            "task": task,
            "files": self._ledger(files, cache_dir),
            "cache": str(cache_dir),
            "splits": {split: self._split_counts(split) for split in splits},
            "vocab": self._vocab_note(),
        }

    def _ledger(self, files: dict[str, Path], cache_dir: Path) -> dict:
        """Each JSON and video used (what it gave) and each other JSON/mp4 file ignored (why)."""
        ledger = FileLedger(self.root)
        for split, path in files.items():
            seqs = [s for s in self._seqs if s.file.source == path]
            ledger.used(path, split=split, sequences=len(seqs),
                        frames=sum(s.info.frames for s in seqs))  # fmt: skip
        for seq in self._seqs:
            if seq.video is not None:
                ledger.used(seq.video, split=seq.split, sequence=seq.name)
        used = set(files.values()) | {s.video for s in self._seqs if s.video is not None}
        for path in sorted({*self.root.rglob("*.json"), *self.root.rglob("*.mp4")}):
            if path in used or cache_dir in path.parents:
                continue
            ledger.ignored(path, _why_ignored(path, self.task))
        return ledger.as_dict()

    def _split_counts(self, split: str) -> dict[str, int]:
        seqs = [s for s in self._seqs if s.split == split]
        return {
            "sequences": len(seqs),
            "frames": sum(s.info.frames for s in seqs),
            "labelled_frames": sum(s.info.frames for s in seqs if s.info.labelled),
            "videos": sum(1 for s in seqs if s.video is not None),
        }

    def _vocab_note(self) -> dict:
        by_group = {s.info.group: s.info.vocab for s in self._seqs if s.info.vocab}
        vocabs = {tuple(sorted(v.items())) for v in by_group.values()}
        return next(iter(by_group.values())) if len(vocabs) == 1 else by_group

    def _reader(self, seq: _Sequence) -> VideoReader:
        """The video of ``seq``, opened once; its frame count must equal the label frame count."""
        assert seq.video is not None
        reader = self._readers.get(seq.video)
        if reader is None:
            reader = VideoReader(seq.video)
            if reader.num_frames != seq.info.frames:
                raise DataError(
                    f"{seq.video}: video has {reader.num_frames} frames but {seq.file.source.name} sequence "
                    f"{seq.info.seq_id!r} has {seq.info.frames} keypoint frames; use the video of that recording "
                    "(re-extract task1_videos_mp4.zip)"
                )
            self._readers[seq.video] = reader
        return reader

    def videos(self, split: str | None = None) -> list[VideoItem]:
        """Videos of ``split`` (all if None) with keypoints ``(T, 14, 2)`` px and labels ``(T,)``.

        Raises:
            DataError: a video's frame count differs from its sequence's label frame count.
        """
        out = []
        for seq in self._seqs:
            if seq.video is None or (split is not None and seq.split != split):
                continue
            reader = self._reader(seq)
            kp, _, labels = seq.file.load(seq.info)
            out.append(
                VideoItem(
                    reader=reader,
                    split=seq.split,
                    keypoints=to_frames_k2(kp)
                    .reshape(len(kp), len(KEYPOINT_NAMES), 2)
                    .astype(np.float32),
                    labels=labels,
                    vocab=dict(seq.info.vocab),
                )
            )
        return out

    def sequences(self, split: str) -> list[BehaviorSequence]:
        """Behaviour sequences of ``split``: keypoints ``(T, 2, 7, 2)`` px, scores ``(T, 2, 7)``, labels ``(T,)``."""
        out: list[BehaviorSequence] = []
        for seq in self._seqs:
            if seq.split != split:
                continue
            kp, scores, labels = seq.file.load(seq.info)
            out.append(
                {
                    "name": seq.name,
                    "keypoints": to_frames_k2(kp),
                    "scores": scores,
                    "labels": labels,
                    "vocab": dict(seq.info.vocab),
                    "fps": FPS,
                }
            )
        return out

    def describe(self) -> dict:
        """Summary for the run record, without opening any video."""
        return {
            "name": self.name,
            "tasks": list(self.tasks),
            "keypoint_names": list(self.keypoint_names),
            **self._instance_layout(),
            "videos": {split: c["videos"] for split, c in self.notes["splits"].items()},
            **self.notes,
        }


def _find_json(root: Path, task: int) -> dict[str, Path]:
    """``{split: path}`` of ``calms21_task{task}_{split}.json`` in ``root`` or one folder below."""
    found: dict[str, Path] = {}
    for split in SPLITS:
        name = f"calms21_task{task}_{split}.json"
        candidates = [root / name, *sorted(root.glob(f"*/{name}"))]
        path = next((p for p in candidates if p.is_file()), None)
        if path is not None:
            found[split] = path
    if not found:
        present = sorted(p.name for p in root.glob("*.json"))[:6]
        raise DataError(
            f"calms21: no calms21_task{task}_{{train,test}}.json in {root} or its subfolders "
            f"(JSON files there: {', '.join(present) or 'none'}); {DATA_HINT}"
        )
    return found


def _why_ignored(path: Path, task: int) -> str:
    if path.suffix == ".mp4":
        return "no sequence of the loaded JSON files has this video's name"
    if re.fullmatch(r"calms21_task\d_(train|test)\.json", path.name):
        return f"another task's file (task={task} reads calms21_task{task}_{{train,test}}.json)"
    return "not a calms21_task<N>_{train,test}.json file (or a second copy of one)"


def _find_video(root: Path, task: int, split: str, seq_id: str) -> Path | None:
    """The mp4 named after the last part of ``seq_id``, if any."""
    stem = seq_id.rstrip("/").split("/")[-1]
    for folder in (root / "videos", root / f"task{task}_videos_mp4" / split, root):
        path = folder / f"{stem}.mp4"
        if path.is_file():
            return path
    return None


def build(
    data_dir: Path | str | None = None, *, task: int = 1, max_sequences: int | None = None, **_
) -> CalMS21Dataset:
    """Open a CalMS21 folder.

    Args:
        data_dir: the folder holding the JSON files (default: ``$KPBENCH_DATA/calms21``).
        task: CalMS21 task 1, 2 or 3.
        max_sequences: keep only the first N sequences of each split (None: all).

    Raises:
        DataError: the folder or its files are missing or malformed (one line).
        ConfigError: ``task`` or ``max_sequences`` is invalid.
    """
    if task not in (1, 2, 3, "1", "2", "3"):
        raise ConfigError(f"calms21: task={task!r} is not a CalMS21 task; use task=1, 2 or 3")
    if max_sequences is not None and (not isinstance(max_sequences, int) or max_sequences < 1):
        raise ConfigError(
            f"calms21: max_sequences={max_sequences!r} must be a positive integer or unset"
        )
    root = find_data_dir("calms21", data_dir, DATA_HINT)
    return CalMS21Dataset(root, task=int(task), max_sequences=max_sequences)
