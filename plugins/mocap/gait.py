"""Gait phases of a walking take from its 3D joints (the ``alignment`` labels of ``mocap``).

**Heel strikes** follow Zeni et al. (2008, "Two simple methods for determining gait events
during treadmill and overground walking using kinematic data"): a foot strikes the floor when
it is furthest ahead of the pelvis along the walking direction, i.e. where its forward velocity
relative to the pelvis crosses zero from + to −. The walking direction of every frame is the
pelvis's horizontal velocity averaged over ``heading_s`` seconds (default 0.5 s, one gait cycle,
so the sway cancels); the foot's lead ``(ankle − pelvis) · direction`` (mm) is smoothed by a
centred moving average over ``smooth_s`` seconds (default 0.06 s). A strike is a local maximum
of the lead where the pelvis moves at least ``min_speed`` mm/s (default 100: standing still gives
none) and the foot leads by at least ``min_lead_mm`` (default 40 mm; the stylised CMU 131 walks
take short steps). Of two
strikes of one foot closer than ``min_stride_s`` (default 0.4 s) the one with the larger lead
is kept. The ankle heights are not used: the CMU 131 walks are stylised (the heel stays raised
through some stances), so a height rule misses steps there. On 131_01 and 131_02 the median
step (strike to next strike) is 0.56 and 0.58 s; about 80 % of strikes are followed by the
other foot's.

**Phases.** Phase 0 runs from a left strike to the next strike (normally the right foot's),
phase 1 from a right strike to the next strike: every frame takes the phase of the foot that
struck last. **Progress** is the fraction of the current gait cycle, from a left strike
(progress 0) to the next left strike (progress → 1): ``(t − L_k) / (L_{k+1} − L_k)``.

**What is kept.** Only whole gait cycles: frames ``[first left strike, last left strike)``. The
standing start and stop of a take, and the part steps before the first and after the last left
strike, are dropped (their phase and cycle progress are not defined by the rule). A take with
fewer than two left strikes has no whole cycle and gives no sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Options of :func:`gait_labels` and their defaults (seconds, mm, mm/s).
DEFAULTS = {
    "smooth_s": 0.06,
    "heading_s": 0.5,
    "min_speed": 100.0,
    "min_lead_mm": 40.0,
    "min_stride_s": 0.4,
}


@dataclass
class Gait:
    """Gait labels of one take.

    Attributes:
        start, stop: the kept frames ``[start, stop)`` (whole gait cycles).
        phases: ``(stop − start,)`` int, 0 after a left strike, 1 after a right strike.
        progress: ``(stop − start,)`` fraction of the current gait cycle, in [0, 1).
        left, right: every strike frame of each foot over the whole take, sorted.
    """

    start: int
    stop: int
    phases: np.ndarray
    progress: np.ndarray
    left: np.ndarray
    right: np.ndarray


def smooth(signal: np.ndarray, fps: float, seconds: float) -> np.ndarray:
    """Centred moving average over ``seconds`` (an odd number of frames, edges repeated)."""
    n = max(1, int(round(seconds * fps)) // 2 * 2 + 1)
    x = np.asarray(signal, np.float64)
    if n == 1 or len(x) < 2:
        return x.copy()
    padded = np.pad(x, n // 2, mode="edge")
    return np.convolve(padded, np.ones(n) / n, mode="valid")


def leads(pelvis: np.ndarray, feet: np.ndarray, fps: float, *, heading_s: float, smooth_s: float):
    """How far each foot is ahead of the pelvis along the walking direction, and the pelvis speed.

    Args:
        pelvis: ``(T, 3)`` world mm, Z up.
        feet: ``(T, F, 3)`` world mm.

    Returns:
        ``(lead (T, F) mm, speed (T,) mm/s)``, both smoothed.
    """
    hip = np.asarray(pelvis, np.float64)[:, :2]
    if len(hip) < 2:
        return np.zeros((len(hip), np.shape(feet)[1])), np.zeros(len(hip))
    vel = np.gradient(hip, axis=0) * fps
    vel = np.stack([smooth(vel[:, i], fps, heading_s) for i in range(2)], 1)
    speed = np.linalg.norm(vel, axis=1)
    heading = vel / np.maximum(speed, 1e-9)[:, None]
    rel = np.asarray(feet, np.float64)[..., :2] - hip[:, None]
    lead = (rel * heading[:, None]).sum(-1)
    lead = np.stack([smooth(lead[:, f], fps, smooth_s) for f in range(lead.shape[1])], 1)
    return lead, speed


def heel_strikes(
    lead: np.ndarray,
    speed: np.ndarray,
    fps: float,
    *,
    min_speed: float = DEFAULTS["min_speed"],
    min_lead_mm: float = DEFAULTS["min_lead_mm"],
    min_stride_s: float = DEFAULTS["min_stride_s"],
) -> np.ndarray:
    """Strike frames of one foot: local maxima of its ``lead`` (mm, from :func:`leads`) where the
    pelvis ``speed`` (mm/s) is at least ``min_speed`` and the lead at least ``min_lead_mm``; of
    two closer than ``min_stride_s`` the larger lead is kept.

    Returns:
        Sorted int frame indices.
    """
    d = np.asarray(lead, np.float64)
    if len(d) < 3:
        return np.zeros(0, np.int64)
    peak = np.zeros(len(d), bool)
    peak[1:-1] = (d[1:-1] >= d[:-2]) & (d[1:-1] > d[2:])
    peak &= (np.asarray(speed) >= min_speed) & (d >= min_lead_mm)
    kept: list[int] = []
    for t in np.flatnonzero(peak):
        if kept and t - kept[-1] < min_stride_s * fps:
            if d[t] > d[kept[-1]]:
                kept[-1] = int(t)
            continue
        kept.append(int(t))
    return np.asarray(kept, np.int64)


def gait_labels(
    pelvis: np.ndarray, left: np.ndarray, right: np.ndarray, fps: float, **options
) -> Gait | None:
    """Phases and cycle progress of a walk (see the module docstring for the rules).

    Args:
        pelvis, left, right: ``(T, 3)`` world mm (Z up) of the pelvis and the left and right
            ankles.
        fps: frames per second.
        options: any of :data:`DEFAULTS`.

    Returns:
        The :class:`Gait`, or None when the take has fewer than two left strikes (no whole cycle).
    """
    opts = {**DEFAULTS, **options}
    lead, speed = leads(pelvis, np.stack([left, right], 1), fps,
                        heading_s=opts["heading_s"], smooth_s=opts["smooth_s"])  # fmt: skip
    rule = {k: opts[k] for k in ("min_speed", "min_lead_mm", "min_stride_s")}
    ls = heel_strikes(lead[:, 0], speed, fps, **rule)
    rs = heel_strikes(lead[:, 1], speed, fps, **rule)
    if len(ls) < 2:
        return None
    start, stop = int(ls[0]), int(ls[-1])
    t = np.arange(start, stop)
    events = np.concatenate([ls, rs])
    feet = np.concatenate([np.zeros(len(ls), np.int64), np.ones(len(rs), np.int64)])
    order = np.argsort(events, kind="stable")
    events, feet = events[order], feet[order]
    phases = feet[np.searchsorted(events, t, side="right") - 1]
    k = np.searchsorted(ls, t, side="right") - 1
    progress = (t - ls[k]) / (ls[k + 1] - ls[k])
    return Gait(start, stop, phases.astype(np.int64), progress.astype(np.float64), ls, rs)
