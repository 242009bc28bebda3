"""Virtual pinhole cameras for motion capture without video (Human3.6M-like).

World frame: right-handed, **Z up**, mm, floor at Z ≈ 0 (the BVH frame's Y-up axes are turned by
:func:`bvh_to_world`). Camera frame: OpenCV's: x right, y down, z forward (the viewing
direction), so ``X_cam = R X_world + t`` and pixel ``(u, v) = (K X_cam)[:2] / (K X_cam)[2]``.

Intrinsics follow Human3.6M's four cameras (1000 × 1002 px frames, focal lengths ≈ 1145 px,
principal point ≈ (512, 515) px; no lens distortion).
"""

from __future__ import annotations

import numpy as np

#: (W, H) px of a Human3.6M frame.
IMAGE_SIZE = (1000, 1002)
#: fx = fy (px) and the principal point (px), rounded from Human3.6M's calibrations.
FOCAL_PX = 1145.0
CENTRE_PX = (512.0, 515.0)


def bvh_to_world(points: np.ndarray, scale: float) -> np.ndarray:
    """BVH (x, y, z), Y up, file units → world (x, −z, y) mm, Z up (a +90° turn about X)."""
    p = np.asarray(points, np.float64) * scale
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], -1)


def intrinsics() -> np.ndarray:
    """The (3, 3) Human3.6M-like pinhole matrix."""
    return np.array([[FOCAL_PX, 0.0, CENTRE_PX[0]], [0.0, FOCAL_PX, CENTRE_PX[1]], [0.0, 0.0, 1.0]])


def look_at(position: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World → camera ``(R, t)`` of a camera at ``position`` looking at ``target`` (Z-up world),
    with no roll: the image's x axis stays horizontal, y points down."""
    position = np.asarray(position, np.float64)
    forward = np.asarray(target, np.float64) - position
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    norm = np.linalg.norm(right)
    if norm < 1e-9:
        raise ValueError("look_at: the camera looks straight up or down")
    right /= norm
    down = np.cross(forward, right)
    rot = np.stack([right, down, forward])
    return rot, -rot @ position


def ring(n: int, centre: np.ndarray, distance: float, height: float, target_height: float):
    """``n`` cameras evenly around ``centre`` (x, y) mm, at 45° + i·360°/n (Human3.6M's are in
    the room's corners), ``distance`` mm away horizontally, ``height`` mm above the floor, each
    looking at ``(centre, target_height)``.

    Returns:
        A list of ``{"intrinsics", "R", "t", "size", "position"}`` dicts (mm, px).
    """
    k = intrinsics()
    target = np.array([centre[0], centre[1], target_height], np.float64)
    out = []
    for i in range(n):
        a = np.deg2rad(45.0 + 360.0 * i / n)
        pos = np.array([centre[0] + distance * np.cos(a), centre[1] + distance * np.sin(a), height])
        rot, t = look_at(pos, target)
        out.append({"intrinsics": k, "R": rot, "t": t, "size": IMAGE_SIZE, "position": pos})
    return out


def to_camera(points_world: np.ndarray, camera: dict) -> np.ndarray:
    """``X_cam = R X_world + t`` for points ``(..., 3)`` mm."""
    return np.asarray(points_world, np.float64) @ camera["R"].T + camera["t"]


def project(points_cam: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Pixels ``(..., 2)`` of camera-frame points ``(..., 3)`` (pinhole, no distortion)."""
    uvw = np.asarray(points_cam, np.float64) @ np.asarray(k, np.float64).T
    return uvw[..., :2] / uvw[..., 2:]
