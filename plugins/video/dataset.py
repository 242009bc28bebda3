"""The ``video`` dataset: a folder of a user's clips, with the labels they already have.

What is found, anywhere below the folder (hidden, ``__*`` and ``cache`` folders and DeepLabCut
``labeled-data/`` folders are not searched for videos):

* videos: every OpenCV-readable file with a suffix in :data:`kpbench.video.VIDEO_SUFFIXES`, and
  every folder of frame images. An unreadable video is skipped and reported in
  ``notes["skipped"]`` as ``"file: reason"`` (and logged), never crashed on.
* labels (optional; readers in :mod:`kpbench_plugins.video.labels` and ``.dlc``): a DeepLabCut
  project (``config.yaml`` + ``labeled-data/<video>/CollectedData_<scorer>.h5|.csv``; stills),
  SLEAP ``.slp`` files (per-frame keypoints of a video, matched by the video's file name or the
  ``.slp``'s stem; ``*.predictions.slp`` model outputs are ignored), COCO keypoints json files
  (named ``*keypoints*.json`` or inside an ``annotations/`` folder; labelled stills, one per
  person), and per-frame phase / behaviour tables ``<video stem>.phases.csv``,
  ``<stem>.behavior.csv`` or ``<stem>.csv`` next to a video (the vocabulary is the sorted
  union of the names over the folder; frames without a label are ``-1``).

Splits, with ``f = test_fraction``:

* a video with per-frame keypoints (SLEAP, synthetic scenes): frames ``[0, floor((1-f)·T))``
  are the ``"train"`` segment and the rest the ``"test"`` segment, two :class:`VideoItem` over
  one reader, so discovery training never sees a test frame;
* a video without keypoints: the whole video is ``"train"``;
* labelled stills (DeepLabCut, COCO): sorted by image path, the first ``floor((1-f)·N)``
  images are ``"train"`` and the rest ``"test"`` (all persons of one image stay together).

Tasks: ``discovery2d`` when a video is readable, ``alignment`` when a clip has a
``<stem>.phases.csv``, ``pose2d`` when labelled keypoints exist, ``propagation`` when frames of
a video are labelled (from its first labelled frame on). Every label source must name the
same keypoints (and the same animals).

Alignment: one sequence per clip with a ``.phases.csv`` table, one set per folder, split per set
by ``test_fraction``; the table format, sets, splits, phase and progress rules and the
``max_alignment_mb`` memory limit are in :mod:`kpbench_plugins.video.phases`. Clips without a
phase table are listed in ``notes["alignment"]["without_phase_table"]``.

Instances (``pose2d``): :meth:`~VideoFolderDataset.labeled_frames` is frame-level (several
animals side by side, ``<track>_<node>``, as ``discovery2d`` regresses them);
``labeled_instances`` gives one :class:`LabeledFrame` per animal of a multi-animal SLEAP file
(instance = the track name, ``animal<i>`` untracked) or DeepLabCut multi-animal project (instance
= the individual; unique bodyparts belong to no animal), with K = one animal's nodes
(``instance_keypoint_names``), the box from its keypoints' extent and animals with no labelled
node in a frame left out; one per COCO annotation (instance = the annotation id, with COCO's
``bbox``, visibility, ``area`` and ``image_id``; crowd annotations listed in
``notes["ignored"]``); one per frame of a single-animal file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kpbench.dataset import KeypointDataset, LabeledFrame, VideoItem, find_data_dir
from kpbench.errors import ConfigError, DataError
from kpbench.video import VideoReader
from kpbench_plugins.video import dlc
from kpbench_plugins.video import labels as lab
from kpbench_plugins.video import phases as ph
from kpbench_plugins.video.discover import discover
from kpbench_plugins.video.plugin import HINT

log = logging.getLogger(__name__)

PHASE_SUFFIXES = (".phases.csv", ".behavior.csv", ".behaviour.csv", ".csv")


def _check_options(test_fraction, max_videos, max_alignment_mb) -> None:
    if not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise ConfigError(
            f"data.test_fraction={test_fraction!r}: must be a number in [0, 1), e.g. --set data.test_fraction=0.2"
        )
    if max_videos is not None and (not isinstance(max_videos, int) or max_videos < 1):
        raise ConfigError(
            f"data.max_videos={max_videos!r}: must be a whole number >= 1 (or unset for all videos)"
        )
    ph.check_max_mb(max_alignment_mb)


def _cut(n: int, test_fraction: float) -> int:
    """Index of the first test element of ``n`` ordered elements."""
    return int(np.floor((1.0 - test_fraction) * n + 1e-9))


def _load_image(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DataError(f"{path}: cannot read this image (corrupt or unsupported format)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class VideoFolderDataset(KeypointDataset):
    """A folder of videos (and optional labels) as a :class:`KeypointDataset` (see the module doc).

    Args:
        root: the data folder.
        test_fraction: fraction of each labelled video (frames) and of the labelled stills
            (images) put in the ``"test"`` split, in [0, 1).
        max_videos: open at most this many videos (sorted by path); None for all.
        max_alignment_mb: the most MB one split's alignment clips may take decoded (uint8).

    Raises:
        DataError: the folder has no readable video and no labelled still, or a label file is
            malformed, or label files disagree on keypoint names.
    """

    name = "video"

    def __init__(
        self,
        root: Path,
        *,
        test_fraction: float = 0.2,
        max_videos: int | None = None,
        max_alignment_mb: float = ph.MAX_MB,
    ):
        super().__init__()
        _check_options(test_fraction, max_videos, max_alignment_mb)
        self.max_alignment_mb = float(max_alignment_mb)
        self.root = Path(root)
        self.test_fraction = float(test_fraction)
        self._skipped: list[str] = []
        found = discover(self.root)
        still_sets = [s for r in found.dlc for s in dlc.read_dlc_project(r)]
        still_sets += [lab.read_coco(p) for p in found.coco]
        still_dirs = {img.parent for s in still_sets for img in s.images}
        tracks = [t for p in found.slp for t in lab.read_slp(p)]
        self._check_names(
            [(s.label_file, s.names, s.skeleton, _layout(s)) for s in still_sets if len(s.images)]
            + [(t.label_file, t.names, t.skeleton, _layout(t)) for t in tracks]
        )
        candidates = [v for v in found.videos if v not in still_dirs]
        readers = self._open(candidates, max_videos)
        kps = self._match_tracks(readers, tracks)
        phases = self._phases(readers)
        self._items = [
            i for r in readers for i in self._segments(r, kps.get(r.path), phases.get(r.path))
        ]
        self._stills = self._split_stills(still_sets)
        self._clips = self._alignment_clips(readers, phases)
        for msg in (m for s in still_sets for m in s.skipped):
            log.warning("video dataset: skipped %s", msg)
            self._skipped.append(msg)
        found.ignored += [m for s in still_sets for m in s.ignored]
        if not readers and not self._stills:
            detail = f" (skipped: {'; '.join(self._skipped)})" if self._skipped else ""
            raise DataError(f"no readable video or labelled image in {self.root}{detail}; {HINT}")
        has_kp = bool(self._stills) or any(v.keypoints is not None for v in self._items)
        self.tasks = ("discovery2d",) if readers else ()
        self.tasks += ("alignment",) if self._clips else ()
        self.tasks += ("pose2d",) if has_kp else ()
        tracked = any(v.keypoints is not None for v in self._items)  # labelled video frames
        self.tasks += ("propagation",) if tracked else ()
        label_files = [s.label_file for s in still_sets] + sorted({t.label_file for t in tracks})
        label_files += [csv for csv, _ in phases.values()]
        found.ignored += [
            f"{self._rel(p)}: not read (not a video or a label file this dataset reads)"
            for p in found.others
            if p not in label_files and not any(d in p.parents for d in found.dlc)
        ]
        self.notes = {
            "videos_found": len(candidates),
            "video_files": [self._rel(r.path) for r in readers],
            "skipped": list(self._skipped),
            "ignored": found.ignored,
            "label_files": [self._rel(p) for p in label_files],
            "splits": {s: self._count(s) for s in ("train", "test")},
            "alignment": ph.notes(self._clips, [self._rel(r.path) for r in readers], self._rel),
        }

    # -- pieces of __init__ ---------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        try:
            return path.relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _skip(self, path: Path, reason: str) -> None:
        msg = f"{self._rel(path)}: {reason}"
        log.warning("video dataset: skipped %s", msg)
        self._skipped.append(msg)

    def _check_names(self, sources: list[tuple[Path, list[str], list, _Layout]]) -> None:
        """Every label source names the same keypoints and lays out the same animals; sets
        ``keypoint_names``, ``skeleton`` and the per-animal layout (``frame_instances``,
        ``instance_keypoint_names``) from them."""
        if not sources:
            return
        first, self.keypoint_names = sources[0][0], list(sources[0][1])
        first_layout = sources[0][3]
        for path, names, skeleton, layout in sources:
            if names != self.keypoint_names:
                raise DataError(
                    f"label files disagree on keypoint names: {first} has {self.keypoint_names}, {path} has {names}; "
                    "keep label files of one skeleton in a data folder"
                )
            if layout != first_layout:
                say = lambda lay: f"animals {list(lay[0])}" if lay else "one animal"  # noqa: E731
                raise DataError(
                    f"label files disagree on the animals in a frame: {first} labels {say(first_layout)}, "
                    f"{path} labels {say(layout)}; keep label files of one kind in a data folder"
                )
            if skeleton and not self.skeleton:
                self.skeleton = [tuple(e) for e in skeleton]
        if first_layout is not None:
            self.frame_instances = list(first_layout[0])
            self.instance_keypoint_names = list(first_layout[1])

    def _open(self, paths: list[Path], max_videos: int | None) -> list[VideoReader]:
        readers: list[VideoReader] = []
        for path in paths:
            if max_videos is not None and len(readers) >= max_videos:
                break
            try:
                readers.append(VideoReader(path))
            except DataError as exc:
                self._skip(path, str(exc).removeprefix(f"{path}: "))
        return readers

    def _match_tracks(
        self, readers: list[VideoReader], tracks: list[lab.TrackLabels]
    ) -> dict[Path, np.ndarray]:
        """Per-frame keypoints ``(T, K, 2)`` per video path, from the SLEAP labels that name it."""
        out: dict[Path, np.ndarray] = {}
        owner: dict[Path, Path] = {}
        for t in tracks:
            wanted = Path(t.video.replace("\\", "/")).name
            stem = t.label_file.name[: -len(".slp")]
            hits = [r for r in readers if r.path.name == wanted]
            hits = hits or [r for r in readers if r.name == stem]
            hits.sort(key=lambda r: r.path.parent != t.label_file.parent)
            if not hits:
                self._skip(
                    t.label_file, f"its video {wanted} is not in the folder (or is unreadable)"
                )
                continue
            reader = hits[0]
            if reader.path in owner:
                raise DataError(
                    f"{reader.path}: labelled by both {owner[reader.path]} and {t.label_file}; keep one"
                )
            last = int(t.frames[-1])
            if last >= reader.num_frames:
                raise DataError(
                    f"{t.label_file}: labels frame {last} but {reader.path.name} has {reader.num_frames} frames; "
                    "is it the right video?"
                )
            kp = np.full((reader.num_frames, len(t.names), 2), np.nan, np.float32)
            kp[: len(t.keypoints)] = t.keypoints[: reader.num_frames]
            out[reader.path], owner[reader.path] = kp, t.label_file
        return out

    def _phases(
        self, readers: list[VideoReader]
    ) -> dict[Path, tuple[Path, tuple[np.ndarray, dict[str, int]]]]:
        """Per-frame labels ``(T,)`` (−1 = unlabelled) and the shared vocabulary, per video path."""
        tables: dict[Path, tuple[Path, np.ndarray, list[str]]] = {}
        for r in readers:
            base = r.path.parent / (r.path.stem if r.path.is_file() else r.path.name)
            for suffix in PHASE_SUFFIXES:
                csv = base.with_name(base.name + suffix)
                if not csv.is_file():
                    continue
                kind = lab.sniff_csv(csv)
                if kind == "dlc":
                    self._skip(csv, "a DeepLabCut table, not a per-frame label table")
                    continue
                frames, names = lab.read_phases(csv)
                if len(frames) and frames.max() >= r.num_frames:
                    raise DataError(
                        f"{csv}: frame {int(frames.max())} is beyond {r.path.name}'s {r.num_frames} frames"
                    )
                tables[r.path] = (csv, frames, names)
                break
        every = sorted({n for _, _, names in tables.values() for n in names})
        vocab = {n: i for i, n in enumerate(every)}
        out = {}
        for path, (csv, frames, names) in tables.items():
            labels = np.full(next(r.num_frames for r in readers if r.path == path), -1, np.int64)
            labels[frames] = [vocab[n] for n in names]
            out[path] = (csv, (labels, vocab))
        return out

    def _segments(self, reader: VideoReader, kp: np.ndarray | None, phases=None) -> list[VideoItem]:
        labels, vocab = phases[1] if phases is not None else (None, {})
        if kp is None:
            return [VideoItem(reader, "train", 0, None, None, labels, dict(vocab))]
        cut = _cut(reader.num_frames, self.test_fraction)
        parts = [("train", 0, cut), ("test", cut, reader.num_frames)]
        return [VideoItem(reader, s, a, b, kp, labels, dict(vocab)) for s, a, b in parts if b > a]

    def _alignment_clips(self, readers, phases) -> list[ph.Clip]:
        tables = {r.path: phases[r.path][0] for r in readers if r.path in phases}
        return ph.split_clips(self.root, readers, tables, lambda n: _cut(n, self.test_fraction))

    def _split_stills(self, still_sets: list[lab.Stills]) -> list[tuple[str, LabeledFrame]]:
        rows = [(img, s, i) for s in still_sets for i, img in enumerate(s.images)]
        rows.sort(key=lambda r: (str(r[0]), r[1].ids[r[2]] or 0))
        images = sorted({str(img) for img, _, _ in rows})
        train = set(images[: _cut(len(images), self.test_fraction)])
        out = []
        for img, s, i in rows:
            kp = s.keypoints[i]
            if np.isnan(kp).all():
                continue
            ann, area = s.row("ids", i), s.row("areas", i)
            image_id = s.row("image_ids", i)
            frame = LabeledFrame(
                source=self._rel(img),
                keypoints=kp.astype(np.float32),
                image_size=s.sizes[i],
                load=lambda p=img: _load_image(p),
                video=img.parent.name if s.label_file.suffix.lower() in (".h5", ".csv") else None,
                visibility=s.row("visibility", i),
                box=s.row("boxes", i),
                instance=None if ann is None else str(ann),
                area=None if area is None else float(area),
                image_id=None if image_id is None else int(image_id),
            )
            out.append(("train" if str(img) in train else "test", frame))
        return out

    def _count(self, split: str) -> dict[str, int]:
        items = self.videos(split)
        labelled = 0
        for v in items:
            if v.keypoints is not None:
                seg = v.keypoints[v.frame_range.start : v.frame_range.stop]
                labelled += int((~np.isnan(seg).all(axis=(1, 2))).sum())
        return {
            "videos": len(items),
            "video_frames": sum(len(v.frame_range) for v in items),
            "labeled_video_frames": labelled,
            "labeled_stills": sum(1 for s, _ in self._stills if s == split),
            "labeled_instances": len(self.labeled_instances(split)),
        }

    # -- the KeypointDataset interface --------------------------------------------------------------
    def videos(self, split: str | None = None) -> list[VideoItem]:
        """Video segments of ``split`` (all if None)."""
        return [v for v in self._items if split is None or v.split == split]

    def alignment_sequences(self, split: str) -> list[dict]:
        """The ``split`` clips with a phase table, decoded whole (:func:`.phases.sequences`)."""
        return ph.sequences(self._clips, split, self.max_alignment_mb)

    def labeled_frames(self, split: str) -> Sequence[LabeledFrame]:
        """Labelled frames of the videos' ``split`` segments, then the labelled stills of ``split``.

        Frame-level: with several animals (SLEAP tracks, DeepLabCut individuals) every animal's
        keypoints side by side; :meth:`labeled_instances` (``pose2d``) splits them per animal.
        """
        return list(super().labeled_frames(split)) + [f for s, f in self._stills if s == split]


_Layout = tuple[tuple[str, ...], tuple[str, ...]] | None


def _layout(labels) -> _Layout:
    """``(animals, nodes)`` of a label source with several animals side by side, else None."""
    animals = getattr(labels, "animals", None)
    return None if not animals else (tuple(animals), tuple(labels.nodes))


def build(
    data_dir: Path | None = None,
    *,
    test_fraction: float = 0.2,
    max_videos: int | None = None,
    max_alignment_mb: float = ph.MAX_MB,
    **_,
) -> VideoFolderDataset:
    """The ``video`` dataset of ``data_dir`` (default ``$KPBENCH_DATA/video``).

    Args:
        data_dir: the folder of videos and labels.
        test_fraction: fraction of labelled frames / stills in the ``"test"`` split, in [0, 1).
        max_videos: open at most this many videos; None for all.
        max_alignment_mb: the most MB one split's alignment clips may take decoded.

    Raises:
        DataError: the folder is missing or holds nothing usable (one line, with how to fix it).
    """
    root = find_data_dir("video", data_dir, HINT)
    return VideoFolderDataset(
        root, test_fraction=test_fraction, max_videos=max_videos, max_alignment_mb=max_alignment_mb
    )
