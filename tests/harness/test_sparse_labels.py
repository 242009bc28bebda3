"""discovery2d with sparsely labelled joints (issue #13): a joint labelled on too few fit
frames is left out of the regression and the metrics, with a note saying which and why, and
the other joints are still scored; with no joint left, the metric says why it has no value."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.evaluation import EvalSet, score
from kpbench.metrics import discovery as d
from kpbench.tasks import discovery2d as t

K, J, N_FIT, N_TEST = 10, 3, 30, 8
NAMES = ["nose", "neck", "tail"]


def _evalset_and_prediction(labelled_fit_frames: dict[int, int]):
    """Joint j = a fixed linear map of the K discovered keypoints; joint j labelled on only the
    first ``labelled_fit_frames[j]`` fit frames where given."""
    rng = np.random.default_rng(0)
    disc = rng.uniform(5, 95, (N_FIT + N_TEST, K, 2))
    ann = disc[:, :J].copy()
    for j, n in labelled_fit_frames.items():
        ann[n:N_FIT, j] = np.nan
    evalset = EvalSet(
        inputs=[{"source": f"f{i}"} for i in range(N_FIT + N_TEST)],
        truth={"annotated": ann, "n_fit": N_FIT, "image_size": (100, 100), "keypoint_names": NAMES},
        ids=[f"f{i}" for i in range(N_FIT + N_TEST)],
        dims={"N": N_FIT + N_TEST},
        info={"fit_frames": N_FIT, "test_frames": N_TEST},
    )
    return evalset, {"keypoints": disc}


def _score(evalset, prediction):
    ev = t.evaluation(evalset, prediction, {"regression_origin": "centre"})
    return score(t.kpbench_metrics(), ev)


def test_a_sparse_joint_is_excluded_with_a_note_and_the_others_are_scored():
    evalset, pred = _evalset_and_prediction({2: 13})
    metrics = _score(evalset, pred)
    note = evalset.info["excluded"]
    assert note == {
        "tail": "joint tail excluded: labelled on 13 fit frames, the regression from K=10 "
        "keypoints needs ≥ 20"
    }
    for name, m in metrics.items():
        assert m["value"] is not None, (name, m.get("error"))
        assert np.isnan(m["breakdown"]["per_joint"]["tail"])
        assert np.isfinite(m["breakdown"]["per_joint"]["nose"])
    # the remaining joints follow the linear map exactly, so they are scored perfectly
    assert metrics["regression_error"]["value"] == pytest.approx(0.0, abs=1e-8)
    assert metrics["pck@0.05"]["value"] == 100.0


def test_scored_joints_match_a_run_without_the_sparse_joint():
    evalset, pred = _evalset_and_prediction({2: 13})
    ev = t.evaluation(evalset, pred, {"regression_origin": "centre"})
    ev["test_annotated"] = ev["test_annotated"] + np.random.default_rng(1).normal(
        0, 2, (N_TEST, J, 2)
    )
    without = {
        **ev,
        "fit_annotated": ev["fit_annotated"][:, :2],
        "test_annotated": ev["test_annotated"][:, :2],
        "keypoint_names": NAMES[:2],
    }
    assert d.regression_error_px(ev) == pytest.approx(d.regression_error_px(without), rel=1e-12)


def test_no_joint_left_makes_the_metric_say_why():
    evalset, pred = _evalset_and_prediction({0: 13, 1: 5, 2: 19})
    metrics = _score(evalset, pred)
    assert set(evalset.info["excluded"]) == set(NAMES)
    for m in metrics.values():
        assert m["value"] is None
        assert "joint nose excluded: labelled on 13 fit frames" in m["error"]
        assert "joint neck excluded: labelled on 5 fit frames" in m["error"]
        assert "\n" not in m["error"]


def test_enough_labels_exclude_nothing():
    evalset, pred = _evalset_and_prediction({2: 20})
    metrics = _score(evalset, pred)
    assert "excluded" not in evalset.info
    assert np.isfinite(metrics["regression_error"]["breakdown"]["per_joint"]["tail"])
