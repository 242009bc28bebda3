"""View pairs → the arrays KeypointNet trains and predicts on, and synthetic pairs for timing.

A pair becomes: both views resized to ``S × S`` (uint8, area interpolation), their masks
(nearest; all ones when the dataset has none, so the silhouette term is 0), the NDC camera
``(a_x, b_x, a_y, b_y)`` of the original view's intrinsics and size
(:func:`kpbench_plugins.keypointnet.geometry.camera_ndc`), and for training the relative pose,
the orientation targets (NDC of the object-space points ±``orient_axis`` in each view) and the
true orientation flag (the object's ``orient_axis`` points right in the image: ``(R a)_x > 0``,
the reference's ``sign(mv[0][0])`` for a = +x).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from kpbench_plugins.keypointnet.geometry import camera_ndc


def resize(image: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    return cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=interp)


def views(pair, size: int) -> dict:
    """Images (2, S, S, 3) uint8, masks (2, S, S) bool and cameras (2, 4) of an input pair."""
    imgs, masks, cams = [], [], []
    for v in "ab":
        img = np.asarray(pair[f"image_{v}"])
        h, w = img.shape[:2]
        imgs.append(resize(img[..., :3], size))
        m = pair.get(f"mask_{v}")
        m = np.ones((h, w), np.uint8) if m is None else np.asarray(m).astype(np.uint8)
        masks.append(resize(m, size, nearest=True).astype(bool))
        cams.append(camera_ndc(pair["intrinsics"], (w, h)))
    return {"images": np.stack(imgs), "masks": np.stack(masks), "cams": np.stack(cams)}


def orient_targets(pose: np.ndarray, cam: np.ndarray, axis) -> tuple[np.ndarray, float]:
    """NDC (2, 2) of the object-space points +axis and −axis in a view, and the true flag."""
    axis = np.asarray(axis, np.float64)
    pts = np.stack([axis, -axis]) @ pose[:3, :3].T + pose[:3, 3]
    ndc = np.stack([cam[0] * pts[:, 0] / pts[:, 2] + cam[1],
                    cam[2] * pts[:, 1] / pts[:, 2] + cam[3]], -1)  # fmt: skip
    return ndc, float((pose[:3, :3] @ axis)[0] > 0)


def training_pair(pair, size: int, axis) -> dict:
    """Everything one training pair contributes (see the module docstring)."""
    out = views(pair, size)
    targets, flags = zip(*(orient_targets(np.asarray(pair[f"pose_{v}"], np.float64), c, axis)
                           for v, c in zip("ab", out["cams"])))  # fmt: skip
    out["relative"] = np.asarray(pair["relative"], np.float64)
    out["orient_target"] = np.stack(targets)
    out["flag"] = np.array(flags)
    return out


def stack(items: list[dict]) -> dict:
    return {k: np.stack([it[k] for it in items]) for k in items[0]}


def to_batch(arrays: dict, device) -> dict:
    """Stacked training arrays → float32 tensors: ``images`` (B, 2, 3, S, S) in [0, 1]."""
    t = {k: torch.from_numpy(np.asarray(v)) for k, v in arrays.items()}
    out = {"images": t["images"].permute(0, 1, 4, 2, 3).float().div(255.0),
           "masks": t["masks"].float()}  # fmt: skip
    for k in ("cams", "relative", "orient_target", "flag"):
        if k in t:
            out[k] = t[k].float()
    return {k: v.to(device) for k, v in out.items()}


def _look_at(centre: np.ndarray) -> np.ndarray:
    z = -centre / np.linalg.norm(centre)
    x = np.cross(z, [0.0, 1.0, 0.0])
    x /= np.linalg.norm(x)
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z])
    pose[:3, 3] = -pose[:3, :3] @ centre
    return pose


def synthetic_pairs(n: int, size: int, seed: int = 0, distance: float = 30.0) -> list[dict]:
    """``n`` pairs of noise images with a central mask, seen by 5°-FOV cameras ``distance``
    away on the upper hemisphere: the shapes of real pairs, for timing and tests."""
    rng = np.random.default_rng(seed)
    f = (size / 2) / np.tan(np.radians(2.5))
    intr = np.array([[f, 0, (size - 1) / 2], [0, f, (size - 1) / 2], [0, 0, 1]])
    mask = np.zeros((size, size), bool)
    mask[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = True
    pairs = []
    for _ in range(n):
        poses = []
        for _ in range(2):
            d = rng.normal(size=3)
            d[1] = abs(d[1]) + 0.1
            poses.append(_look_at(distance * d / np.linalg.norm(d)))
        img = rng.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
        pairs.append({"image_a": img[0], "image_b": img[1], "mask_a": mask, "mask_b": mask,
                      "intrinsics": intr, "pose_a": poses[0], "pose_b": poses[1],
                      "relative": poses[1] @ np.linalg.inv(poses[0])})  # fmt: skip
    return pairs
