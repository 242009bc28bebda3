"""What a dataset plugin's ``build`` returns: videos, labelled frames, sequences, view pairs.

A concrete dataset subclasses :class:`KeypointDataset` and fills in what its tasks need (each
task's file in ``kpbench/tasks/`` says which of these it reads, and in what form):

* ``discovery2d``: :meth:`videos` (training frames) and :meth:`labeled_frames`
  (``"train"`` frames to fit the evaluation regression, ``"test"`` frames to score it);
* ``pose2d``: :meth:`labeled_instances` (one per annotated animal/person: by default
  :meth:`labeled_frames`, split per animal where :attr:`frame_instances` is set),
  :meth:`per_instance_keypoint_names`, :meth:`oks_sigmas`, :meth:`left_right`;
* ``behavior``: :meth:`sequences`;
* ``lifting3d``: :meth:`sequences3d`;
* ``multiview3d``: :meth:`view_pairs`;
* ``alignment``: :meth:`alignment_sequences`;
* ``propagation``: :meth:`propagation_videos` (by default: videos labelled in their first frame).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kpbench.files import FileLedger as FileLedger  # the ledger a dataset keeps (notes["files"])
from kpbench.video import Frames

#: OKS sigma used for every keypoint of a dataset that declares none (DeepLabCut 3's default).
DEFAULT_OKS_SIGMA = 0.1
#: COCO's 17 person keypoints and their OKS sigmas (cocoapi ``COCOeval.Params.kpt_oks_sigmas``).
COCO_PERSON_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_PERSON_SIGMAS = (
    0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062,
    0.107, 0.107, 0.087, 0.087, 0.089, 0.089,
)  # fmt: skip


def left_right_pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Keypoint index pairs whose names differ only by left/right (``left_ear``/``right_ear``,
    ``l_hip``/``r_hip``, any case; ``earL``/``earR`` and ``forelegL4``/``forelegR4``, a capital
    L/R at the end or before trailing digits), the default flip pairs of a dataset."""
    import re

    forms = [
        (r"(^|_)left(_|$)", r"\1right\2"), (r"(^|_)l(_|$)", r"\1r\2"), (r"left", "right"),
        (r"L(\d*)$", r"R\1"),
    ]  # fmt: skip
    index = {n: i for i, n in enumerate(names)}
    lower = {n.lower(): i for i, n in enumerate(names)}
    pairs = []
    for i, name in enumerate(names):
        for pattern, repl in forms:
            flags = 0 if pattern.startswith("L") else re.IGNORECASE
            if not re.search(pattern, name, flags):
                continue
            other = re.sub(pattern, repl, name, count=1, flags=flags)
            j = index.get(other, lower.get(other.lower()) if flags else None)
            if j is not None and j != i:
                pairs.append((i, j))
                break
    return pairs


@dataclass
class VideoItem:
    """A video (or a segment of one) in one split.

    Attributes:
        reader: the frames: a :class:`kpbench.video.VideoReader` (file, frame folder, image
            list), a :class:`kpbench.video.ArrayFrames` (memory), or anything with the
            :class:`kpbench.video.Frames` interface.
        split: ``"train"`` or ``"test"`` (or another split the dataset declares).
        start, stop: the segment ``[start, stop)`` in frames that belongs to this split.
        keypoints: ``(reader.num_frames, K, 2)`` px for the whole video, NaN where unlabelled,
            or None when the video has no keypoint labels.
        labels: ``(reader.num_frames,)`` int per-frame behaviour/phase labels, or None.
        vocab: label name → index for ``labels``.
        visibility: ``(reader.num_frames, K)`` bool, or None (then: labelled = visible).
        keypoints3d: ``(reader.num_frames, K, 3)`` mm in the camera frame, or None.
        camera: ``{"intrinsics": (3, 3) px, "R": (3, 3), "t": (3,) mm, "size": (W, H)}``, or None.
        subject, action: who and what (Human3.6M style), or None.
    """

    reader: Frames
    split: str
    start: int = 0
    stop: int | None = None
    keypoints: np.ndarray | None = None
    labels: np.ndarray | None = None
    vocab: dict[str, int] = field(default_factory=dict)
    visibility: np.ndarray | None = None
    keypoints3d: np.ndarray | None = None
    camera: dict | None = None
    subject: str | None = None
    action: str | None = None

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
    """One annotated frame (or one animal instance in it), its pixels loaded lazily.

    Attributes:
        source: where it comes from (``"video.mp4#12"`` or an image path).
        keypoints: ``(K, 2)`` float32 px ``(x, y)``, NaN where not labelled.
        image_size: ``(W, H)`` of the full frame in px.
        load: returns the ``(H, W, 3)`` uint8 RGB image.
        video: name of the video it belongs to, if any; ``index`` its frame index.
        visibility: ``(K,)`` int, COCO's 0 = not labelled, 1 = labelled but occluded,
            2 = visible; None derives it from the keypoints (NaN → 0, else 2).
        box: ``(4,)`` float px ``(x, y, w, h)`` of the instance; None derives it from the
            labelled keypoints' extent with a margin (:func:`box_from_keypoints`).
        instance: which animal/person in the frame (a track name, ``"resident"``, a COCO
            annotation id), or None for a frame annotated as a whole (every animal's keypoints
            side by side, or the only animal).
        area: the object's scale for OKS in px² (COCO's annotation ``area``, a segmentation
            area); None uses the box's ``w · h`` (:meth:`object_area`).
        image_id: the dataset's own id of the image (COCO's ``image_id``), shared by the
            instances of one image; None when the dataset has none.
    """

    source: str
    keypoints: np.ndarray
    image_size: tuple[int, int]
    load: Callable[[], np.ndarray]
    video: str | None = None
    index: int | None = None
    visibility: np.ndarray | None = None
    box: np.ndarray | None = None
    instance: str | None = None
    area: float | None = None
    image_id: int | None = None

    def visible(self) -> np.ndarray:
        """``(K,)`` int visibility (given, or 2 where labelled and 0 where NaN)."""
        if self.visibility is not None:
            return np.asarray(self.visibility, np.int64)
        return np.where(np.isnan(self.keypoints).any(-1), 0, 2).astype(np.int64)

    def bbox(self) -> np.ndarray:
        """``(4,)`` float px ``(x, y, w, h)``: the given box, else from the keypoints."""
        if self.box is not None:
            return np.asarray(self.box, np.float64)
        return box_from_keypoints(self.keypoints, self.image_size)

    def object_area(self) -> float:
        """The OKS object scale in px²: the given ``area``, else the box's ``w · h``."""
        if self.area is not None:
            return float(self.area)
        box = self.bbox()
        return float(box[2] * box[3])


def split_instances(frame: LabeledFrame, instances: Sequence[str], k: int) -> list[LabeledFrame]:
    """One :class:`LabeledFrame` per animal of a frame whose keypoints lay animals side by side.

    Animal ``a`` (named ``instances[a]``) owns keypoints ``[a·k, (a+1)·k)`` of ``frame``; keypoints
    after the last animal (e.g. DeepLabCut's unique bodyparts) belong to none and are left out.
    An animal with no labelled keypoint in the frame gives no instance. Each instance keeps the
    frame's source, size, pixels, video, index and image id; its box is its own keypoints' extent
    (:func:`box_from_keypoints`), its visibility the frame's slice (None: derived from NaN).
    """
    kp_all = np.asarray(frame.keypoints, np.float32)
    out = []
    for a, name in enumerate(instances):
        kp = kp_all[a * k : (a + 1) * k]
        if len(kp) < k or np.isnan(kp).all():
            continue
        vis = (
            None if frame.visibility is None else np.asarray(frame.visibility)[a * k : (a + 1) * k]
        )
        out.append(
            LabeledFrame(
                source=frame.source,
                keypoints=kp,
                image_size=frame.image_size,
                load=frame.load,
                video=frame.video,
                index=frame.index,
                visibility=vis,
                box=box_from_keypoints(kp, frame.image_size),
                instance=str(name),
                image_id=frame.image_id,
            )
        )
    return out


def box_from_keypoints(
    keypoints: np.ndarray, image_size: tuple[int, int], margin: float = 0.25
) -> np.ndarray:
    """An instance box from its labelled keypoints: their extent, grown by ``margin``.

    The extent grows by ``margin`` × its width (height) on each side, at least 8 px overall
    on each axis, clipped to the image. With no labelled keypoint: the whole image.

    Returns:
        ``(4,)`` float px ``(x, y, w, h)``.
    """
    w_img, h_img = image_size
    kp = np.asarray(keypoints, np.float64).reshape(-1, 2)
    kp = kp[~np.isnan(kp).any(-1)]
    if not len(kp):
        return np.array([0.0, 0.0, float(w_img), float(h_img)])
    lo, hi = kp.min(0), kp.max(0)
    grow = np.maximum((hi - lo) * margin, (8.0 - (hi - lo)).clip(0) / 2)
    lo = np.maximum(lo - grow, 0.0)
    hi = np.minimum(hi + grow, [float(w_img), float(h_img)])
    return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])


class KeypointDataset:
    """Base class of what ``DatasetSpec.build`` returns.

    Attributes:
        name: dataset id.
        tasks: tasks this instance can serve (e.g. ``pose2d`` only when labels exist).
        keypoint_names: names of a frame's annotated keypoints, in order (empty if none); in a
            multi-animal frame every animal's keypoints side by side (``female_head``, ...,
            ``male_head``, ...), as ``discovery2d`` regresses them.
        instance_keypoint_names: names of one instance's K keypoints (the ``pose2d`` K), or
            None when they are :attr:`keypoint_names` (read :meth:`per_instance_keypoint_names`).
        frame_instances: names of the animals whose keypoints sit side by side in a frame's
            keypoints (``["female", "male"]``), each with K = len(instance keypoint names), or
            None when a labelled frame is one instance (see :meth:`labeled_instances`).
        skeleton: pairs of keypoint indices to draw (frame-level).
        sigmas: ``(K,)`` per-keypoint OKS sigmas of one instance (COCO's definition), or None
            for the documented defaults (see :meth:`oks_sigmas`).
        flip_pairs: left/right index pairs of one instance's keypoints (swapped by a horizontal
            flip), or None for pairs found from their names (:func:`left_right_pairs`).
        root: the data folder (set by ``build``; the runner records it resolved).
        notes: facts about the data worth recording in a run record (counts, what was skipped).
    """

    name: str = ""
    tasks: tuple[str, ...] = ()
    keypoint_names: list[str]
    skeleton: list[tuple[int, int]]
    root: Path | None = None

    def __init__(self) -> None:
        self.keypoint_names = []
        self.instance_keypoint_names: list[str] | None = None
        self.frame_instances: list[str] | None = None
        self.skeleton = []
        self.sigmas: np.ndarray | None = None
        self.flip_pairs: list[tuple[int, int]] | None = None
        self.notes: dict = {}

    def per_instance_keypoint_names(self) -> list[str]:
        """Names of one instance's K keypoints: :attr:`instance_keypoint_names`, else
        :attr:`keypoint_names` (a frame is one instance)."""
        names = self.instance_keypoint_names
        return list(self.keypoint_names if names is None else names)

    def oks_sigmas(self) -> np.ndarray:
        """``(K,)`` OKS sigmas of one instance's keypoints: the dataset's; else COCO's for
        COCO's 17 person keypoints; else :data:`DEFAULT_OKS_SIGMA` for each keypoint."""
        names = self.per_instance_keypoint_names()
        if self.sigmas is not None:
            return np.asarray(self.sigmas, np.float64)
        if tuple(names) == COCO_PERSON_KEYPOINTS:
            return np.asarray(COCO_PERSON_SIGMAS, np.float64)
        return np.full(len(names), DEFAULT_OKS_SIGMA)

    def left_right(self) -> list[tuple[int, int]]:
        """Flip pairs of one instance's keypoints: the dataset's, else
        :func:`left_right_pairs` of :meth:`per_instance_keypoint_names`."""
        if self.flip_pairs is not None:
            return [tuple(p) for p in self.flip_pairs]
        return left_right_pairs(self.per_instance_keypoint_names())

    def videos(self, split: str | None = None) -> list[VideoItem]:
        """Videos (segments) of ``split`` (all splits if None)."""
        return []

    def labeled_frames(self, split: str) -> Sequence[LabeledFrame]:
        """Annotated frames of ``split``, keypoints named by :attr:`keypoint_names` (in a
        multi-animal frame every animal's side by side: ``discovery2d`` regresses them; ``pose2d``
        reads :meth:`labeled_instances`). Default: every labelled frame of :meth:`videos`."""
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
                        source=f"{_label(item.reader)}#{i}",
                        keypoints=kp.astype(np.float32),
                        image_size=(item.reader.width, item.reader.height),
                        load=(lambda r=item.reader, j=i: r.read(j)),
                        video=item.name,
                        index=i,
                        visibility=None
                        if item.visibility is None
                        else np.where(np.isnan(kp).any(-1), 0, np.where(item.visibility[i], 2, 1)),
                    )
                )
        return out

    def labeled_instances(self, split: str) -> list[LabeledFrame]:
        """One annotated instance (animal, person) per item of ``split`` (``pose2d`` samples).

        Default: :meth:`labeled_frames`; where :attr:`frame_instances` is set, each frame
        annotated as a whole (``instance`` None) is split into one :class:`LabeledFrame` per
        animal with a labelled keypoint (:func:`split_instances`), keypoints named by
        :meth:`per_instance_keypoint_names`. Frames already of one instance pass unchanged.
        """
        frames = list(self.labeled_frames(split))
        if not self.frame_instances:
            return frames
        k = len(self.per_instance_keypoint_names())
        need = k * len(self.frame_instances)
        out: list[LabeledFrame] = []
        for f in frames:
            if f.instance is None and len(f.keypoints) >= need:
                out += split_instances(f, self.frame_instances, k)
            else:
                out.append(f)
        return out

    def sequences(self, split: str) -> list[dict]:
        """Keypoint sequences with per-frame labels (``behavior`` samples)."""
        return []

    def sequences3d(self, split: str) -> list[dict]:
        """2D and 3D keypoint sequences with cameras (``lifting3d`` samples)."""
        return []

    def view_pairs(self, split: str) -> Sequence[dict]:
        """Pairs of views of one object with cameras (``multiview3d`` samples)."""
        return []

    def alignment_sequences(self, split: str) -> list[dict]:
        """Sequences of one action with per-frame phases (``alignment`` samples)."""
        return []

    def propagation_videos(self, split: str) -> list[dict]:
        """Videos with per-frame keypoints (``propagation`` samples).

        Default: every video segment of ``split`` whose first frame has a labelled keypoint,
        from that frame to the segment's end.
        """
        out = []
        for item in self.videos(split):
            if item.keypoints is None:
                continue
            rng = item.frame_range
            first = next((i for i in rng if not np.isnan(item.keypoints[i]).all()), None)
            if first is None:
                continue
            kp = np.asarray(item.keypoints[first : rng.stop], np.float64)
            vis = (
                ~np.isnan(kp).any(-1)
                if item.visibility is None
                else np.asarray(item.visibility[first : rng.stop], bool)
            )
            out.append(
                {
                    "name": f"{item.name}[{first}:{rng.stop}]",
                    "frames": item.reader,
                    "start": int(first),
                    "keypoints": kp,
                    "visibility": vis,
                    "fps": float(item.reader.fps),
                }
            )
        return out

    def _instance_layout(self) -> dict:
        """``instance_keypoint_names`` and ``frame_instances`` for :meth:`describe`, where set."""
        out = {}
        if self.instance_keypoint_names is not None:
            out["instance_keypoint_names"] = list(self.instance_keypoint_names)
        if self.frame_instances:
            out["frame_instances"] = list(self.frame_instances)
        return out

    def describe(self) -> dict:
        """A JSON-able summary for the run record (the instance layout where the dataset has one)."""
        vids = self.videos()
        return {
            "name": self.name,
            "tasks": list(self.tasks),
            "keypoint_names": list(self.keypoint_names),
            **self._instance_layout(),
            "videos": {
                s: sum(1 for v in vids if v.split == s) for s in sorted({v.split for v in vids})
            },
            **self.notes,
        }


def _label(reader) -> str:
    path = getattr(reader, "path", None)
    return path.name if path is not None else reader.name


def find_data_dir(dataset: str, data_dir: str | Path | None, hint: str) -> Path:
    """The data folder: ``data_dir`` (``--data-dir``), else ``$KPBENCH_DATA/<dataset>``.

    Raises:
        DataError: no folder was given, it does not exist, or it is a file (one line: where it
            looked + ``hint``).
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
    if root.is_file():
        raise DataError(
            f"{root} is a file, not a folder; --data-dir takes the {dataset} dataset's folder "
            f"(try --data-dir {root.parent})"
        )
    if not root.is_dir():
        raise DataError(f"{dataset} data not found at {root}; {hint}")
    return root
