"""Top-down crops: an instance box → an affine warp to the network's input, and back.

As the reference (``_box2cs`` and ``get_affine_transform`` in leoxiaobin/deep-high-resolution-net
.pytorch): the box is padded to the input's aspect ratio and enlarged by ``padding`` (1.25); the
crop is one similarity transform (scale, rotation about the box centre) applied by OpenCV's
``warpAffine`` to the whole frame, so a rotated or zoomed-out crop is filled with real pixels
where the frame has them (black outside the frame). Points use pixel centres at integers.
"""

from __future__ import annotations

import numpy as np


def box_to_center_size(
    box: np.ndarray, aspect: float, padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(x, y)`` and crop size ``(w, h)`` px of an ``(x, y, w, h)`` box.

    The box grows along its short side to the input's ``aspect`` (W/H), then by ``padding``.
    """
    x, y, w, h = (float(v) for v in box)
    center = np.array([x + 0.5 * w, y + 0.5 * h])
    w, h = max(w, 1.0), max(h, 1.0)
    if w > aspect * h:
        h = w / aspect
    else:
        w = h * aspect
    return center, np.array([w, h]) * padding


def crop_matrix(
    center: np.ndarray, size: np.ndarray, out_size: tuple[int, int], rotation: float = 0.0
) -> np.ndarray:
    """The ``2×3`` affine taking frame px to crop px.

    ``size`` (w, h) px of the frame maps onto ``out_size`` (W, H); ``center`` goes to the crop's
    centre; ``rotation`` (degrees, counter-clockwise) turns the content about it.
    """
    import cv2

    scale = out_size[0] / float(size[0])
    m = cv2.getRotationMatrix2D((float(center[0]), float(center[1])), float(rotation), scale)
    m[:, 2] += np.array([out_size[0] / 2.0, out_size[1] / 2.0]) - center
    return m


def invert(matrix: np.ndarray) -> np.ndarray:
    """The inverse of a ``2×3`` affine."""
    import cv2

    return cv2.invertAffineTransform(matrix)


def warp(image: np.ndarray, matrix: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """The crop ``(H, W, 3)`` of ``image`` under ``matrix`` (bilinear, black outside the frame)."""
    import cv2

    return cv2.warpAffine(
        image, matrix, (int(out_size[0]), int(out_size[1])), flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )  # fmt: skip


def transform(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``(..., 2)`` points through a ``2×3`` affine (NaN stays NaN)."""
    pts = np.asarray(points, np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


def crop_box(
    image: np.ndarray, box: np.ndarray, out_size: tuple[int, int], padding: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """The test-time crop of an ``(x, y, w, h)`` box (no augmentation) and its ``2×3`` affine."""
    center, size = box_to_center_size(box, out_size[0] / out_size[1], padding)
    m = crop_matrix(center, size, out_size)
    return warp(image, m, out_size), m
