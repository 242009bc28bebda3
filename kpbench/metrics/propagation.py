"""Metrics of the ``propagation`` task: JHMDB PCK of propagated keypoints, and its plot.

**PCK@α** (%), CRW/UVC's ``eval_pck``: in every scored frame a visible ground-truth keypoint
is correct when ``‖predicted − true‖ ≤ α × normaliser``, the normaliser being 0.6 × the
diagonal of the box around that frame's visible ground-truth keypoints. Scored frames are
frames 1..T−1 of every video (frame 0 is given) that have a normaliser (at least two
distinct visible keypoints). Per joint: the % of its scored instances that are correct,
pooled over all videos; the value is the mean over joints with at least one instance.

Breakdowns: ``per_keypoint`` (the per-joint PCKs) and ``per_frame``: the same per-joint-then-
mean PCK at each frame index (pooled over videos), keyed by the index, or by ``"a-b"`` bins
of equal width when the videos are longer than :data:`MAX_TIME_BINS` frames.

The exporter :func:`write_plot` draws ``pck_over_time.png``: PCK@0.1 and @0.2 against the
frame index for the method, and for the held-still prediction (frame 0's keypoints in every
frame) as a reference, from the evaluation record alone.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

PropagationEvaluation = dict  # the record's form is documented in kpbench.tasks.propagation
#: At most this many entries in the ``per_frame`` breakdown (longer videos are binned).
MAX_TIME_BINS = 50


def _names(ev: PropagationEvaluation, k: int) -> list[str]:
    names = list(ev.get("keypoint_names") or [])
    return names if len(names) == k else [f"keypoint_{j}" for j in range(k)]


def _scored(ev: PropagationEvaluation) -> np.ndarray:
    """(F, K) bool: visible keypoints of frames after the first that have a normaliser."""
    norm = np.asarray(ev["normaliser"], np.float64)
    frame_ok = (np.asarray(ev["frame"]) > 0) & np.isfinite(norm) & (norm > 0)
    return np.asarray(ev["visible"], bool) & frame_ok[:, None]


def correct(ev: PropagationEvaluation, alpha: float, predicted=None) -> np.ndarray:
    """(F, K) bool: error ≤ α × normaliser (False where not scored).

    ``predicted`` replaces the record's prediction (e.g. the held-still reference).
    """
    pred = np.asarray(ev["predicted"] if predicted is None else predicted, np.float64)
    err = np.linalg.norm(pred - np.asarray(ev["target"], np.float64), axis=-1)
    norm = np.asarray(ev["normaliser"], np.float64)[:, None]
    with np.errstate(invalid="ignore"):
        return _scored(ev) & (err <= alpha * norm)


def _joint_mean(hits: np.ndarray, scored: np.ndarray) -> tuple[float, np.ndarray]:
    """Per-joint % correct over the rows (NaN for a joint never scored) and their mean."""
    counts = scored.sum(0)
    per_joint = np.full(scored.shape[1], np.nan)
    per_joint[counts > 0] = 100.0 * hits.sum(0)[counts > 0] / counts[counts > 0]
    ok = ~np.isnan(per_joint)
    return (float(per_joint[ok].mean()) if ok.any() else float("nan")), per_joint


def time_bins(frame: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Bin index (F,) of each frame (−1 for frame 0) and the bins' labels."""
    frame = np.asarray(frame, np.int64)
    last = int(frame.max()) if len(frame) else 0
    width = max(1, math.ceil(last / MAX_TIME_BINS))
    n = math.ceil(last / width) if last else 0
    labels = [
        str(1 + b * width) if width == 1 else f"{1 + b * width}-{min(last, (b + 1) * width)}"
        for b in range(n)
    ]
    return np.where(frame > 0, (frame - 1) // width, -1), labels


def over_time(ev: PropagationEvaluation, alpha: float, predicted=None) -> dict[str, float]:
    """PCK@α per frame index (or bin): per joint over the videos, then mean over joints."""
    hits, scored = correct(ev, alpha, predicted), _scored(ev)
    bins, labels = time_bins(ev["frame"])
    return {
        label: _joint_mean(hits[bins == b], scored[bins == b])[0] for b, label in enumerate(labels)
    }


def pck(ev: PropagationEvaluation, alpha: float) -> tuple[float, dict]:
    """PCK@α (%), with ``per_keypoint`` and ``per_frame`` breakdowns (module docs).

    Raises:
        ValueError: no visible keypoint in any scored frame.
    """
    scored = _scored(ev)
    if not scored.any():
        raise ValueError(
            "propagation PCK: no visible keypoint in a frame after the first with a normaliser "
            "(two distinct visible keypoints); nothing to score"
        )
    value, per_joint = _joint_mean(correct(ev, alpha), scored)
    names = _names(ev, scored.shape[1])
    return value, {
        "per_keypoint": {n: float(v) for n, v in zip(names, per_joint)},
        "per_frame": over_time(ev, alpha),
    }


def held_still(ev: PropagationEvaluation) -> np.ndarray:
    """(F, K, 2): each video's frame-0 target in all its frames (NaN → 0, as the baseline)."""
    target = np.nan_to_num(np.asarray(ev["target"], np.float64), nan=0.0)
    lengths = np.asarray(ev["lengths"], np.int64)
    firsts = np.cumsum(lengths) - lengths
    return np.repeat(target[firsts], lengths, axis=0)


def write_plot(ev: PropagationEvaluation, folder) -> dict:
    """Write ``pck_over_time.png``: PCK@0.1 and @0.2 against frame index (method, solid; held
    still, dashed), atomically (a temporary file renamed over it).

    Returns:
        ``{"pck_plot": path}``.

    Raises:
        ValueError: nothing to score (as :func:`pck`).
    """
    from matplotlib.figure import Figure

    if not _scored(ev).any():
        raise ValueError("propagation plot: no visible keypoint in a scored frame; nothing to plot")
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    still = held_still(ev)
    for alpha, colour in ((0.1, "tab:blue"), (0.2, "tab:orange")):
        method, ref = over_time(ev, alpha), over_time(ev, alpha, still)
        x = np.arange(1, len(method) + 1)
        ax.plot(x, list(method.values()), "-o", ms=3, color=colour, label=f"method PCK@{alpha}")
        ax.plot(x, list(ref.values()), "--", color=colour, alpha=0.6, label=f"held still @{alpha}")
    labels = list(over_time(ev, 0.1))
    ticks = np.arange(len(labels))  # every index up to 20, else about 10 evenly spaced
    if len(labels) > 20:
        ticks = np.unique(np.linspace(0, len(labels) - 1, 10).round().astype(int))
    ax.set_xticks(ticks + 1, [labels[t] for t in ticks], fontsize=7)
    videos = len(np.asarray(ev["lengths"]))
    ax.set(xlabel="frame index (0 = given)", ylabel="PCK [%]", ylim=(-2, 102),
           title=f"propagation: PCK over time ({videos} videos)")  # fmt: skip
    ax.legend(fontsize=7)
    out = Path(folder) / "pck_over_time.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".pck_over_time.png.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"pck_plot": out}
