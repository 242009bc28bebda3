"""Drawing for the synthetic CalMS21 twin: a textured arena and two articulated top-down mice.

A mouse is a pose ``(cx, cy, heading, head_yaw, tail_phase)``: body centre (px), body
direction and head angle relative to the body (rad, image axes: x right, y down), and the
phase of the tail's wave. :func:`mouse_keypoints` gives the 7 CalMS21 keypoints of a pose and
:func:`draw_frame` draws the same body model, so every keypoint sits on its drawn part.
"""

from __future__ import annotations

import numpy as np

SHIFT = 4  # OpenCV fixed-point bits: shapes are drawn with 1/16 px precision
_ONE = 1 << SHIFT

# Colours (RGB) of the dark resident and the light intruder.
PALETTES = (
    {"body": (38, 36, 42), "back": (62, 60, 68), "ear": (86, 66, 72), "nose": (122, 84, 90),
     "tail": (58, 52, 56), "eye": (8, 8, 8)},
    {"body": (236, 232, 224), "back": (250, 249, 245), "ear": (242, 186, 190), "nose": (236, 150, 160),
     "tail": (228, 192, 188), "eye": (150, 30, 42)},
)  # fmt: skip
FLOOR = np.array([146, 138, 122], np.float32)
WALL = np.array([196, 192, 184], np.float32)


def body_length(width: int, height: int) -> float:
    """Nose-to-tail-base length of a mouse (px) in a ``width`` × ``height`` frame."""
    return 0.2 * min(width, height)


def wall_width(width: int, height: int) -> int:
    """Width of the arena wall band along the frame border (px)."""
    return max(3, round(0.06 * min(width, height)))


def _axes(heading: float) -> tuple[np.ndarray, np.ndarray]:
    """Unit forward and left vectors of a heading (left = forward turned 90° counter-clockwise on screen)."""
    fwd = np.array([np.cos(heading), np.sin(heading)])
    return fwd, np.array([fwd[1], -fwd[0]])


def mouse_keypoints(pose, length: float) -> np.ndarray:
    """The 7 keypoints of a pose, ``(7, 2)`` px (x, y).

    Args:
        pose: ``(cx, cy, heading, head_yaw, tail_phase)``; centre px, angles rad.
        length: body length (px).

    Returns:
        nose, left ear, right ear, neck, left hip, right hip, tail base.
    """
    c = np.array(pose[:2], float)
    f, left = _axes(pose[2])
    hf, hl = _axes(pose[2] + pose[3])
    neck = c + 0.18 * length * f
    return np.stack([
        neck + 0.32 * length * hf,
        neck + 0.10 * length * hf + 0.09 * length * hl,
        neck + 0.10 * length * hf - 0.09 * length * hl,
        neck,
        c - 0.25 * length * f + 0.12 * length * left,
        c - 0.25 * length * f - 0.12 * length * left,
        c - 0.50 * length * f,
    ])  # fmt: skip


def arena(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A static arena: textured bedding floor, lit unevenly, inside a lighter wall band.

    Returns:
        ``(height, width, 3)`` uint8 RGB.
    """
    import cv2

    small = rng.standard_normal((max(2, height // 16), max(2, width // 16), 3)).astype(np.float32)
    small = small[..., :1] * 1.0 + small * 0.25  # mostly brightness, a little tint
    blotches = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC) * 7.0
    grain = cv2.GaussianBlur(
        rng.standard_normal((height, width, 1)).astype(np.float32), (0, 0), 0.8
    )
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    light_x, light_y = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    dist = np.hypot(xx - light_x, yy - light_y) / max(width, height)
    light = (1.08 - 0.35 * dist**2)[..., None]
    img = (FLOOR + blotches + grain.reshape(height, width, 1) * 10.0) * light
    for _ in range(width * height // 90):  # bedding flakes
        x, y = rng.uniform(0, width), rng.uniform(0, height)
        shade = float(rng.uniform(-35, 35))
        axes = (int(rng.uniform(0.6, 2.2) * _ONE), int(rng.uniform(0.4, 1.0) * _ONE))
        center = (int(x * _ONE), int(y * _ONE))
        colour = tuple(float(v) for v in FLOOR + shade)
        cv2.ellipse(
            img, center, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_8, SHIFT
        )
    b = wall_width(width, height)
    inner = np.zeros((height, width), np.float32)
    inner[b:-b, b:-b] = 1.0
    to_wall = np.minimum.reduce([xx - b, yy - b, width - 1 - b - xx, height - 1 - b - yy])
    wall_shadow = (
        np.clip(1.0 - to_wall / (1.5 * b), 0, 1) * inner
    )  # the wall shades the floor near it
    wall = WALL * (0.92 + 0.08 * np.clip(-to_wall / b, 0, 1))[..., None] + blotches * 0.5
    img = img * (1.0 - 0.25 * wall_shadow[..., None])
    img = np.where(inner[..., None] > 0, img, wall)
    return np.clip(img, 0, 255).astype(np.uint8)


def _ellipse(img, centre, half_axes, angle_rad, colour, line=None) -> None:
    import cv2

    cv2.ellipse(
        img,
        (int(round(centre[0] * _ONE)), int(round(centre[1] * _ONE))),
        (max(1, int(round(half_axes[0] * _ONE))), max(1, int(round(half_axes[1] * _ONE)))),
        float(np.degrees(angle_rad)), 0, 360, colour, -1, line or cv2.LINE_AA, SHIFT,
    )  # fmt: skip


def _silhouette(img, pose, length: float, colour, offset=(0.0, 0.0)) -> None:
    """Body, haunches and head of a pose in one colour (used for the body and its shadow)."""
    c = np.array(pose[:2], float) + offset
    f, _ = _axes(pose[2])
    hf, _ = _axes(pose[2] + pose[3])
    neck = c + 0.18 * length * f
    _ellipse(img, c - 0.10 * length * f, (0.34 * length, 0.155 * length), pose[2], colour)
    _ellipse(img, c - 0.24 * length * f, (0.27 * length, 0.17 * length), pose[2], colour)
    _ellipse(
        img, neck + 0.14 * length * hf, (0.20 * length, 0.11 * length), pose[2] + pose[3], colour
    )


def _tail(pose, length: float) -> np.ndarray:
    """Tail centre line from the tail base, ``(N, 2)`` px, waving with ``tail_phase``."""
    c = np.array(pose[:2], float)
    f, left = _axes(pose[2])
    s = np.linspace(0.0, 0.75, 10)
    sway = 0.12 * length * np.sin(pose[4] + 4.0 * s) * s / 0.75
    return c - (0.5 + s)[:, None] * length * f + sway[:, None] * left


def draw_mouse(img: np.ndarray, pose, length: float, palette: dict) -> None:
    """Draw one mouse (tail, body, back highlight, ears, eyes, nose tip) onto ``img`` in place."""
    import cv2

    kp = mouse_keypoints(pose, length)
    tail = _tail(pose, length)
    for i in range(len(tail) - 1):
        thick = max(1, int(round(0.06 * length * (1 - i / len(tail)) + 1)))
        a, b = (tail[i] * _ONE).round().astype(int), (tail[i + 1] * _ONE).round().astype(int)
        cv2.line(
            img,
            tuple(int(v) for v in a),
            tuple(int(v) for v in b),
            palette["tail"],
            thick,
            cv2.LINE_AA,
            SHIFT,
        )
    for ear in kp[1:3]:
        _ellipse(img, ear, (0.065 * length, 0.065 * length), 0.0, palette["ear"])
    _silhouette(img, pose, length, palette["body"])
    c = np.array(pose[:2], float)
    f, _ = _axes(pose[2])
    _ellipse(img, c - 0.14 * length * f, (0.24 * length, 0.06 * length), pose[2], palette["back"])
    hf, hl = _axes(pose[2] + pose[3])
    for side in (1, -1):
        _ellipse(
            img,
            kp[3] + 0.2 * length * hf + side * 0.055 * length * hl,
            (0.022 * length,) * 2,
            0.0,
            palette["eye"],
        )
    _ellipse(
        img,
        kp[0] - 0.02 * length * hf,
        (0.035 * length, 0.03 * length),
        pose[2] + pose[3],
        palette["nose"],
    )


def draw_frame(
    background: np.ndarray, poses, length: float, rng: np.random.Generator, noise: int = 5
) -> np.ndarray:
    """One frame: soft shadows, the mice (the first pose on top), lens blur and sensor noise.

    Args:
        background: ``(H, W, 3)`` uint8 RGB arena.
        poses: one pose per mouse, in palette order (resident, intruder).
        length: body length (px).
        rng: draws the noise.
        noise: half-width of the uniform integer sensor noise (grey levels).

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    import cv2

    h, w = background.shape[:2]
    shadow = np.zeros((h, w), np.float32)
    for pose in poses:
        _silhouette(shadow, pose, length, 1.0, offset=(0.07 * length, 0.09 * length))
    shade = 1.0 - 0.45 * cv2.GaussianBlur(shadow, (0, 0), max(0.8, 0.07 * length))
    img = cv2.multiply(background, cv2.merge([shade] * 3), dtype=cv2.CV_8U)
    for pose, palette in reversed(list(zip(poses, PALETTES, strict=True))):
        draw_mouse(img, pose, length, palette)
    img = cv2.GaussianBlur(img, (3, 3), 0.6)
    return cv2.add(img, rng.integers(-noise, noise + 1, img.shape, dtype=np.int8), dtype=cv2.CV_8U)
