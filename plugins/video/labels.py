"""Readers for the label formats animal-pose users already have, one function per format.

* DeepLabCut projects: in :mod:`kpbench_plugins.video.dlc` (they return :class:`Stills` too).
* SLEAP: :func:`read_slp` (``.slp``, via ``sleap_io``).
* COCO keypoints: in :mod:`kpbench_plugins.video.coco` (``person_keypoints_*.json``).
* Per-frame phase / behaviour tables: :func:`sniff_csv` and :func:`read_phases`.

Every reader returns pixels ``(x, y)`` (x right, y down) with NaN where a point is not
labelled, and raises :class:`~kpbench.errors.DataError` with one line naming the file and the
problem when a file is malformed. pandas and sleap_io are imported on first use.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kpbench.errors import DataError

PHASE_COLUMNS = ("label", "phase", "behavior", "behaviour")


@dataclass
class Stills:
    """Labelled still images read from one label file.

    Attributes:
        label_file: the file the labels come from.
        images: ``N`` image paths (existing files).
        sizes: ``N`` image sizes ``(W, H)`` in px.
        keypoints: ``(N, K, 2)`` float32 px, NaN where not labelled.
        names: the ``K`` keypoint names.
        skeleton: pairs of keypoint indices.
        ids: ``N`` annotation ids (COCO), or None per row (one label row per image).
        skipped: ``(image, reason)`` for rows left out (image missing or unreadable).
        boxes: ``N`` instance boxes ``(x, y, w, h)`` px (COCO's ``bbox``), None per row (or an
            empty list) to derive them from the keypoints.
        visibility: ``N`` ``(K,)`` int COCO visibilities (0/1/2), None per row (or empty) to
            derive them from NaN.
        areas: ``N`` object areas px² (COCO's ``area``), None per row (or empty): box w·h.
        image_ids: ``N`` the format's own image ids (COCO's ``image_id``), None per row (or empty).
        ignored: ``"annotation: reason"`` for annotations deliberately left out (COCO crowd
            regions).
        unread: ``(path, why)`` for other tables of the same labels that were not read (a
            DeepLabCut ``.csv`` beside the ``.h5`` read, or an unreadable ``.h5`` whose ``.csv``
            was read instead).
        animals: names of the animals whose keypoints sit side by side in each row (DeepLabCut
            multi-animal individuals), or None when a row is one instance.
        nodes: one animal's keypoint names when ``animals`` is set (``names`` starts with
            ``animals × nodes``, animal-major; keypoints after them belong to no animal).
    """

    label_file: Path
    images: list[Path]
    sizes: list[tuple[int, int]]
    keypoints: np.ndarray
    names: list[str]
    skeleton: list[tuple[int, int]]
    ids: list[int | None] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    boxes: list[np.ndarray | None] = field(default_factory=list)
    visibility: list[np.ndarray | None] = field(default_factory=list)
    areas: list[float | None] = field(default_factory=list)
    image_ids: list[int | None] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    animals: list[str] | None = None
    nodes: list[str] | None = None
    unread: list[tuple[Path, str]] = field(default_factory=list)

    def row(self, key: str, i: int):
        """Row ``i`` of the optional per-row list ``key`` (None where the list is empty)."""
        values = getattr(self, key)
        return values[i] if i < len(values) else None


@dataclass
class TrackLabels:
    """Per-frame keypoints of one video, read from one label file.

    Attributes:
        label_file: the file the labels come from.
        video: the video path stored in the label file (may not exist here; match it by name).
        keypoints: ``(T, K, 2)`` float32 px, NaN where not labelled; ``T`` = last labelled frame + 1.
        frames: sorted indices of the labelled frames.
        names: the ``K`` keypoint names (``<track>_<node>`` when there are several animals).
        skeleton: pairs of keypoint indices.
        animals: with several animals, their names in keypoint order (SLEAP track names, or
            ``animal<i>`` for untracked instances); None for one animal.
        nodes: one animal's keypoint names (the skeleton's nodes).
        predicted: sorted indices of frames labelled only by predicted instances (their
            keypoints are in ``keypoints`` too; a reader drops them unless they count as labels).
        scores: ``(T, K)`` float32 point scores of the predicted frames, NaN elsewhere.
        mean_score: the mean score of the predicted instances used, or None.
        untracked: the animals are SLEAP instances without tracks (``animal<i>``).
    """

    label_file: Path
    video: str
    keypoints: np.ndarray
    frames: np.ndarray
    names: list[str]
    skeleton: list[tuple[int, int]]
    animals: list[str] | None = None
    nodes: list[str] = field(default_factory=list)
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scores: np.ndarray | None = None
    mean_score: float | None = None
    untracked: bool = False


def checked_points(path: Path, keypoints: np.ndarray, names: list[str], rows) -> np.ndarray:
    """``(N, K, 2)`` float32 px with a point NaN where either coordinate is (half a point is no
    point), after checking that no coordinate is infinite or beyond float32.

    Args:
        path: the label file (named in the error); names: the ``K`` keypoint names;
        rows: ``N`` row labels (image paths, frame indices) for the error.

    Raises:
        DataError: a coordinate is infinite or too large (one line: file, row, keypoint).
    """
    kp = np.array(keypoints, np.float64)
    bad = np.argwhere(np.isinf(kp) | (np.abs(np.nan_to_num(kp)) > 1e9))
    if len(bad):
        i, k = int(bad[0][0]), int(bad[0][1])
        raise DataError(
            f"{path}: keypoint {names[k]!r} of {list(rows)[i]} has the coordinate {kp[i, k].tolist()}, "
            "not a finite pixel position; leave a point that is not labelled empty (NaN)"
        )
    kp[np.isnan(kp).any(-1)] = np.nan
    return kp.astype(np.float32)


def image_size(path: Path) -> tuple[int, int]:
    """``(W, H)`` px of an image file, reading only its header.

    Raises:
        DataError: the file is not a readable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        why = " ".join(str(exc).split())
        raise DataError(f"{path}: cannot read this image ({why})") from None


def _slp_video_name(video) -> str:
    name = video.filename
    return str(Path(name[0]).parent) if isinstance(name, list) else str(name)


def read_slp(path: Path) -> list[TrackLabels]:
    """Keypoints of a SLEAP ``.slp`` file, one :class:`TrackLabels` per video with labels.

    Frames with user (human) instances are ``frames``; frames with only predicted instances
    (``sleap-track`` output) are ``predicted``, their point scores in ``scores`` and the mean
    instance score in ``mean_score``; where a frame has both, the user instances win. Several
    animals are laid side by side into ``tracks × nodes`` keypoints named ``<track>_<node>``
    (``animal<i>_<node>`` for untracked instances), with the animals' names in ``animals`` so a
    reader can split a frame per animal again.

    Args:
        path: the ``.slp`` file.
    """
    import sleap_io as sio

    try:
        labels = sio.load_slp(str(path), open_videos=False)
        if not labels.skeletons:
            raise DataError(f"{path}: the SLEAP file has no skeleton")
        return [t for v in labels.videos if (t := _slp_video(path, labels, v)) is not None]
    except DataError:
        raise
    except Exception as exc:  # sleap_io raises h5py/KeyError/ValueError on foreign or broken files
        why = " ".join(str(exc).split())[:200]
        raise DataError(
            f"{path}: cannot read this SLEAP file ({type(exc).__name__}: {why})"
        ) from None


def _slp_video(path: Path, labels, video) -> TrackLabels | None:
    """:func:`read_slp`'s labels of one video, or None when it has no labelled frame."""
    skel = labels.skeletons[-1]
    nodes, edges = list(skel.node_names), [tuple(e) for e in skel.edge_inds]
    mine = [lf for lf in labels.labeled_frames if lf.video is video]
    user = sorted({lf.frame_idx for lf in mine if lf.has_user_instances})
    pred = sorted({lf.frame_idx for lf in mine if lf.has_predicted_instances} - set(user))
    if not user and not pred:
        return None
    scores = [i.score for lf in mine if lf.frame_idx in set(pred) for i in lf.predicted_instances]
    tracks, untracked = [t.name for t in labels.tracks], False
    arr = labels.numpy(video=video, user_instances=True, return_confidence=True)
    if arr.shape[1] == 0:  # several animals without tracks
        untracked = True
        arr = labels.numpy(video=video, untracked=True, user_instances=True, return_confidence=True)
        tracks = [f"animal{i}" for i in range(arr.shape[1])]
    arr = np.asarray(arr, np.float64)
    keep = np.zeros(len(arr), bool)
    keep[user + pred] = True
    arr[~keep] = np.nan
    conf = arr[..., 2].copy()
    conf[user] = np.nan  # user points carry no score
    xy = checked_points(
        path, arr[..., :2].reshape(len(arr), -1, 2), _names(tracks, nodes, arr), range(len(arr))
    )
    n_animals, n_nodes = arr.shape[1], len(nodes)
    names = _names(tracks, nodes, arr)
    skeleton = [(a * n_nodes + i, a * n_nodes + j) for a in range(n_animals) for i, j in edges]
    return TrackLabels(
        path, _slp_video_name(video), xy,
        np.asarray(user, np.int64), names, skeleton,
        None if n_animals == 1 else list(tracks[:n_animals]), list(nodes),
        predicted=np.asarray(pred, np.int64), scores=conf.reshape(len(arr), -1).astype(np.float32),
        mean_score=float(np.mean(scores)) if scores and np.isfinite(scores).all() else None,
        untracked=untracked,
    )  # fmt: skip


def _names(tracks: list[str], nodes: list[str], arr: np.ndarray) -> list[str]:
    """Keypoint names of a SLEAP array ``(T, animals, nodes, ...)``: the nodes for one animal,
    else ``<track>_<node>`` animal-major."""
    n = arr.shape[1]
    return list(nodes) if n == 1 else [f"{t}_{x}" for t in tracks[:n] for x in nodes]


def read_coco(path: Path) -> Stills:
    """See :func:`kpbench_plugins.video.coco.read_coco`."""
    from kpbench_plugins.video.coco import read_coco as _read

    return _read(path)


def sniff_csv(path: Path) -> str:
    """What a CSV holds, from its header: ``"dlc"``, ``"phases"`` or ``"other"``."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable UTF-8 CSV table ({type(exc).__name__})") from None
    cells = [c.strip().lower() for c in header]
    if cells and cells[0] == "scorer":
        return "dlc"
    if "frame" in cells and any(c in cells for c in PHASE_COLUMNS):
        return "phases"
    return "other"


def read_phases(path: Path) -> tuple[np.ndarray, list[str]]:
    """A per-frame phase / behaviour table: a ``frame`` column and a ``label`` (or ``phase``,
    ``behavior``, ``behaviour``) column of names.

    Rows with an empty label are left out (unlabelled frames).

    Args:
        path: the CSV file.

    Returns:
        ``(frames, names)``: int frame indices (0-based) and the label name of each.
    """
    import pandas as pd

    try:
        df = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"{path}: cannot parse this per-frame label CSV ({exc})") from None
    cols = {str(c).strip().lower(): c for c in df.columns}
    label = next((cols[c] for c in PHASE_COLUMNS if c in cols), None)
    if "frame" not in cols or label is None:
        raise DataError(
            f"{path}: a per-frame label CSV needs a 'frame' column and a 'label', 'phase' or 'behavior' "
            f"column; found columns {list(map(str, df.columns))}"
        )
    df = df[df[label].notna() & (df[label].astype(str).str.strip() != "")]
    frames = pd.to_numeric(df[cols["frame"]], errors="coerce").to_numpy()
    if np.isnan(frames).any() or (frames != np.round(frames)).any() or (frames < 0).any():
        raise DataError(f"{path}: the 'frame' column must hold whole frame indices >= 0")
    frames = frames.astype(np.int64)
    dup = pd.Series(frames).duplicated()
    if dup.any():
        raise DataError(f"{path}: frame {int(frames[dup.to_numpy()][0])} is listed twice")
    return frames, [str(v).strip() for v in df[label]]
