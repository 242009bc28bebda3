"""``keypoints.png`` for ``multiview3d``: the discovered keypoints on both views of a few pairs.

Each row is one test pair (a thumbnail of view a, then of view b, as the evaluation record
keeps them). On each view, filled dots are that view's predicted keypoints projected with the
intrinsics, coloured by keypoint index (one colour per index in every panel); rings of the
same colour are the other view's keypoints carried into this view through the true relative
pose. Keypoints that are consistent across views sit inside their rings, and a keypoint that
marks the same part of the object in every row is a semantically stable one.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from kpbench.metrics.multiview3d import project, transform


def preview_pairs(objects, count: int) -> list[int]:
    """Up to ``count`` pair indices, one per object, spread evenly over the objects' first pairs."""
    first: dict[str, int] = {}
    for i, o in enumerate(np.asarray(objects).astype(str)):
        first.setdefault(o, i)
    chosen = list(first.values())
    if len(chosen) > count:
        chosen = [chosen[j] for j in np.linspace(0, len(chosen) - 1, count).round().astype(int)]
    return chosen


def _pixels(points: np.ndarray, intrinsics: np.ndarray, size, thumb_shape) -> np.ndarray:
    """Pixels of ``(K, 3)`` camera-frame points on a thumbnail of a ``(W, H)`` view (NaN behind)."""
    uv = project(points[None], intrinsics[None])[0][0]
    sx, sy = thumb_shape[1] / size[0], thumb_shape[0] / size[1]
    return (uv + 0.5) * np.array([sx, sy]) - 0.5  # pixel centres at integers (OpenCV)


def write_plot(ev: dict, folder) -> dict:
    """Write ``keypoints.png`` for the pairs whose thumbnails the record keeps.

    Returns:
        ``{"keypoints_plot": path}``.

    Raises:
        ValueError: the record keeps no thumbnail.
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    thumbs = ev.get("thumbnails") or {}
    if not thumbs:
        raise ValueError("keypoints plot: the evaluation record keeps no view thumbnails")
    rows = sorted(thumbs)
    kp_a = np.asarray(ev["keypoints_a"], np.float64)
    kp_b = np.asarray(ev["keypoints_b"], np.float64)
    rel = np.asarray(ev["relative"], np.float64)
    k = kp_a.shape[1]
    colours = colormaps["rainbow"](np.linspace(0, 1, k))
    fig = Figure(figsize=(4.0, 2.0 * len(rows)), layout="constrained")
    axes = fig.subplots(len(rows), 2, squeeze=False)
    objects, cats = np.asarray(ev["objects"]).astype(str), np.asarray(ev["categories"]).astype(str)
    for row, i in zip(axes, rows):
        intr, size = np.asarray(ev["intrinsics"][i], np.float64), ev["image_sizes"][i]
        carried = {"a": transform(np.linalg.inv(rel[i : i + 1]), kp_b[i : i + 1])[0],
                   "b": transform(rel[i : i + 1], kp_a[i : i + 1])[0]}  # fmt: skip
        for ax, view, img, own in zip(row, "ab", thumbs[i], (kp_a[i], kp_b[i])):
            img = np.asarray(img)
            ax.imshow(img)
            dots = _pixels(own, intr, size, img.shape)
            rings = _pixels(carried[view], intr, size, img.shape)
            ax.scatter(dots[:, 0], dots[:, 1], s=14, c=colours, edgecolors="black", linewidths=0.4)
            ax.scatter(rings[:, 0], rings[:, 1], s=48, facecolors="none", edgecolors=colours,
                       linewidths=1.0)  # fmt: skip
            ax.set(xlim=(-0.5, img.shape[1] - 0.5), ylim=(img.shape[0] - 0.5, -0.5))
            ax.set_title(f"{cats[i]}/{objects[i][:24]} view {view}", fontsize=6)
            ax.set_xticks([])
            ax.set_yticks([])
    out = Path(folder) / "keypoints.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".keypoints.png.tmp")
    try:
        fig.savefig(tmp, format="png", dpi=110)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"keypoints_plot": out}
