"""A small synthetic twin of CalMS21 task 1, written in the official format.

``synthesize(out)`` writes ``calms21_task1_{train,test}.json`` (official schema: top key
``annotator-id_0``, keypoints ``(T, 2, 2, 7)`` px, scores, per-frame annotations, metadata
with the vocabulary) and ``videos/<stem>.mp4`` showing what the keypoints describe: a dark
resident and a light intruder moving in a textured arena. The motion follows a script of
episodes (wander, investigate, attack, mount); the labels are then derived from the
keypoints alone by :func:`derive_labels`. Frames are ``width`` × ``height`` px, not the real
1024 × 570 (``README.txt`` says so). Deterministic for a seed; importable without torch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kpbench.errors import ConfigError, DataError

from .render import arena, body_length, draw_frame, mouse_keypoints, wall_width

VOCAB = {"attack": 0, "investigation": 1, "mount": 2, "other": 3}
EPISODES = ("investigation", "attack", "mount")
BASE_SCORES = np.array([0.90, 0.86, 0.86, 0.95, 0.91, 0.91, 0.93])  # nose … tail base

# Label rules (body lengths L, seconds): see derive_labels.
CONTACT = 0.4  # L, resident nose to the nearest intruder keypoint
FAST = 2.0  # L/s, resident speed of an attack
SLOW = 1.0  # L/s, resident speed while investigating
OVER = 0.3  # L, resident body centre to intruder body centre when mounting


def _wrap(angle: float) -> float:
    return (angle + np.pi) % (2 * np.pi) - np.pi


class _Mouse:
    """A simulated mouse: centre (px), heading, head yaw, speed (px/frame), tail phase."""

    def __init__(self, pos, heading: float):
        self.pos = np.asarray(pos, float)
        self.heading, self.head, self.speed, self.tail = heading, 0.0, 0.0, 0.0

    def pose(self) -> tuple[float, float, float, float, float]:
        return (self.pos[0], self.pos[1], self.heading, self.head, self.tail)

    def steer(self, target, speed: float, turn: float, lo, hi) -> None:
        """Turn towards ``target`` (at most ``turn`` rad), ease to ``speed`` px/frame, step, stay in bounds."""
        d = np.asarray(target, float) - self.pos
        off = _wrap(np.arctan2(d[1], d[0]) - self.heading) if np.hypot(*d) > 1e-6 else 0.0
        self.heading = _wrap(self.heading + float(np.clip(off, -turn, turn)))
        self.head += 0.3 * (float(np.clip(off, -0.6, 0.6)) - self.head)
        self.speed += 0.35 * (speed - self.speed)
        self.pos = np.clip(
            self.pos + self.speed * np.array([np.cos(self.heading), np.sin(self.heading)]), lo, hi
        )
        self.tail += 0.12 + 0.1 * self.speed


def _separate(a: _Mouse, b: _Mouse, min_dist: float, lo, hi) -> None:
    """Push two overlapping bodies apart (each moves 15 % of the overlap per frame)."""
    d = a.pos - b.pos
    dist = float(np.hypot(*d))
    if dist < min_dist:
        push = 0.15 * (min_dist - dist) * (d / dist if dist > 1e-6 else np.array([1.0, 0.0]))
        a.pos, b.pos = np.clip(a.pos + push, lo, hi), np.clip(b.pos - push, lo, hi)


def _schedule(rng: np.random.Generator, frames: int, fps: float) -> list[str]:
    """Per-frame script: 'other' spells between episodes, each episode kind once before any repeats."""
    script: list[str] = []
    kinds: list[str] = []
    while len(script) < frames:
        script += ["other"] * int(rng.uniform(1.0, 1.6) * fps)
        if not kinds:
            kinds = list(rng.permutation(EPISODES))
        script += [kinds.pop(0)] * int(rng.uniform(2.2, 3.0) * fps)
    return script[:frames]


def simulate(rng: np.random.Generator, frames: int, width: int, height: int, fps: float = 30.0):
    """Scripted motion of a resident and an intruder.

    Returns:
        ``poses`` ``(T, 2, 5)`` (cx, cy, heading, head_yaw, tail_phase; px and rad) and
        ``keypoints`` ``(T, 2, 7, 2)`` px.
    """
    L = body_length(width, height)
    margin = wall_width(width, height) + 0.55 * L
    lo, hi = np.array([margin, margin]), np.array([width - margin, height - margin])
    per_frame = L / fps  # px/frame of one body length per second
    res = _Mouse(rng.uniform(lo, lo + (hi - lo) * [0.4, 1.0]), rng.uniform(-np.pi, np.pi))
    intr = _Mouse(rng.uniform(lo + (hi - lo) * [0.6, 0.0], hi), rng.uniform(-np.pi, np.pi))
    goals = [rng.uniform(lo, hi), rng.uniform(lo, hi)]
    script, state, part, mounted = _schedule(rng, frames, fps), None, 0, False
    sniffed = np.array([0, 4, 5, 6])  # parts a resident investigates: nose, hips, tail base
    poses = np.zeros((frames, 2, 5))
    keypoints = np.zeros((frames, 2, 7, 2))
    for t in range(frames):
        r_kp, i_kp = mouse_keypoints(res.pose(), L), mouse_keypoints(intr.pose(), L)
        changed = script[t] != state
        if changed:
            # investigate the part nearest to the resident, so that it does not walk over the intruder
            state, mounted = script[t], False
            part = int(sniffed[np.argmin(np.hypot(*(i_kp[sniffed] - r_kp[0]).T))])
        for i, m in enumerate((res, intr)):
            # a new wander goal, away from the other mouse and from its goal
            if changed or np.hypot(*(goals[i] - m.pos)) < 0.3 * L or rng.random() < 1 / (2 * fps):
                cand = rng.uniform(lo, hi, (6, 2))
                other, other_goal = (intr.pos, goals[1]) if i == 0 else (res.pos, goals[0])
                room = np.minimum(np.hypot(*(cand - other).T), np.hypot(*(cand - other_goal).T))
                goals[i] = cand[np.argmax(room)]
        if state == "other":
            res.steer(goals[0], 1.2 * per_frame, 0.12, lo, hi)
            intr.steer(goals[1], 1.0 * per_frame, 0.12, lo, hi)
        elif state == "investigation":
            out = i_kp[part] - i_kp[3:].mean(axis=0)  # approach the part from outside the body
            spot = i_kp[part] + 0.12 * L * out / max(np.hypot(*out), 1e-6)
            gap = np.hypot(*(spot - r_kp[0])) / L
            res.steer(spot, min(1.5, 2.5 * max(gap - 0.05, 0.0)) * per_frame, 0.15, lo, hi)
            res.head = float(np.clip(res.head + 0.15 * np.sin(0.9 * t), -0.7, 0.7))  # sniffing
            intr.steer(goals[1], 0.3 * per_frame, 0.08, lo, hi)
        elif state == "attack":
            away = intr.pos - res.pos
            flee = np.clip(intr.pos + 2 * L * away / max(np.hypot(*away), 1e-6), lo, hi)
            if np.hypot(*(flee - intr.pos)) < 0.6 * L:  # cornered: run along the wall
                flee = np.clip(
                    intr.pos + 2 * L * np.array([-away[1], away[0]]) / max(np.hypot(*away), 1e-6),
                    lo,
                    hi,
                )
            intr.steer(flee, 3.0 * per_frame, 0.2, lo, hi)
            jitter = 0.3 * L * np.array([np.cos(0.7 * t), np.sin(0.7 * t)])
            res.steer(intr.pos + jitter, 4.5 * per_frame, 0.4, lo, hi)
        else:  # mount: approach the intruder's rear, then ride on its back
            intr.steer(goals[1], 0.4 * per_frame, 0.06, lo, hi)
            mounted = mounted or np.hypot(*(i_kp[6] - r_kp[0])) < 0.5 * L
            if not mounted:
                res.steer(i_kp[6], 1.6 * per_frame, 0.2, lo, hi)
            else:
                fwd = np.array([np.cos(intr.heading), np.sin(intr.heading)])
                gap = intr.pos - 0.1 * L * fwd - res.pos  # climb on at most 1.2 L/s
                res.pos = np.clip(
                    res.pos + gap * min(1.0, 1.2 * per_frame / max(np.hypot(*gap), 1e-6)), lo, hi
                )
                res.heading = _wrap(res.heading + 0.25 * _wrap(intr.heading - res.heading))
                res.head *= 0.8
                res.speed = intr.speed
        if state in ("other", "investigation"):
            _separate(res, intr, 0.6 * L, lo, hi)
        poses[t] = res.pose(), intr.pose()
        keypoints[t] = mouse_keypoints(res.pose(), L), mouse_keypoints(intr.pose(), L)
    return poses, keypoints


def derive_labels(
    keypoints: np.ndarray, length: float, fps: float, vocab: dict[str, int] = VOCAB
) -> np.ndarray:
    """Per-frame behaviour from keypoints alone, first rule that holds wins.

    1. attack: the resident moves faster than ``FAST`` L/s with its nose within ``CONTACT`` L
       of an intruder keypoint;
    2. mount: the resident's body centre is within ``OVER`` L of the intruder's and both face
       the same way (cos of the heading difference > 0.5);
    3. investigation: the nose is within ``CONTACT`` L of the intruder and the resident is slower
       than ``SLOW`` L/s;
    4. other.

    Args:
        keypoints: ``(T, 2, 7, 2)`` px, mouse 0 the resident.
        length: body length L (px).
        fps: frames per second.
        vocab: class name → index.

    Returns:
        ``(T,)`` int64 class indices.
    """
    from scipy.ndimage import uniform_filter1d

    res, intr = keypoints[:, 0], keypoints[:, 1]
    centre = keypoints[:, :, 3:].mean(axis=2)  # neck, hips, tail base: (T, 2, 2)
    step = np.gradient(centre[:, 0], axis=0) if len(keypoints) > 1 else np.zeros_like(centre[:, 0])
    speed = uniform_filter1d(np.hypot(*step.T), size=5, mode="nearest") * fps / length
    contact = np.hypot(*(intr - res[:, :1]).transpose(2, 0, 1)).min(axis=1) / length
    over = np.hypot(*(centre[:, 0] - centre[:, 1]).T) / length
    axis = keypoints[:, :, 3] - keypoints[:, :, 6]  # tail base → neck
    cos = (axis[:, 0] * axis[:, 1]).sum(-1) / (
        np.linalg.norm(axis[:, 0], axis=-1) * np.linalg.norm(axis[:, 1], axis=-1)
    )
    labels = np.full(len(keypoints), vocab["other"], np.int64)
    labels[(contact < CONTACT) & (speed < SLOW)] = vocab["investigation"]
    labels[(over < OVER) & (cos > 0.5)] = vocab["mount"]
    labels[(contact < CONTACT) & (speed > FAST)] = vocab["attack"]
    return labels


def fake_scores(rng: np.random.Generator, keypoints: np.ndarray, length: float) -> np.ndarray:
    """Tracker-like confidences ``(T, 2, 7)`` in [0.05, 0.999]: lower where the intruder is covered."""
    scores = np.broadcast_to(BASE_SCORES, keypoints.shape[:3]).copy()
    res_centre = keypoints[:, 0, 3:].mean(axis=1)  # (T, 2)
    covered = np.hypot(*(keypoints[:, 1] - res_centre[:, None]).transpose(2, 0, 1)) < 0.35 * length
    scores[:, 1][covered] -= 0.45
    scores += rng.normal(0.0, 0.03, scores.shape)
    return np.clip(scores, 0.05, 0.999)


def _write_video(path: Path, poses: np.ndarray, background, length: float, rng, fps: float) -> None:
    import cv2

    from kpbench.video import VideoReader

    h, w = background.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise DataError(
            f"{path}: OpenCV cannot write mp4v video here; install an OpenCV build with video I/O"
        )
    try:
        for frame_poses in poses:
            frame = draw_frame(background, frame_poses, length, rng)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    decoded = VideoReader(path).num_frames
    if decoded != len(poses):
        raise DataError(
            f"{path}: wrote {len(poses)} frames but the file decodes to {decoded}; check OpenCV's mp4v codec"
        )


def synthesize(
    out: Path,
    seed: int = 0,
    *,
    n_train: int = 3,
    n_test: int = 2,
    frames: int = 300,
    width: int = 256,
    height: int = 256,
    fps: float = 30.0,
) -> Path:
    """Write a synthetic CalMS21 task-1 twin to ``out``.

    Args:
        out: folder to write (created).
        seed: random seed; the same seed gives byte-identical JSON and identical frames.
        n_train, n_test: number of sequences per split.
        frames: frames per sequence.
        width, height: frame size (px).
        fps: frames per second.

    Returns:
        ``out``.
    """
    try:
        n_train, n_test, frames, width, height = (
            int(v) for v in (n_train, n_test, frames, width, height)
        )
        fps = float(fps)
    except (TypeError, ValueError):
        raise ConfigError(
            "calms21 synth: n_train, n_test, frames, width, height and fps must be numbers"
        ) from None
    if n_train < 1 or n_test < 1 or frames < 2 or min(width, height) < 48 or fps <= 0:
        raise ConfigError(
            f"calms21 synth: need n_train >= 1, n_test >= 1, frames >= 2, width/height >= 48 and fps > 0; "
            f"got n_train={n_train}, n_test={n_test}, frames={frames}, size={width}x{height}, fps={fps}"
        )
    out = Path(out)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    length = body_length(width, height)
    background = arena(np.random.default_rng([seed, 1_000_003]), width, height)
    index = 0
    for split, count in (("train", n_train), ("test", n_test)):
        records = {}
        for _ in range(count):
            index += 1
            stem = f"mouse{index:03d}_task1_annotator1"
            rng = np.random.default_rng([seed, index])
            poses, kp = simulate(rng, frames, width, height, fps)
            kp = np.round(kp, 3)  # as written, so the labels follow from the file's keypoints
            records[f"task1/{split}/{stem}"] = {
                "keypoints": np.transpose(kp, (0, 1, 3, 2)).tolist(),
                "scores": np.round(fake_scores(rng, kp, length), 4).tolist(),
                "annotations": derive_labels(kp, length, fps).tolist(),
                "metadata": {"annotator-id": 0, "vocab": dict(VOCAB)},
            }
            _write_video(out / "videos" / f"{stem}.mp4", poses, background, length, rng, fps)
        text = json.dumps({"annotator-id_0": records}, separators=(",", ":"))
        (out / f"calms21_task1_{split}.json").write_text(text)
    (out / "README.txt").write_text(
        f"Synthetic CalMS21 task-1 twin written by kpbench (seed {seed}).\n"
        f"Official JSON schema and file names, but frames are {width}x{height} px at {fps:g} fps "
        "(the real videos are 1024x570 px at 30 fps); keypoints are pixels of these frames.\n"
        f"{n_train} train + {n_test} test sequences of {frames} frames; videos in videos/<stem>.mp4.\n"
        "Labels are derived from the keypoints (attack: fast with nose contact; mount: body over the "
        "intruder's back; investigation: slow with nose contact; other).\n"
    )
    return out
