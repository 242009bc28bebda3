"""A synthetic JHMDB twin in JHMDB's layout: a stick figure walking or waving.

``kpbench data synth jhmdb --out DIR`` writes, for each action (``walk``, ``wave``), a few
short clips of a 15-joint stick figure (JHMDB's joints in its order, :data:`.dataset.KEYPOINT_NAMES`) on a
smooth background with a few fixed shapes: ``Rename_Images/<action>/<video>/00001.png ...``,
``joint_positions/<action>/<video>/joint_positions.mat`` (``pos_img`` (2, 15, T), 1-based px,
with ``pos_world``, ``scale`` and ``viewpoint`` like the real files) and
``splits/<action>_test_split{1,2,3}.txt``. The last walk of each twin leaves the frame on the
right, so some of its joints are outside the image (not visible by JHMDB's rule).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .dataset import SKELETON

ACTIONS = ("walk", "wave")
#: A standing figure: joint offsets from the belly in px at scale 1 (x right, y down).
REST = np.array([
    [0, -30], [0, 0], [0, -40], [-9, -28], [9, -28], [-6, 4], [6, 4], [-12, -15], [12, -15],
    [-7, 20], [7, 20], [-13, -2], [13, -2], [-8, 36], [8, 36],
], np.float64)  # fmt: skip
_LIMB_COLOURS = np.array([
    (230, 60, 60), (60, 200, 60), (60, 90, 230), (230, 200, 40), (200, 60, 200), (40, 200, 210),
    (240, 140, 40),
], np.uint8)  # fmt: skip


def _swing(pose: np.ndarray, joint: int, about: int, angle: float) -> None:
    """Rotate ``joint`` about ``about`` by ``angle`` radians (in place)."""
    c, s = np.cos(angle), np.sin(angle)
    d = pose[joint] - pose[about]
    pose[joint] = pose[about] + [c * d[0] - s * d[1], s * d[0] + c * d[1]]


def _poses(action: str, n: int, start: np.ndarray, speed: float, phase: float) -> np.ndarray:
    """(n, 15, 2) px: the figure's joints in every frame."""
    out = []
    for t in range(n):
        pose = REST.copy()
        a = np.sin(phase + 0.6 * t)
        if action == "walk":
            for knee, ankle, hip, sign in ((9, 13, 5, 1), (10, 14, 6, -1)):
                _swing(pose, knee, hip, 0.4 * sign * a)
                _swing(pose, ankle, hip, 0.4 * sign * a)
            for elbow, wrist, shoulder, sign in ((7, 11, 3, -1), (8, 12, 4, 1)):
                _swing(pose, elbow, shoulder, 0.3 * sign * a)
                _swing(pose, wrist, shoulder, 0.3 * sign * a)
            centre = start + [speed * t, 1.5 * abs(a)]
        else:
            _swing(pose, 8, 4, -2.2)
            _swing(pose, 12, 4, -2.2)
            _swing(pose, 12, 8, 0.7 * a)
            centre = start + [0.3 * t, 0.0]
        out.append(pose + centre)
    return np.stack(out)


def _background(rng, width: int, height: int) -> np.ndarray:
    import cv2

    y, x = np.mgrid[0:height, 0:width]
    base = rng.uniform(60, 190, 3)
    tilt = rng.uniform(-0.4, 0.4, (2, 3))
    img = base + x[..., None] * tilt[0] + y[..., None] * tilt[1]
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, width - 10)), int(rng.integers(0, height - 10))
        size = rng.integers(6, 22, 2)
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.rectangle(img, (x0, y0), (x0 + int(size[0]), y0 + int(size[1])), colour, -1)
    return img


def _draw(bg: np.ndarray, pose: np.ndarray) -> np.ndarray:
    import cv2

    img = bg.copy()
    pts = np.round(pose).astype(int)
    for b, (i, j) in enumerate(SKELETON):
        colour = tuple(int(c) for c in _LIMB_COLOURS[b % len(_LIMB_COLOURS)])
        cv2.line(img, tuple(pts[i]), tuple(pts[j]), colour, 4, cv2.LINE_AA)
    cv2.circle(img, tuple(pts[2]), 7, (250, 220, 190), -1, cv2.LINE_AA)
    return img


def _write_clip(root: Path, action: str, video: str, frames, pose, rng) -> None:
    import cv2
    from scipy.io import savemat

    folder = root / "Rename_Images" / action / video
    folder.mkdir(parents=True, exist_ok=True)
    for t, img in enumerate(frames, 1):
        cv2.imwrite(str(folder / f"{t:05d}.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    joints = root / "joint_positions" / action / video
    joints.mkdir(parents=True, exist_ok=True)
    pos_img = (pose + 1.0).transpose(2, 1, 0)  # (2, 15, T), MATLAB's 1-based pixels
    centre = pose.mean(1, keepdims=True)
    scale = np.abs(pose - centre).max((1, 2))
    world = ((pose - centre) / scale[:, None, None]).transpose(2, 1, 0)
    savemat(joints / "joint_positions.mat", {
        "pos_img": pos_img, "pos_world": world + rng.normal(0, 1e-3, world.shape),
        "scale": scale[None], "viewpoint": "E",
    })  # fmt: skip


def synthesize(
    out: Path, seed: int = 0, clips: int = 3, frames: int = 16, width: int = 160, height: int = 120
) -> Path:
    """Write the twin (module docs) into ``out``; returns ``out``.

    Args:
        out: the folder to write (created).
        seed: the figures' placement, pace and backgrounds.
        clips: videos per action (at least 2, so that every split has train and test).
        frames: frames per clip.
        width, height: frame size in px.

    Raises:
        ValueError: fewer than 2 clips, fewer than 2 frames, or frames under 96 × 96 px.
    """
    if int(clips) < 2 or int(frames) < 2 or min(int(width), int(height)) < 96:
        raise ValueError(
            f"jhmdb twin: need clips >= 2, frames >= 2 and frames of at least 96 x 96 px; got "
            f"clips={clips}, frames={frames}, {width}x{height}"
        )
    rng = np.random.default_rng(seed)
    out = Path(out)
    (out / "splits").mkdir(parents=True, exist_ok=True)
    for action in ACTIONS:
        names = [f"{action}_{i:02d}" for i in range(int(clips))]
        for i, video in enumerate(names):
            off_frame = action == "walk" and i == len(names) - 1
            speed = (width * 0.5 / frames) if off_frame else rng.uniform(0.5, 1.5)
            x0 = width * (0.55 if off_frame else rng.uniform(0.3, 0.6))
            start = np.array([x0, height * rng.uniform(0.45, 0.55)])
            pose = _poses(action, int(frames), start, speed, rng.uniform(0, 2 * np.pi))
            bg = _background(rng, int(width), int(height))
            imgs = [_draw(bg, p) for p in pose]
            _write_clip(out, action, video, imgs, pose, rng)
        for k in (1, 2, 3):
            test = {names[-k % len(names)]}  # split 1 tests the last clip
            lines = [f"{v}.avi {2 if v in test else 1}" for v in names]
            (out / "splits" / f"{action}_test_split{k}.txt").write_text("\n".join(lines) + "\n")
    return out
