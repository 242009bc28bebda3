"""Discovered keypoints out of the run: a per-video file, an overlay image and an overlay video.

Keypoint file ``keypoints/<video>.npz`` (one per video, all splits merged):

==============  ================  =====================================================
key             shape             meaning
==============  ================  =====================================================
keypoints       (N, K, 2) f4      x, y in pixels of the original frame (x right, y down)
confidence      (N, K) f4         max of the keypoint's softmax heatmap, in [0, 1]
covariance      (N, K, 3) f4      var_x, var_y, cov_xy of the heatmap, in px²
frame_index     (N,) i8           frame number in the video (0-based)
fps             ()                frames per second of the video
image_size      (2,) i8           W, H of the original frame in px
video           ()                path of the video file
==============  ================  =====================================================

Unlike the reference code's ``.npz`` (integer ``[y, x]`` and each covariance term + 1), these are
float ``(x, y)`` pixels and plain second moments, so they feed the ``behavior`` task directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def palette(k: int) -> list[tuple[int, int, int]]:
    """``k`` distinct RGB colours (matplotlib's tab10/tab20)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return [tuple(int(255 * c) for c in cmap(i % cmap.N)[:3]) for i in range(k)]


def draw_keypoints(
    frame: np.ndarray, keypoints: np.ndarray, radius: int | None = None
) -> np.ndarray:
    """Draw keypoints ``(K, 2)`` px on a copy of an RGB frame, each in its own colour, with its index."""
    import cv2

    out = np.ascontiguousarray(frame.copy())
    h, w = out.shape[:2]
    r = radius or max(2, round(min(h, w) / 80))
    for i, ((x, y), colour) in enumerate(zip(keypoints, palette(len(keypoints)))):
        if not np.isfinite([x, y]).all():
            continue
        c = (int(round(x)), int(round(y)))
        cv2.circle(out, c, r + 1, (0, 0, 0), -1, cv2.LINE_AA)
        cv2.circle(out, c, r, colour, -1, cv2.LINE_AA)
        cv2.putText(
            out,
            str(i),
            (c[0] + r + 1, c[1] - r),
            cv2.FONT_HERSHEY_SIMPLEX,
            max(0.3, r / 8),
            colour,
            1,
            cv2.LINE_AA,
        )
    return out


def save_keypoints(
    path: Path,
    video_path: Path,
    fps: float,
    image_size: tuple[int, int],
    pred: dict,
    index: np.ndarray,
) -> Path:
    """Write one video's discovered keypoints (format in the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        keypoints=pred["keypoints"].astype(np.float32),
        confidence=pred["confidence"].astype(np.float32),
        covariance=pred["covariance"].astype(np.float32),
        frame_index=np.asarray(index, dtype=np.int64),
        fps=np.float64(fps),
        image_size=np.asarray(image_size, dtype=np.int64),
        video=str(video_path),
    )
    return path


def save_overlay_image(
    path: Path, frames: list[np.ndarray], keypoints: list[np.ndarray], tile: int = 320
) -> Path:
    """Tile up to 4 frames with their keypoints into one PNG (2 × 2 grid)."""
    import cv2

    drawn = []
    for f, k in zip(frames[:4], keypoints[:4]):
        scale = tile / max(f.shape[:2])
        small = cv2.resize(
            f, (round(f.shape[1] * scale), round(f.shape[0] * scale)), interpolation=cv2.INTER_AREA
        )
        canvas = np.zeros((tile, tile, 3), np.uint8)
        canvas[: small.shape[0], : small.shape[1]] = draw_keypoints(small, k * scale)
        drawn.append(canvas)
    while len(drawn) < 4:
        drawn.append(np.zeros((tile, tile, 3), np.uint8))
    grid = np.vstack([np.hstack(drawn[:2]), np.hstack(drawn[2:])])
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))
    return path


def save_overlay_video(path: Path, frames, keypoints: np.ndarray, fps: float) -> Path:
    """Write an mp4 of ``frames`` (iterable of RGB arrays) with ``keypoints[i]`` (px of frame i)
    drawn on frame i. The video takes the first frame's size; a frame of another size is resized
    to it with its keypoints scaled alike (OpenCV would drop it silently)."""
    import cv2

    writer, size = None, None
    try:
        for f, k in zip(frames, keypoints):
            if writer is None:
                size = (f.shape[1], f.shape[0])
                writer = cv2.VideoWriter(
                    str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), size
                )
            if (f.shape[1], f.shape[0]) != size:
                k = np.asarray(k, np.float64) * (np.asarray(size) / (f.shape[1], f.shape[0]))
                f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            writer.write(cv2.cvtColor(draw_keypoints(f, k), cv2.COLOR_RGB2BGR))
    finally:
        if writer is not None:
            writer.release()
    return path
