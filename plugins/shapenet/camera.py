"""Cameras: KeypointNet's pinhole, viewpoints on the upper hemisphere, poses in OpenCV form.

KeypointNet's renders (tensorflow/models ``research/keypointnet/tools/render.py``, its
README): Blender, 5° field of view, camera 30 units from the origin on the upper hemisphere,
looking at the object, which is scaled to a longest side of 2; 128×128 RGBA.

Here, in the canonical world frame (+Y up, objects face −Z, see :mod:`.orient`):

* **Intrinsics** ``K``: ``f = (W / 2) / tan(fov / 2)`` px for the horizontal field of view
  (square images: the same vertically); principal point ``((W − 1) / 2, (H − 1) / 2)``:
  pixel centres sit at integer coordinates, as OpenCV's.
* **Viewpoints**: a direction uniform over the area of the upper hemisphere (``y`` = sin of
  the elevation uniform in ``[sin(min_elevation), 1)``, azimuth uniform), times ``distance``.
* **Pose** world → camera, OpenCV (x right, y down, z forward, column vectors): ``z`` looks
  from the camera centre at the origin, ``x = normalise(z × up)`` with ``up`` = +Y (−Z when
  looking straight down), ``y = z × x``; ``pose = [R | −R C]``.
* **OpenGL** (KeypointNet's tfrecords: y up, z backward): ``opencv = diag(1, −1, −1, 1) @
  opengl`` for a world → camera matrix, and back the same way.
"""

from __future__ import annotations

import numpy as np

GL_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])


def intrinsics(size: int, fov_deg: float) -> np.ndarray:
    """3×3 pinhole matrix of a ``size``×``size`` image with a ``fov_deg`` field of view."""
    f = (size / 2.0) / np.tan(np.radians(fov_deg) / 2.0)
    c = (size - 1) / 2.0
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def look_at(centre: np.ndarray, target=(0.0, 0.0, 0.0), up=(0.0, 1.0, 0.0)) -> np.ndarray:
    """4×4 world → camera pose (OpenCV) of a camera at ``centre`` looking at ``target``."""
    centre = np.asarray(centre, np.float64)
    z = np.asarray(target, np.float64) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, np.float64))
    if np.linalg.norm(x) < 1e-8:  # looking along up: use −Z (the object's front) as up
        x = np.cross(z, np.array([0.0, 0.0, -1.0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, y, z])
    pose[:3, 3] = -pose[:3, :3] @ centre
    return pose


def hemisphere_poses(n: int, distance: float, rng, min_elevation_deg: float = 0.0) -> np.ndarray:
    """(n, 4, 4) poses of cameras on the upper hemisphere (y > 0) looking at the origin."""
    low = np.sin(np.radians(min_elevation_deg))
    y = rng.uniform(low, 1.0, n)
    azimuth = rng.uniform(0.0, 2 * np.pi, n)
    r = np.sqrt(1.0 - y**2)
    dirs = np.stack([r * np.sin(azimuth), y, r * np.cos(azimuth)], axis=1)
    return np.stack([look_at(d * distance) for d in dirs])


def camera_centre(pose: np.ndarray) -> np.ndarray:
    """World position of the camera of a world → camera pose."""
    return -pose[:3, :3].T @ pose[:3, 3]


def opengl_to_opencv(pose_gl: np.ndarray) -> np.ndarray:
    """A world → camera pose in OpenGL axes (y up, z back) as OpenCV's (y down, z forward)."""
    return GL_TO_CV @ np.asarray(pose_gl, np.float64)
