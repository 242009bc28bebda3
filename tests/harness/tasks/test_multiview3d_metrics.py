"""multiview3d metrics: hand-computed angles and consistencies, scipy as an independent check,
per-category breakdowns, the baselines through the metrics, the keypoints plot."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from kpbench.evaluation import score
from kpbench.metrics import multiview3d as mm
from kpbench.plugins import get_registry
from kpbench.tasks import multiview3d as task

INTR = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])


def _record(a, b, rel, cats=None) -> dict:
    a, b, rel = np.asarray(a, float), np.asarray(b, float), np.asarray(rel, float)
    n = len(a)
    return {"keypoints_a": a, "keypoints_b": b, "relative": rel, "rotation": rel[:, :3, :3],
            "intrinsics": np.stack([INTR] * n),
            "categories": np.array(cats or ["car"] * n)}  # fmt: skip


def _rigid(rot, t=(0.0, 0.0, 0.0)) -> np.ndarray:
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rot, t
    return m


def _carry(m, pts):
    return pts @ m[:3, :3].T + m[:3, 3]


RZ90 = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
RX180 = np.diag([1.0, -1, -1])


def test_hand_computed_angles():
    pts = np.random.default_rng(0).normal(size=(6, 3))
    # identity prediction (same points in both views) against 90° about z: ‖I − R‖_F = 2, so
    # 2·asin(2 / 2√2) = 90°; against 180° about x: ‖I − R‖_F = 2√2, 2·asin(1) = 180°
    ev = _record([pts, pts], [pts, pts], [_rigid(RZ90), _rigid(RX180)])
    np.testing.assert_allclose(mm.angular_errors(ev), [90.0, 180.0], atol=1e-9)
    # keypoints that move exactly with the true pose give 0°
    rel = _rigid(RZ90, (1.0, 2.0, 3.0))
    ev = _record([pts], [_carry(rel, pts)], [rel])
    np.testing.assert_allclose(mm.angular_errors(ev), [0.0], atol=1e-6)


def test_procrustes_and_angle_against_scipy():
    rng = np.random.default_rng(1)
    rots = Rotation.random(20, random_state=2).as_matrix()
    a = rng.normal(size=(20, 8, 3))
    b = (
        np.einsum("nij,nkj->nki", rots, a)
        + rng.normal(size=(20, 1, 3))
        + rng.normal(0, 0.3, a.shape)
    )
    r_hat = mm.procrustes_rotation(a, b)
    for n in range(20):
        x, y = a[n] - a[n].mean(0), b[n] - b[n].mean(0)
        omega, _ = orthogonal_procrustes(x, y)  # x @ Ω ≈ y, so Ω = R̂ᵀ (proper at this noise)
        np.testing.assert_allclose(r_hat[n], omega.T, atol=1e-9)
        proper, _ = Rotation.align_vectors(y, x)
        np.testing.assert_allclose(r_hat[n], proper.as_matrix(), atol=1e-9)
    truth = Rotation.random(20, random_state=3).as_matrix()
    ev = _record(a, b, [_rigid(r) for r in truth])
    want = np.degrees(Rotation.from_matrix(np.swapaxes(r_hat, 1, 2) @ truth).magnitude())
    np.testing.assert_allclose(mm.angular_errors(ev), want, atol=1e-6)


def test_det_sign_fix_gives_the_best_proper_rotation_of_a_mirror_image():
    a = np.random.default_rng(4).normal(size=(1, 7, 3))
    b = a * [-1.0, 1.0, 1.0]  # a reflection: the unconstrained fit would have det −1
    r_hat = mm.procrustes_rotation(a, b)[0]
    assert np.isclose(np.linalg.det(r_hat), 1.0)
    proper, _ = Rotation.align_vectors(b[0] - b[0].mean(0), a[0] - a[0].mean(0))
    np.testing.assert_allclose(r_hat, proper.as_matrix(), atol=1e-9)


def test_summaries_and_per_category_breakdown():
    # four pairs whose identity prediction is off by 3°, 8°, 20° and 40° about z
    pts = np.random.default_rng(5).normal(size=(5, 3))
    rels = [_rigid(Rotation.from_euler("z", d, degrees=True).as_matrix()) for d in (3, 8, 20, 40)]
    ev = _record([pts] * 4, [pts] * 4, rels, ["car", "car", "chair", "chair"])
    mean, br = mm.angular_error_mean(ev)
    assert np.isclose(mean, 17.75) and np.isclose(br["per_category"]["car"], 5.5)
    assert np.isclose(br["per_category"]["chair"], 30.0)
    median, br = mm.angular_error_median(ev)
    assert np.isclose(median, 14.0) and np.isclose(br["per_category"]["chair"], 30.0)
    got = [mm.angular_error_under(ev, d)[0] for d in (5.0, 10.0, 30.0)]
    np.testing.assert_allclose(got, [25.0, 50.0, 75.0])
    assert mm.angular_error_under(ev, 10.0)[1]["per_category"] == {"car": 100.0, "chair": 0.0}


def test_consistency_hand_computed():
    # f = 100 px, centre (50, 50): a at (0, 0, 10) → (50, 50); b at (1, 0, 10) → (60, 50)
    a = np.array([[[0.0, 0, 10]]])
    b = np.array([[[1.0, 0, 10]]])
    value, br = mm.consistency_px(_record(a, b, [np.eye(4)]))
    assert np.isclose(value, 10.0) and br["behind_camera"]["all"] == 0.0
    # consistent under a real pose: 0 px
    pts = np.random.default_rng(6).normal(size=(1, 6, 3)) + [0, 0, 30]
    rel = _rigid(Rotation.from_euler("y", 30, degrees=True).as_matrix(), (5.0, 0.0, 3.0))
    value, _ = mm.consistency_px(_record(pts, _carry(rel, pts[0])[None], [rel]))
    assert value < 1e-9
    # translated in view b by 0.3 along x at depth 30 ... each direction is 1 px (f·0.3/30)
    shifted = _carry(rel, pts[0])[None] + [0.3, 0, 0]
    rel_depth = _carry(rel, pts[0])[:, 2]
    want_ab = 100 * 0.3 / rel_depth  # b's own vs a carried, at b's depths
    dist, valid = mm.consistency_errors(_record(pts, shifted, [rel]))
    np.testing.assert_allclose(dist[0, 0], want_ab, rtol=1e-9)
    assert valid.all()


def test_keypoints_behind_a_camera_are_left_out_and_counted():
    a = np.array([[[0.0, 0, 10], [0.0, 0, -5]]])
    b = np.array([[[1.0, 0, 10], [0.0, 0, -5]]])
    value, br = mm.consistency_px(_record(a, b, [np.eye(4)]))
    assert np.isclose(value, 10.0) and np.isclose(br["behind_camera"]["all"], 50.0)
    with pytest.raises(ValueError, match="behind a camera"):
        mm.consistency_px(_record(a[:, 1:], b[:, 1:], [np.eye(4)]))


def test_bad_records_are_one_line_errors():
    with pytest.raises(ValueError, match="must both be"):
        mm.angular_errors(_record(np.zeros((1, 4, 3)), np.zeros((1, 5, 3)), [np.eye(4)]))
    with pytest.raises(ValueError, match="non-finite"):
        mm.angular_errors(_record(np.full((1, 4, 3), np.nan), np.zeros((1, 4, 3)), [np.eye(4)]))


def test_registered_metrics_score_the_smoke_set_baselines_and_a_perfect_prediction():
    reg = get_registry()
    metrics = reg.metrics("multiview3d")
    assert {m.name for m in metrics} == {
        "angular_error_mean", "angular_error_median", "angular_error_under_5",
        "angular_error_under_10", "angular_error_under_30", "consistency_px"}  # fmt: skip
    ev = task.smoke(0)
    rel = ev.truth["relative"]
    pts = np.random.default_rng(0).normal(size=(4, 10, 3)) + [0, 0, 30]
    perfect = {
        "keypoints_a": pts,
        "keypoints_b": np.stack([_carry(m, p) for m, p in zip(rel, pts)]),
    }
    opts = dict(task.kpbench_tasks()[0].options)
    best = score(metrics, task.evaluation(ev, perfect, opts))
    assert best["angular_error_mean"]["value"] < 1e-4 and best["consistency_px"]["value"] < 1e-6
    assert best["angular_error_under_5"]["value"] == 100.0
    ident = score(metrics, task.evaluation(ev, task.baseline_identity_rotation(ev, None, 0), opts))
    angles = np.degrees(Rotation.from_matrix(rel[:, :3, :3]).magnitude())
    assert np.isclose(ident["angular_error_mean"]["value"], angles.mean())
    assert ident["angular_error_mean"]["breakdown"]["per_category"] == {
        "smoke": pytest.approx(angles.mean())
    }


def test_record_keeps_thumbnails_of_the_preview_pairs_only_and_the_plot_is_written(tmp_path):
    ev = task.smoke(0)
    pred = task.baseline_random_keypoints(ev, None, 0)
    pred["keypoints_a"] += [0, 0, 30]
    pred["keypoints_b"] += [0, 0, 30]
    rec = task.evaluation(ev, pred, {})
    assert sorted(rec["thumbnails"]) == [0, 1, 2, 3]  # four objects, four preview pairs
    assert rec["thumbnails"][0][0].shape == (16, 16, 3) and rec["image_sizes"][0] == (16, 16)
    assert task.mp.preview_pairs(["x", "x", "y", "z", "z", "w", "v"], 3) == [0, 3, 6]
    spec = next(
        e.spec for e in get_registry().exporters("multiview3d") if e.spec.name == "keypoints_plot"
    )
    out = spec.write(rec, tmp_path)
    assert (
        out["keypoints_plot"].name == "keypoints.png"
        and out["keypoints_plot"].stat().st_size > 1000
    )
    with pytest.raises(ValueError, match="no view thumbnails"):
        spec.write({**rec, "thumbnails": {}}, tmp_path)
