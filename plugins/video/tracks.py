"""SLEAP labels matched to the folder's videos, user labels and predictions told apart.

A ``.slp`` file's labels of a video (:class:`~kpbench_plugins.video.labels.TrackLabels`) belong
to the video of the same file name (the name stored in the ``.slp``), else to the video named
like the ``.slp``'s stem; a video in the ``.slp``'s own folder wins over one elsewhere.

User-labelled frames always count. Frames with only predicted instances (``sleap-track``
output) count as labels only with ``use_predictions`` (``--set data.use_predictions=true``);
without it they are dropped, and a file with nothing else is listed as ignored with the reason.
Where a video is labelled by two files, a file of predictions only gives way to the other
(listed as ignored); two files of user labels for one video are an error.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kpbench.dataset import FileLedger
from kpbench.errors import DataError
from kpbench.video import VideoReader
from kpbench_plugins.video.labels import TrackLabels

log = logging.getLogger(__name__)
USE_PREDICTIONS = "count them as labels with --set data.use_predictions=true"


def _video_of(t: TrackLabels, readers: list[VideoReader]) -> VideoReader | None:
    wanted = Path(t.video.replace("\\", "/")).name
    stem = t.label_file.name[: -len(".slp")].removesuffix(".predictions")
    hits = [r for r in readers if r.path.name == wanted] or [r for r in readers if r.name == stem]
    hits.sort(key=lambda r: r.path.parent != t.label_file.parent)
    return hits[0] if hits else None


def _counted(t: TrackLabels, use_predictions: bool) -> np.ndarray:
    """The frames of ``t`` that count as labels."""
    if not use_predictions or not len(t.predicted):
        return t.frames
    return np.union1d(t.frames, t.predicted)


def match_tracks(
    readers: list[VideoReader],
    tracks: list[TrackLabels],
    ledger: FileLedger,
    use_predictions: bool = False,
) -> tuple[dict[Path, np.ndarray], list[TrackLabels]]:
    """Per-frame keypoints ``(T, K, 2)`` per video path, and the labels used.

    Each ``.slp`` file is entered in ``ledger``: used (``labels`` ``"user"``, ``"predicted"`` or
    ``"user+predicted"``, ``frames``, ``mean_score`` of the predictions used), ignored (only
    predictions without ``use_predictions``; its video already labelled by user labels), or
    skipped (its video is not in the folder).

    Raises:
        DataError: two files of user labels for one video, or labels beyond a video's frames.
    """
    out: dict[Path, np.ndarray] = {}
    owner: dict[Path, TrackLabels] = {}
    used: list[TrackLabels] = []
    for t in sorted(tracks, key=lambda t: (not len(t.frames), str(t.label_file))):
        frames = _counted(t, use_predictions)
        if not len(frames):
            why = f"predicted instances only ({len(t.predicted)} frames); {USE_PREDICTIONS}"
            ledger.ignored(t.label_file, why)
            log.warning("video dataset: %s not used as labels: %s", ledger.rel(t.label_file), why)
            continue
        reader = _video_of(t, readers)
        if reader is None:
            wanted = Path(t.video.replace("\\", "/")).name
            ledger.skipped(
                t.label_file, f"its video {wanted} is not in the folder (or is unreadable)"
            )
            continue
        if reader.path in owner:
            if len(t.frames):
                raise DataError(
                    f"{reader.path}: labelled by both {owner[reader.path].label_file} and "
                    f"{t.label_file}; keep one"
                )
            ledger.ignored(
                t.label_file,
                f"predictions for {reader.path.name}, already labelled by {owner[reader.path].label_file.name}",
            )
            continue
        last = int(frames[-1])
        if last >= reader.num_frames:
            raise DataError(
                f"{t.label_file}: labels frame {last} but {reader.path.name} has {reader.num_frames} "
                "usable frames; is it the right video (or is the video truncated)?"
            )
        kp = np.full((reader.num_frames, len(t.names), 2), np.nan, np.float32)
        kp[frames] = t.keypoints[frames]
        out[reader.path], owner[reader.path] = kp, t
        used.append(t)
        ledger.used(t.label_file, **_facts(t, frames, use_predictions))
    return out, used


def _facts(t: TrackLabels, frames: np.ndarray, use_predictions: bool) -> dict:
    n_pred = len(frames) - len(t.frames)
    kind = "+".join(k for k, n in (("user", len(t.frames)), ("predicted", n_pred)) if n)
    facts: dict = {"labels": kind, "frames": int(len(frames))}
    if n_pred:
        facts["mean_score"] = None if t.mean_score is None else round(t.mean_score, 4)
    elif len(t.predicted) and not use_predictions:
        facts["predicted_frames_not_used"] = int(len(t.predicted))
    return facts
