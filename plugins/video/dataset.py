"""The ``video`` dataset: a folder of a user's clips, with the labels they already have.

What is found, anywhere below the folder (hidden, ``__*`` and ``cache`` folders and DeepLabCut
``labeled-data/`` folders are not searched for videos):

* videos: every OpenCV-readable file with a suffix in :data:`kpbench.video.VIDEO_SUFFIXES`, and
  every folder of frame images of one size. An unreadable video (or a folder of frames of
  several sizes, refused before any training with the sizes and files) is skipped, never
  crashed on. A truncated video (fewer frames decode than its header says) is used up to its
  last decodable frame, with a warning and both counts in the ledger.
* labels (optional; readers in :mod:`kpbench_plugins.video.labels` and ``.dlc``): a DeepLabCut
  project (``config.yaml`` + ``labeled-data/<video>/CollectedData_<scorer>.h5|.csv``; stills),
  SLEAP ``.slp`` files (per-frame keypoints of a video, matched by the video's file name or the
  ``.slp``'s stem; predicted instances count only with ``use_predictions``, see
  :mod:`kpbench_plugins.video.tracks`), COCO keypoints json files
  (named ``*keypoints*.json`` or inside an ``annotations/`` folder; labelled stills, one per
  person), and per-frame phase / behaviour tables ``<video stem>.phases.csv``,
  ``<stem>.behavior.csv`` or ``<stem>.csv`` next to a video (the vocabulary is the sorted
  union of the names over the folder; frames without a label are ``-1``). A DeepLabCut ``.h5``
  that cannot be read is skipped and the ``.csv`` of the same labels beside it read instead.

Every file is listed in ``notes["files"]`` (a :class:`kpbench.dataset.FileLedger`): ``used``
(videos with ``size``, ``frames_header`` and ``frames_usable``; label files with ``labels``:
``"user"``, ``"predicted"``, ``"user+predicted"`` or ``"phases"``, and their frame or image
count), ``ignored`` (with the reason) or ``skipped`` (with the error, also logged).

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
``bbox``, visibility, ``area`` and ``image_id``; crowd annotations listed under the json's
``ignored_annotations`` in ``notes["files"]["used"]``); one per frame of a single-animal file.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kpbench.dataset import FileLedger, KeypointDataset, LabeledFrame, VideoItem, find_data_dir
from kpbench.errors import ConfigError, DataError, KpbenchError
from kpbench.video import VideoReader, imread_rgb, shown
from kpbench_plugins.video import dlc
from kpbench_plugins.video import labels as lab
from kpbench_plugins.video import phases as ph
from kpbench_plugins.video.discover import discover
from kpbench_plugins.video.names import check_names
from kpbench_plugins.video.plugin import HINT
from kpbench_plugins.video.tracks import match_tracks

log = logging.getLogger(__name__)

PHASE_SUFFIXES = (".phases.csv", ".behavior.csv", ".behaviour.csv", ".csv")


def _check_options(test_fraction, max_videos, max_alignment_mb, use_predictions) -> None:
    if not isinstance(use_predictions, bool):
        raise ConfigError(
            f"data.use_predictions={use_predictions!r}: must be true or false, e.g. --set data.use_predictions=true"
        )
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
        use_predictions: bool = False,
    ):
        super().__init__()
        _check_options(test_fraction, max_videos, max_alignment_mb, use_predictions)
        self.max_alignment_mb = float(max_alignment_mb)
        self.root = Path(root)
        self.test_fraction = float(test_fraction)
        self.files = FileLedger(self.root)
        found = discover(self.root, use_predictions)
        for path, why in found.ignored:
            self.files.ignored(path, why)
        still_sets = [s for r in found.dlc for s in dlc.read_dlc_project(r)]
        still_sets += [lab.read_coco(p) for p in found.coco]
        still_dirs = {img.parent for s in still_sets for img in s.images}
        candidates = [v for v in found.videos if v not in still_dirs]
        readers = self._open(candidates, max_videos)
        tracks = [t for p in found.slp for t in lab.read_slp(p)]
        kps, tracks = match_tracks(readers, tracks, self.files, use_predictions)
        check_names(self, [s for s in still_sets if len(s.images)] + tracks)
        phases = self._phases(readers)
        self._items = [
            i for r in readers for i in self._segments(r, kps.get(r.path), phases.get(r.path))
        ]
        self._stills = self._split_stills(still_sets)
        self._clips = self._alignment_clips(readers, phases)
        self._note_stills(still_sets)
        if not readers and not self._stills:
            files = self.files.as_dict()
            said = [f"skipped {k}: {v}" for k, v in files["skipped"].items()]
            said += [
                f"{k}: no labelled keypoint" for k, f in files["used"].items() if "labels" in f
            ]
            detail = f" ({'; '.join(said)})" if said else ""
            raise DataError(f"no readable video or labelled image in {self.root}{detail}; {HINT}")
        has_kp = bool(self._stills) or any(v.keypoints is not None for v in self._items)
        self.tasks = ("discovery2d",) if readers else ()
        self.tasks += ("alignment",) if self._clips else ()
        self.tasks += ("pose2d",) if has_kp else ()
        tracked = any(v.keypoints is not None for v in self._items)  # labelled video frames
        self.tasks += ("propagation",) if tracked else ()
        label_files = [s.label_file for s in still_sets] + sorted({t.label_file for t in tracks})
        label_files += [csv for csv, _ in phases.values()]
        for d in found.dlc:
            if (d / "config.yaml").is_file():
                self.files.used(d / "config.yaml", config="DeepLabCut project")
        seen = {k for v in self.files.as_dict().values() for k in v}
        for p in found.others:
            if p not in label_files and self.files.rel(p) not in seen:
                self.files.ignored(p, "not read (not a video or a label file this dataset reads)")
        self.notes = {
            "videos_found": len(candidates),
            "video_files": [self._rel(r.path) for r in readers],
            "label_files": [self._rel(p) for p in label_files],
            "use_predictions": bool(use_predictions),
            "files": self.files.as_dict(),
            "splits": {s: self._count(s) for s in ("train", "test")},
            "alignment": ph.notes(self._clips, [self._rel(r.path) for r in readers], self._rel),
            "labelled_frame_sizes": self._sizes(),
        }

    # -- pieces of __init__ ---------------------------------------------------------------------
    def _rel(self, path: Path) -> str:
        return self.files.rel(path)

    def _sizes(self) -> dict[str, list[str]]:
        """``"WxH"`` → the videos and still folders whose labelled frames have that size; with
        several sizes and videos to train on, one warning line at load (``discovery2d`` scores
        frames of one size and refuses the run before training; ``pose2d`` takes each size)."""
        sizes: dict[str, set[str]] = {}
        for v in self._items:
            if v.keypoints is not None:
                sizes.setdefault(f"{v.reader.width}x{v.reader.height}", set()).add(
                    self._rel(v.reader.path)
                )
        for _, f in self._stills:
            where = f.video or Path(f.source).parent.as_posix()
            sizes.setdefault("{}x{}".format(*f.image_size), set()).add(where)
        out = {k: sorted(v) for k, v in sorted(sizes.items())}
        if len(out) > 1 and "discovery2d" in self.tasks:
            say = "; ".join(
                f"{k}: {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}" for k, v in out.items()
            )
            log.warning(
                "video dataset: labelled frames of several sizes (%s); discovery2d evaluates one "
                "size and will refuse this folder before training: keep one size per data folder",
                say,
            )
        return out

    def _note_stills(self, still_sets: list[lab.Stills]) -> None:
        """Enter each still label table, the tables of the same labels not read, and the
        images left out in the ledger."""
        for s in still_sets:
            facts = {"labels": "user", "images": len(s.images)}
            if s.ignored:
                facts["ignored_annotations"] = list(s.ignored)
            self.files.used(s.label_file, **facts)
            for path, why in s.unread:
                (self.files.ignored if "same labels" in why else self.files.skipped)(path, why)
            for image, why in s.skipped:
                self.files.skipped(image, why)

    def _open(self, paths: list[Path], max_videos: int | None) -> list[VideoReader]:
        """Readers of the videos (at most ``max_videos``), each entered in the ledger: used with
        its size and frame counts (a truncated one with a warning), or skipped with the error."""
        readers: list[VideoReader] = []
        for path in paths:
            if max_videos is not None and len(readers) >= max_videos:
                self.files.ignored(path, f"beyond data.max_videos={max_videos}")
                continue
            try:
                r = VideoReader(path)
            except DataError as exc:
                self.files.skipped(path, str(exc).removeprefix(f"{path}: "))
                continue
            readers.append(r)
            self.files.used(
                path,
                size=[r.width, r.height],
                frames_header=r.header_frames,
                frames_usable=r.num_frames,
            )
            if r.header_frames > r.num_frames:
                log.warning(
                    "video dataset: %s is truncated: its header says %d frames, only %d decode; "
                    "using frames 0..%d",
                    self._rel(path), r.header_frames, r.num_frames, r.num_frames - 1,
                )  # fmt: skip
        return readers

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
                    self.files.ignored(csv, "a DeepLabCut table, not a per-frame label table")
                    continue
                frames, names = lab.read_phases(csv)
                self.files.used(csv, labels="phases", frames=len(frames))
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
                load=lambda p=img: imread_rgb(p),
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


def build(
    data_dir: Path | None = None,
    *,
    test_fraction: float = 0.2,
    max_videos: int | None = None,
    max_alignment_mb: float = ph.MAX_MB,
    use_predictions: bool = False,
    **_,
) -> VideoFolderDataset:
    """The ``video`` dataset of ``data_dir`` (default ``$KPBENCH_DATA/video``).

    Args:
        data_dir: the folder of videos and labels.
        test_fraction: fraction of labelled frames / stills in the ``"test"`` split, in [0, 1).
        max_videos: open at most this many videos; None for all.
        max_alignment_mb: the most MB one split's alignment clips may take decoded.
        use_predictions: count SLEAP predicted instances (frames without user instances, and
            ``*.predictions.slp`` files) as labels.

    Raises:
        DataError: the folder is missing or holds nothing usable (one line, with how to fix it).
    """
    root = find_data_dir("video", data_dir, HINT)
    try:
        return _build(root, test_fraction, max_videos, max_alignment_mb, use_predictions)
    except KpbenchError as exc:  # a file name that is not UTF-8: printable escapes
        raise type(exc)(shown(str(exc))) from None


def _build(root, test_fraction, max_videos, max_alignment_mb, use_predictions):
    return VideoFolderDataset(
        root,
        test_fraction=test_fraction,
        max_videos=max_videos,
        max_alignment_mb=max_alignment_mb,
        use_predictions=use_predictions,
    )
