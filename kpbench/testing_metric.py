"""The metric check of the conformance suite (:func:`check_metric`) and the perfect predictions
it scores, re-exported by :mod:`kpbench.testing`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from kpbench.testing_data import _fail, _registry, _task, _validate


# -- metrics -------------------------------------------------------------------------------------
def _perfect_discovery2d(evalset) -> dict:
    return {"keypoints": np.nan_to_num(np.asarray(evalset.truth["annotated"], np.float64))}


def _perfect_pose2d(evalset) -> dict:
    kp = np.nan_to_num(np.asarray(evalset.truth["keypoints"], np.float64))
    return {"keypoints": kp, "scores": np.ones(kp.shape[:2])}


def _perfect_behavior(evalset) -> dict:
    labels = np.clip(np.asarray(evalset.truth["labels"], np.int64), 0, None)
    return {"scores": np.eye(evalset.dims["C"])[labels]}


def _perfect_lifting3d(evalset) -> dict:
    return {"keypoints3d": np.asarray(evalset.truth["keypoints3d"], np.float64).copy()}


def _perfect_multiview3d(evalset) -> dict:
    """Points 30 units in front of camera a, carried into camera b by the true relative pose."""
    rel = np.asarray(evalset.truth["relative"], np.float64)
    grid = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], np.float64)
    pts = np.broadcast_to(grid * [0.8, 0.5, 0.3] + [0.0, 0.0, 30.0], (len(rel), 8, 3))
    carried = np.einsum("nij,nkj->nki", rel[:, :3, :3], pts) + rel[:, None, :3, 3]
    return {"keypoints_a": pts.copy(), "keypoints_b": carried}


#: task -> ``perfect(evalset) -> prediction``: the truth of the task's smoke set as a prediction.
PERFECT: dict[str, Callable[[Any], dict]] = {
    "discovery2d": _perfect_discovery2d,
    "pose2d": _perfect_pose2d,
    "behavior": _perfect_behavior,
    "lifting3d": _perfect_lifting3d,
    "multiview3d": _perfect_multiview3d,
}

#: ``(task, metric) -> value`` on a perfect prediction, where the default rule does not apply
#: (default: 0 for lower-is-better; 100 for a higher-is-better metric in %).
IDEAL: dict[tuple[str, str], float] = {
    ("discovery2d", "regression_error"): 0.0,
    ("discovery2d", "regression_error_px"): 0.0,
    ("discovery2d", "pck@0.05"): 100.0,
    ("discovery2d", "pck@0.1"): 100.0,
    ("pose2d", "pck@0.05"): 100.0,
    ("pose2d", "pck@0.1"): 100.0,
    ("pose2d", "pck@0.2"): 100.0,
    ("pose2d", "rmse_px"): 0.0,
    ("pose2d", "oks_ap"): 100.0,
    ("pose2d", "oks_ar"): 100.0,
}


def check_metric(
    spec,
    registry=None,
    perfect: Callable[[Any], dict] | None = None,
    ideal: float | None = None,
    seed: int = 0,
) -> float | str:
    """Check a metric's declaration and its value on a perfect prediction.

    Args:
        spec: the :class:`kpbench.specs.MetricSpec`.
        registry: where its task is looked up (default: the process registry).
        perfect: ``perfect(evalset) -> prediction`` from the smoke set's truth (default:
            :data:`PERFECT` for the task).
        ideal: the value a perfect prediction scores (default: :data:`IDEAL`, else 0 for
            lower-is-better and 100 for a higher-is-better ``%`` metric).
        seed: seed of the task's smoke set.

    Returns:
        The metric's value on the perfect prediction, or ``"not checked: ..."`` when there is no
        perfect prediction or no ideal value for it.
    """
    from kpbench.evaluation import score, task_options

    who = f"metric {spec.task}/{spec.name}"
    if not isinstance(spec.unit, str) or not spec.unit.strip():
        _fail(f"{who}: unit {spec.unit!r} must be a non-empty string ('%', 'px'; '1' if unitless)")
    if not isinstance(spec.higher_is_better, bool):
        _fail(f"{who}: higher_is_better must be True or False, got {spec.higher_is_better!r}")
    if not callable(spec.fn):
        _fail(f"{who}: fn is not callable")
    reg = _registry(registry)
    task = _task(reg, spec.task, who)
    perfect = perfect or PERFECT.get(spec.task)
    if perfect is None or task.smoke is None:
        return f"not checked: no perfect prediction for task {spec.task}"
    if ideal is None:
        ideal = IDEAL.get((spec.task, spec.name))
    if ideal is None:
        ideal = 100.0 if spec.higher_is_better and spec.unit == "%" else None
        ideal = 0.0 if not spec.higher_is_better else ideal
    if ideal is None:
        return f"not checked: pass ideal= for {who}"
    evalset = task.smoke(seed)
    prediction = perfect(evalset)
    _validate(task, prediction, evalset, f"perfect prediction for {spec.task}")
    record = task.evaluation(evalset, prediction, task_options(task, "smoke", {}))
    entry = score([spec], record)[spec.name]
    if entry["value"] is None:
        _fail(f"{who}: failed on a perfect prediction: {entry.get('error')}")
    value = entry["value"]
    if not math.isclose(value, ideal, rel_tol=1e-6, abs_tol=1e-6):
        _fail(
            f"{who} = {value:.6g} {spec.unit} on a perfect prediction of the {spec.task} smoke "
            f"set; expected its ideal value {ideal:g}"
        )
    return value
