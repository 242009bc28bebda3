"""``lifting3d`` metrics: MPJPE (Protocol 1), P-MPJPE (2), N-MPJPE (3) and MPJVE, VideoPose3D's.

Every metric is a pure function of the ``lifting3d`` evaluation record (its keys are documented
in :func:`kpbench.tasks.lifting3d.evaluation`): ``predicted`` and ``target`` (F, K, 3) mm,
both root-relative in the camera frame, ``actions`` (F,), ``lengths`` (S,) frames per sequence
(the frames of the sequences concatenated in order).

The definitions follow facebookresearch/VideoPose3D ``common/loss.py`` and its evaluation in
``run.py`` (``evaluate``, ``run_evaluation``):

* Errors are L2 distances in mm, averaged over **all K joints** (the root included, as the
  reference averages over its 17 joints; after root subtraction its MPJPE term is 0).
* **Action-wise**: a value is first averaged over the frames of each action (each frame
  weighs the same, as the reference's ``N``-weighted sums over the sequences of one action),
  then over the actions, each action weighing the same. The breakdown ``per_action`` holds
  the per-action values. This is not the frame-wise mean over all frames (the two differ when
  actions have different frame counts; zczcwh/PoseFormer#18).
"""

from __future__ import annotations

import numpy as np

LiftingEvaluation = dict  # the record's form is documented in kpbench.tasks.lifting3d


def _poses(ev: LiftingEvaluation) -> tuple[np.ndarray, np.ndarray]:
    """``predicted`` and ``target`` as float (F, K, 3), shapes and finiteness checked."""
    pred = np.asarray(ev["predicted"], np.float64)
    target = np.asarray(ev["target"], np.float64)
    if pred.shape != target.shape or pred.ndim != 3 or pred.shape[2] != 3:
        raise ValueError(
            f"lifting3d evaluation: predicted {pred.shape} and target {target.shape} must both "
            "be (F, K, 3)"
        )
    if not len(pred):
        raise ValueError("lifting3d evaluation: no frame to score")
    if not (np.isfinite(pred).all() and np.isfinite(target).all()):
        raise ValueError("lifting3d evaluation: predicted or target has non-finite values")
    return pred, target


def _actions(ev: LiftingEvaluation, f: int) -> np.ndarray:
    actions = np.asarray(ev["actions"]).astype(str)
    if actions.shape != (f,):
        raise ValueError(f"lifting3d evaluation: actions {actions.shape}, expected ({f},)")
    return actions


def action_wise(
    per_frame: np.ndarray, actions: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, dict]:
    """Mean of ``per_frame`` over each action's frames, then the mean over the actions.

    Args:
        per_frame: ``(F,)`` a value per frame.
        actions: ``(F,)`` each frame's action.
        weights: ``(F,)`` frame weights (default 1); an action whose frames all weigh 0 has no
            value (NaN in the breakdown) and is left out of the mean over the actions.

    Returns:
        ``(mean over actions, {"per_action": {action: value}})``, actions in sorted order.

    Raises:
        ValueError: no action has a frame of non-zero weight.
    """
    w = np.ones(len(per_frame)) if weights is None else np.asarray(weights, np.float64)
    names, index = np.unique(actions, return_inverse=True)
    total = np.bincount(index, w, minlength=len(names))
    sums = np.bincount(index, np.where(w > 0, per_frame, 0.0) * w, minlength=len(names))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(total > 0, sums / total, np.nan)
    if np.isnan(means).all():
        raise ValueError("lifting3d evaluation: no action has a frame to score")
    return float(np.nanmean(means)), {
        "per_action": {str(a): float(v) for a, v in zip(names, means)}
    }


def joint_errors(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean L2 distance over the joints of each frame, ``(F,)`` (the unit of the inputs)."""
    return np.linalg.norm(pred - target, axis=-1).mean(axis=-1)


def procrustes_aligned(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each frame of ``pred`` after the similarity transform that best fits it to ``target``.

    Per frame, ``a · (pred − μ_pred) R + μ_target`` with the rotation ``R`` (a **proper**
    rotation, det +1), the scale ``a`` and the translation minimising the squared distance to
    ``target`` (Umeyama/Kabsch), as VideoPose3D's ``p_mpjpe``: with ``H = X0ᵀ Y0 = U S Vᵀ``
    (X0, Y0 the centred target and prediction), ``R = V Uᵀ``; where ``det R < 0`` (the best
    orthogonal fit would be a reflection) the sign of the last column of ``V`` and of the
    smallest singular value is flipped, giving the best proper rotation ``V diag(1, 1, −1) Uᵀ``,
    and the scale ``a = tr(S') / ‖Y0‖²`` uses that signed trace. A mirrored prediction is
    therefore *not* aligned away: it keeps the error of the best rotation.

    A frame whose prediction has all joints at one point (``‖Y0‖ = 0``, where the reference
    divides by zero) gets ``a = 0``: every joint at the target's centroid, the least-squares
    answer for a point.

    Args:
        pred, target: ``(F, K, 3)``.

    Returns:
        ``(F, K, 3)`` the aligned prediction.
    """
    mu_x = target.mean(axis=1, keepdims=True)
    mu_y = pred.mean(axis=1, keepdims=True)
    x0, y0 = target - mu_x, pred - mu_y
    h = np.einsum("fki,fkj->fij", x0, y0)  # X0ᵀ Y0, unnormalised (R does not depend on it)
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, 1, 2)
    sign = np.sign(np.linalg.det(v @ np.swapaxes(u, 1, 2)))
    v[:, :, -1] *= sign[:, None]
    s[:, -1] *= sign
    r = v @ np.swapaxes(u, 1, 2)
    norm_y = np.einsum("fkj,fkj->f", y0, y0)
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(norm_y > 0, s.sum(axis=1) / norm_y, 0.0)
    return a[:, None, None] * (y0 @ r) + mu_x


def scale_aligned(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each frame of ``pred`` times the scale that best fits it to ``target`` (no centring).

    ``scale = Σⱼ ⟨targetⱼ, predⱼ⟩ / Σⱼ ‖predⱼ‖²`` **per frame**, as VideoPose3D's ``n_mpjpe``
    (means over the joint axis of its ``(1, T, J, 3)`` tensors, one per frame; the reference
    evaluates one sequence per batch). A frame whose prediction is all zeros keeps scale 0.
    """
    num = np.einsum("fkj,fkj->f", target, pred)
    den = np.einsum("fkj,fkj->f", pred, pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(den > 0, num / den, 0.0)
    return scale[:, None, None] * pred


def mpjpe(ev: LiftingEvaluation) -> tuple[float, dict]:
    """MPJPE, Protocol #1: mean per-joint L2 error of the root-relative poses, mm.

    Definition: ``mean over joints of ‖predicted − target‖₂`` per frame, averaged action-wise
    (per action, then over actions). Lower is better.

    Returns:
        ``(MPJPE mm, {"per_action": {action: MPJPE mm}})``.
    """
    pred, target = _poses(ev)
    return action_wise(joint_errors(pred, target), _actions(ev, len(pred)))


def p_mpjpe(ev: LiftingEvaluation) -> tuple[float, dict]:
    """P-MPJPE, Protocol #2: MPJPE after a per-frame similarity Procrustes alignment, mm.

    Each predicted frame is scaled, rotated (proper rotations only: a reflection is not
    undone, as in VideoPose3D; see :func:`procrustes_aligned`) and translated onto its target
    before the MPJPE is taken; action-wise. Lower is better.

    Returns:
        ``(P-MPJPE mm, {"per_action": {action: P-MPJPE mm}})``.
    """
    pred, target = _poses(ev)
    aligned = procrustes_aligned(pred, target)
    return action_wise(joint_errors(aligned, target), _actions(ev, len(pred)))


def n_mpjpe(ev: LiftingEvaluation) -> tuple[float, dict]:
    """N-MPJPE, Protocol #3: MPJPE after a per-frame least-squares scale of the prediction, mm.

    The scale is VideoPose3D's ``n_mpjpe`` (after Rhodin et al.), one per frame, without
    centring (both poses are root-relative); see :func:`scale_aligned`. Action-wise. Lower is
    better.

    Returns:
        ``(N-MPJPE mm, {"per_action": {action: N-MPJPE mm}})``.
    """
    pred, target = _poses(ev)
    aligned = scale_aligned(pred, target)
    return action_wise(joint_errors(aligned, target), _actions(ev, len(pred)))


def mpjve(ev: LiftingEvaluation) -> tuple[float, dict]:
    """MPJVE: mean per-joint L2 error of the frame-to-frame differences, mm/frame.

    Differences are taken **within each sequence** (``lengths``), never across the boundary
    between two concatenated sequences. As VideoPose3D's ``mean_velocity_error`` and
    ``evaluate``: a sequence's value is the mean over its T − 1 differences and K joints of
    ``‖Δpredicted − Δtarget‖₂``; within an action the sequences are weighted by their frame
    count T (the reference's ``N``-weighted sum), then the actions are averaged. A
    one-frame sequence has no difference and is left out. Lower is better.

    Returns:
        ``(MPJVE mm/frame, {"per_action": {action: MPJVE mm/frame}})``.

    Raises:
        ValueError: ``lengths`` does not sum to F, a sequence spans several actions, or no
            sequence has two frames.
    """
    pred, target = _poses(ev)
    actions = _actions(ev, len(pred))
    lengths = np.asarray(ev["lengths"], np.int64).reshape(-1)
    if lengths.sum() != len(pred) or (lengths < 0).any():
        raise ValueError(
            f"lifting3d evaluation: lengths sum to {int(lengths.sum())}, expected F={len(pred)}"
        )
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    # err[i]: frames i -> i + 1; only the differences inside one sequence are used below
    err = np.linalg.norm(np.diff(pred, axis=0) - np.diff(target, axis=0), axis=-1).mean(-1)
    per_frame, weights = np.zeros(len(pred)), np.zeros(len(pred))
    for i, (start, n) in enumerate(zip(starts, lengths)):
        if n < 2:
            continue
        if (actions[start : start + n] != actions[start]).any():
            raise ValueError(f"lifting3d evaluation: sequence #{i} spans several actions")
        per_frame[start : start + n] = err[start : start + n - 1].mean()
        weights[start : start + n] = 1.0  # the sequence weighs its T frames
    if not weights.any():
        raise ValueError("lifting3d evaluation: no sequence has two frames for MPJVE")
    return action_wise(per_frame, actions, weights)
