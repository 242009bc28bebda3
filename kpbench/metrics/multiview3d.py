"""``multiview3d`` metrics: KeypointNet's relative-pose angular error and a multi-view consistency.

Every metric is a pure function of the ``multiview3d`` evaluation record (its keys are
documented in :func:`kpbench.tasks.multiview3d.evaluation`): ``keypoints_a`` / ``keypoints_b``
(N, K, 3) in each camera's frame, ``relative`` (N, 4, 4) camera a → camera b (OpenCV,
column vectors), ``rotation`` its (N, 3, 3) rotation, ``intrinsics`` (N, 3, 3) px and
``categories`` (N,).

**Relative rotation** (KeypointNet, Suwajanakorn et al. 2018, ``estimate_rotation`` in
tensorflow/models ``research/keypointnet/main.py``, without its training noise): both views'
keypoints are centred on their means, ``H = Σ_k a_k b_kᵀ = U S Vᵀ`` and ``R̂ = V diag(1, 1,
det(V Uᵀ)) Uᵀ``, the proper rotation minimising ``Σ_k ‖R̂ a_k − b_k‖²`` (orthogonal Procrustes
with the det-sign fix, every keypoint weighted alike). The angular error of a pair is
``2·asin(min(1, ‖R̂ − R‖_F / (2√2)))`` in degrees: the geodesic angle of ``R̂ᵀR``, since
``‖R̂ − R‖_F = 2√2·sin(θ/2)`` for two rotations θ apart.

**Consistency** (``consistency_px``): each view's keypoints are carried into the other view
through the true relative pose (``relative`` for a → b, its inverse for b → a) and projected
with the intrinsics, ``(u, v) = (K X)[:2] / (K X)[2]``; the other view's own keypoints are
projected the same way; the L2 distance in px, averaged over keypoints, both directions and
pairs (the reprojection counterpart of KeypointNet's multi-view consistency loss). A keypoint
that lies behind either camera (depth ≤ 0) has no projection: it is left out of that
direction's mean and the breakdown's ``behind_camera`` gives the share left out (%).

**Breakdown**: ``per_category`` (each category's value over its pairs); the value itself is
over all pairs (each pair weighs the same).
"""

from __future__ import annotations

import numpy as np

MultiviewEvaluation = dict  # the record's form is documented in kpbench.tasks.multiview3d


def _keypoints(ev: MultiviewEvaluation) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(ev["keypoints_a"], np.float64)
    b = np.asarray(ev["keypoints_b"], np.float64)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(
            f"multiview3d evaluation: keypoints_a {a.shape} and keypoints_b {b.shape} must both "
            "be (N, K, 3)"
        )
    if not len(a):
        raise ValueError("multiview3d evaluation: no view pair to score")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("multiview3d evaluation: keypoints have non-finite values")
    return a, b


def procrustes_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The proper rotations ``R̂`` (N, 3, 3) best mapping centred ``a`` onto centred ``b``.

    Args:
        a, b: ``(N, K, 3)`` corresponding points; ``b_k ≈ R̂ a_k + t`` per row.
    """
    x = a - a.mean(1, keepdims=True)
    y = b - b.mean(1, keepdims=True)
    u, _, vt = np.linalg.svd(np.einsum("nki,nkj->nij", x, y))
    v = np.swapaxes(vt, 1, 2)
    d = np.sign(np.linalg.det(v @ np.swapaxes(u, 1, 2)))
    d[d == 0] = 1.0
    fix = np.broadcast_to(np.eye(3), (len(a), 3, 3)).copy()
    fix[:, 2, 2] = d
    return v @ fix @ np.swapaxes(u, 1, 2)


def rotation_angle_deg(r_hat: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``2·asin(min(1, ‖R̂ − R‖_F / (2√2)))`` in degrees, per row of (N, 3, 3) stacks."""
    frob = np.linalg.norm(np.asarray(r_hat) - np.asarray(r), axis=(1, 2))
    return np.degrees(2.0 * np.arcsin(np.minimum(1.0, frob / (2.0 * np.sqrt(2.0)))))


def angular_errors(ev: MultiviewEvaluation) -> np.ndarray:
    """Per pair, the angle (deg) between the Procrustes rotation of the keypoints and the truth."""
    a, b = _keypoints(ev)
    rot = np.asarray(ev["rotation"], np.float64)
    if rot.shape != (len(a), 3, 3):
        raise ValueError(f"multiview3d evaluation: rotation {rot.shape}, expected ({len(a)}, 3, 3)")
    return rotation_angle_deg(procrustes_rotation(a, b), rot)


def _per_category(values: np.ndarray, ev: MultiviewEvaluation, reduce) -> tuple[float, dict]:
    cats = np.asarray(ev["categories"]).astype(str)
    if cats.shape != values.shape:
        raise ValueError(
            f"multiview3d evaluation: categories {cats.shape}, expected {values.shape}"
        )
    per = {str(c): float(reduce(values[cats == c])) for c in np.unique(cats)}
    return float(reduce(values)), {"per_category": per}


def angular_error_mean(ev: MultiviewEvaluation) -> tuple[float, dict]:
    """Mean angular error (deg) over the pairs; ``per_category`` breakdown."""
    return _per_category(angular_errors(ev), ev, np.mean)


def angular_error_median(ev: MultiviewEvaluation) -> tuple[float, dict]:
    """Median angular error (deg) over the pairs; ``per_category`` breakdown."""
    return _per_category(angular_errors(ev), ev, np.median)


def angular_error_under(ev: MultiviewEvaluation, degrees: float) -> tuple[float, dict]:
    """% of the pairs whose angular error is below ``degrees``; ``per_category`` breakdown."""
    return _per_category(angular_errors(ev) < degrees, ev, lambda x: 100.0 * np.mean(x))


def project(points: np.ndarray, intrinsics: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, K, 2)`` of camera-frame points ``(N, K, 3)`` and whether each is in front.

    Points at depth ≤ 0 get NaN pixels and ``False``.
    """
    uvw = np.einsum("nij,nkj->nki", np.asarray(intrinsics, np.float64), points)
    front = points[..., 2] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = uvw[..., :2] / uvw[..., 2:]
    return np.where(front[..., None], uv, np.nan), front


def transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``(N, 4, 4)`` rigid transforms applied to ``(N, K, 3)`` points (column vectors)."""
    return np.einsum("nij,nkj->nki", matrix[:, :3, :3], points) + matrix[:, None, :3, 3]


def consistency_errors(ev: MultiviewEvaluation) -> tuple[np.ndarray, np.ndarray]:
    """Reprojection distances (px) of both directions, ``(N, 2, K)``, NaN where a keypoint is
    behind a camera, and the ``(N, 2, K)`` mask of the distances that exist."""
    a, b = _keypoints(ev)
    rel = np.asarray(ev["relative"], np.float64)
    intr = np.asarray(ev["intrinsics"], np.float64)
    dist, valid = [], []
    for src, dst, m in ((a, b, rel), (b, a, np.linalg.inv(rel))):
        carried, front_c = project(transform(m, src), intr)
        own, front_o = project(dst, intr)
        ok = front_c & front_o & (src[..., 2] > 0)
        dist.append(np.where(ok, np.linalg.norm(carried - own, axis=-1), np.nan))
        valid.append(ok)
    return np.stack(dist, 1), np.stack(valid, 1)


def consistency_px(ev: MultiviewEvaluation) -> tuple[float, dict]:
    """Mean reprojection distance (px) of each view's keypoints carried to the other view.

    Raises:
        ValueError: no keypoint is in front of both cameras in any pair.
    """
    dist, valid = consistency_errors(ev)
    if not valid.any():
        raise ValueError("multiview3d consistency: every keypoint is behind a camera (depth ≤ 0)")
    cats = np.asarray(ev["categories"]).astype(str)
    per = {}
    for c in np.unique(cats):
        sel = dist[cats == c]
        per[str(c)] = float(np.nanmean(sel)) if np.isfinite(sel).any() else float("nan")
    behind = 100.0 * (1.0 - valid.mean())
    return float(np.nanmean(dist)), {"per_category": per, "behind_camera": {"all": behind}}
