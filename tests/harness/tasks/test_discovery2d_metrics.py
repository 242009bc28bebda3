"""discovery2d metrics: hand-computed cases, an independent least-squares check in both
coordinate frames (BKinD's centred one and kpbench 0.1's corner one), baselines, errors."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.metrics import discovery as d


def make_ev(fit_disc, fit_ann, test_disc, test_ann, size=(100, 100), origin="corner") -> dict:
    return {
        "fit_discovered": np.asarray(fit_disc, float),
        "fit_annotated": np.asarray(fit_ann, float),
        "test_discovered": np.asarray(test_disc, float),
        "test_annotated": np.asarray(test_ann, float),
        "image_size": size,
        "regression_origin": origin,
    }


def points(rng, n, k, size=(100, 100)) -> np.ndarray:
    """(n, k, 2) px uniformly inside an image of ``size`` (W, H)."""
    return rng.uniform(0.05, 0.95, (n, k, 2)) * np.asarray(size, float)


def offset_ev(offsets_px, size, seed=0) -> dict:
    """Identity on the fit frames; test annotations = test discoveries + a fixed per-joint offset."""
    rng = np.random.default_rng(seed)
    k = len(offsets_px)
    fit, test = points(rng, 12, k, size), points(rng, 5, k, size)
    return make_ev(fit, fit, test, test + np.asarray(offsets_px, float), size)


def test_perfect_discovery_scores_zero_error_and_full_pck():
    rng = np.random.default_rng(1)
    fit, test = points(rng, 10, 3), points(rng, 6, 3)
    ev = make_ev(fit, fit, test, test)
    assert d.regression_error_percent(ev) == pytest.approx(0.0, abs=1e-9)
    assert d.regression_error_px(ev) == pytest.approx(0.0, abs=1e-7)
    assert d.pck_after_regression(ev, 0.05) == 100.0


def test_known_linear_map_without_bias_is_recovered():
    rng = np.random.default_rng(2)
    k, j = 4, 3
    a = rng.normal(size=(2 * k, 2 * j))
    fit, test = points(rng, 30, k), points(rng, 8, k)

    def apply(disc):  # the map acts on normalised coordinates; square image, so px scale back
        return (d.normalise(disc, (100, 100)).reshape(len(disc), -1) @ a).reshape(
            len(disc), j, 2
        ) * 100

    ev = make_ev(fit, apply(fit), test, apply(test))
    w = d.fit_regression(d.normalise(fit, (100, 100)), d.normalise(apply(fit), (100, 100)))
    assert w.shape == (2 * k, 2 * j)
    np.testing.assert_allclose(w, a, atol=1e-9)
    assert d.regression_error_percent(ev) < 1e-9


def test_fixed_offsets_by_hand_on_a_non_square_image():
    # 200 x 100 px: joint 0 is 6 px off in x (6/200 = 3 %), joint 1 is 4 px off in y (4/100 = 4 %)
    ev = offset_ev([[6.0, 0.0], [0.0, 4.0]], size=(200, 100))
    assert d.regression_error_percent(ev) == pytest.approx((3.0 + 4.0) / 2, abs=1e-9)
    assert d.regression_error_px(ev) == pytest.approx((6.0 + 4.0) / 2, abs=1e-7)


def test_fixed_offset_by_hand_on_a_square_image():
    ev = offset_ev([[3.0, 4.0], [3.0, 4.0]], size=(100, 100))  # 5 px off = 5 % of 100 px
    assert d.regression_error_percent(ev) == pytest.approx(5.0, abs=1e-9)
    assert d.regression_error_px(ev) == pytest.approx(5.0, abs=1e-7)


def test_pck_thresholds():
    # normalised distances 0.03, 0.07 and 0.2 (100 x 100 px image)
    ev = offset_ev([[3.0, 0.0], [0.0, 7.0], [20.0, 0.0]], size=(100, 100))
    assert d.pck_after_regression(ev, 0.05) == pytest.approx(100 / 3)
    assert d.pck_after_regression(ev, 0.1) == pytest.approx(200 / 3)
    assert d.pck_after_regression(ev, 0.25) == pytest.approx(100.0)


@pytest.mark.parametrize("origin", ["corner", "centre"])
def test_matches_an_independent_least_squares_on_full_matrices(origin):
    """The reference pipeline written out: BKinD regresses ``kps * 2 - 1`` without bias
    (``Ridge(alpha=0, fit_intercept=False)``) and maps back with ``(p + 1) / 2``."""
    rng = np.random.default_rng(3)
    k, j, size = 5, 4, (320, 240)
    ev = make_ev(
        points(rng, 40, k, size),
        points(rng, 40, j, size),
        points(rng, 15, k, size),
        points(rng, 15, j, size),
        size,
        origin,
    )
    s = np.asarray(size, float)
    a, b = (2.0, -1.0) if origin == "centre" else (1.0, 0.0)  # unit -> regression frame
    x_fit = (a * ev["fit_discovered"] / s + b).reshape(40, -1)
    y_fit = (a * ev["fit_annotated"] / s + b).reshape(40, -1)
    w_np = np.linalg.solve(x_fit.T @ x_fit, x_fit.T @ y_fit)  # normal equations, no bias column

    x_test = (a * ev["test_discovered"] / s + b).reshape(15, -1)
    pred = ((x_test @ w_np).reshape(15, j, 2) - b) / a
    dist = np.sqrt(((pred - ev["test_annotated"] / s) ** 2).sum(-1))
    dist_px = np.sqrt(((pred * s - ev["test_annotated"]) ** 2).sum(-1))
    assert d.regression_error_percent(ev) == pytest.approx(100 * dist.mean(), abs=1e-8)
    assert d.regression_error_px(ev) == pytest.approx(dist_px.mean(), abs=1e-8)
    assert d.pck_after_regression(ev, 0.1) == pytest.approx(100 * (dist <= 0.1).mean())


def test_unlabelled_targets_are_excluded():
    rng = np.random.default_rng(4)
    k, j = 3, 2
    ev = make_ev(points(rng, 20, k), points(rng, 20, j), points(rng, 6, k), points(rng, 6, j))
    fit_ann, test_ann = ev["fit_annotated"].copy(), ev["test_annotated"].copy()
    fit_ann[[1, 5, 9], 0] = np.nan  # joint 0 unlabelled on three fit frames
    test_ann[[0, 2], 1] = np.nan  # joint 1 unlabelled on two test frames
    ev_nan = {**ev, "fit_annotated": fit_ann, "test_annotated": test_ann}

    x, y = (
        d.normalise(ev["fit_discovered"], (100, 100)).reshape(20, -1),
        d.normalise(fit_ann, (100, 100)).reshape(20, -1),
    )
    keep = np.ones(20, bool)
    keep[[1, 5, 9]] = False
    w = d.fit_regression(
        d.normalise(ev["fit_discovered"], (100, 100)), d.normalise(fit_ann, (100, 100))
    )
    np.testing.assert_allclose(
        w[:, :2], np.linalg.lstsq(x[keep], y[keep, :2], rcond=None)[0], atol=1e-10
    )
    np.testing.assert_allclose(w[:, 2:], np.linalg.lstsq(x, y[:, 2:], rcond=None)[0], atol=1e-10)

    pred, target = d.regress(ev_nan)
    dist = np.linalg.norm(pred - target, axis=-1)
    labelled = np.ones((6, j), bool)
    labelled[[0, 2], 1] = False
    assert np.isnan(dist[~labelled]).all()
    assert d.regression_error_percent(ev_nan) == pytest.approx(
        100 * dist[labelled].mean(), abs=1e-12
    )
    assert d.pck_after_regression(ev_nan, 0.3) == pytest.approx(
        100 * (dist[labelled] <= 0.3).mean()
    )


def _moving_pose_ev(seed=5, k=4, size=(120, 80)) -> dict:
    """A perfect discovery of a pose that moves around the image."""
    rng = np.random.default_rng(seed)
    fit, test = points(rng, 30, k, size), points(rng, 10, k, size)
    return make_ev(fit, fit, test, test, size)


def _with(ev: dict, keypoints: np.ndarray) -> dict:
    """``ev`` with its discovered keypoints replaced by a baseline's (fit frames first)."""
    n = len(ev["fit_discovered"])
    return {**ev, "fit_discovered": keypoints[:n], "test_discovered": keypoints[n:]}


def test_random_baseline_is_seeded_and_worse_than_perfect_discovery():
    ev = _moving_pose_ev()
    a, b, c = (d.random_keypoints(40, 4, (120, 80), seed=s) for s in (0, 0, 1))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and a.shape == (40, 4, 2)
    assert (a >= 0).all() and (a < np.array([120, 80])).all()
    # drawn in one go, fit frames first: the same numbers kpbench 0.1 drew fit-then-test
    rng = np.random.default_rng(0)
    old = np.concatenate([rng.uniform(0, 1, (30, 4, 2)), rng.uniform(0, 1, (10, 4, 2))])
    np.testing.assert_array_equal(a, old * np.array([120, 80]))
    assert d.regression_error_percent(_with(ev, a)) > d.regression_error_percent(ev) + 1.0


@pytest.mark.parametrize("origin", ["corner", "centre"])
def test_grid_baseline_is_fixed_predicts_the_mean_pose_and_is_worse(origin):
    ev = {**_moving_pose_ev(), "regression_origin": origin}
    grid = d.grid_keypoints(40, 4, (120, 80))
    np.testing.assert_array_equal(grid, d.grid_keypoints(40, 4, (120, 80)))
    assert (grid == grid[0]).all()
    assert len({tuple(p) for p in grid[0]}) == 4  # K distinct points: a 2 x 2 grid at cell centres
    np.testing.assert_allclose(np.sort(grid[0][:, 0]), [30, 30, 90, 90])
    np.testing.assert_allclose(np.sort(grid[0][:, 1]), [20, 20, 60, 60])

    g = _with(ev, grid)
    pred, target = d.regress(g)
    mean_pose = d.normalise(ev["fit_annotated"], ev["image_size"]).mean(0)
    np.testing.assert_allclose(pred, np.broadcast_to(mean_pose, pred.shape), atol=1e-9)
    assert d.regression_error_percent(g) > d.regression_error_percent(ev) + 1.0


def test_the_origin_changes_a_regression_without_bias():
    """Without a bias term the coordinate frame is part of the protocol: a pose that moves
    rigidly is regressed exactly in one frame and not in the other, so kpbench pins BKinD's."""
    rng = np.random.default_rng(7)
    size = (100, 100)
    fit, test = points(rng, 30, 2, size), points(rng, 10, 2, size)
    # the annotated joint is a fixed px offset from discovered keypoint 0: affine, not linear
    ann_fit, ann_test = fit[:, :1] + [10.0, -5.0], test[:, :1] + [10.0, -5.0]
    corner = d.regression_error_percent(make_ev(fit, ann_fit, test, ann_test, size, "corner"))
    centre = d.regression_error_percent(make_ev(fit, ann_fit, test, ann_test, size, "centre"))
    assert corner > 0.1 and centre > 0.1 and abs(corner - centre) > 0.05
    with pytest.raises(ValueError, match="regression_origin 'middle'"):
        d.regression_error_percent(make_ev(fit, ann_fit, test, ann_test, size, "middle"))


def test_centre_is_the_default_origin():
    ev = _moving_pose_ev()
    ev.pop("regression_origin")
    ann = ev["test_annotated"] + 3.0
    moved = {**ev, "test_annotated": ann}
    assert d.regression_error_percent(moved) == pytest.approx(
        d.regression_error_percent({**moved, "regression_origin": "centre"})
    )


def test_per_joint_breakdown_averages_to_the_metric():
    ev = offset_ev([[3.0, 4.0], [6.0, 8.0]], size=(100, 100))  # 5 and 10 px off
    np.testing.assert_allclose(d.per_joint(ev, d.regression_error_px), [5.0, 10.0], atol=1e-7)
    assert np.mean(d.per_joint(ev, d.regression_error_px)) == pytest.approx(
        d.regression_error_px(ev)
    )


@pytest.mark.parametrize(
    "change, message",
    [
        ({"test_discovered": np.zeros((10, 3, 2))}, "shapes disagree"),
        ({"fit_annotated": np.zeros((29, 4, 2))}, "shapes disagree"),
        ({"test_annotated": np.zeros((10, 4))}, "shapes disagree"),
        ({"image_size": (0, 80)}, "image_size must be"),
    ],
)
def test_bad_shapes_raise_one_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        d.regression_error_percent({**_moving_pose_ev(), **change})


def test_too_few_labelled_fit_frames_exclude_the_joint():
    ev = _moving_pose_ev(k=4)
    ann = ev["fit_annotated"].copy()
    ann[:25, 2] = np.nan  # joint 2 labelled on 5 frames, K=4 needs 8: left out (issue #13)
    assert d.excluded_joints({**ev, "fit_annotated": ann}) == {
        "joint_2": "joint joint_2 excluded: labelled on 5 fit frames, the regression from K=4 "
        "keypoints needs ≥ 8"
    }
    assert np.isfinite(d.regression_error_percent({**ev, "fit_annotated": ann}))


def test_missing_discovery_and_missing_keys_raise():
    ev = _moving_pose_ev()
    disc = ev["fit_discovered"].copy()
    disc[3, 1, 0] = np.nan
    with pytest.raises(ValueError, match="discovered keypoints contain NaN"):
        d.regression_error_px({**ev, "fit_discovered": disc})
    with pytest.raises(ValueError, match="lacks test_annotated"):
        d.regression_error_px({k: v for k, v in ev.items() if k != "test_annotated"})
    ann = ev["test_annotated"].copy()
    ann[:] = np.nan
    with pytest.raises(ValueError, match="no labelled joint"):
        d.regression_error_percent({**ev, "test_annotated": ann})


def test_task_registers_the_four_metrics_with_per_joint_breakdowns():
    from kpbench.tasks.discovery2d import kpbench_metrics

    specs = {m.name: m for m in kpbench_metrics()}
    assert list(specs) == ["regression_error", "regression_error_px", "pck@0.05", "pck@0.1"]
    assert {m.task for m in specs.values()} == {"discovery2d"}
    assert [(m.unit, m.higher_is_better) for m in specs.values()] == [
        ("%", False),
        ("px", False),
        ("%", True),
        ("%", True),
    ]
    ev = offset_ev([[3.0, 0.0], [0.0, 7.0], [20.0, 0.0]], size=(100, 100))
    assert specs["pck@0.05"].fn(ev)[0] == pytest.approx(100 / 3)
    value, breakdown = specs["pck@0.1"].fn(ev)
    assert value == pytest.approx(200 / 3)
    assert breakdown == {"per_joint": {"joint_0": 100.0, "joint_1": 100.0, "joint_2": 0.0}}
    value, breakdown = specs["regression_error"].fn(ev)
    assert value == pytest.approx((3 + 7 + 20) / 3, abs=1e-9)
    np.testing.assert_allclose(list(breakdown["per_joint"].values()), [3, 7, 20], atol=1e-9)


def test_plugin_is_found_through_the_entry_point():
    from kpbench.plugins import Registry

    names = {m.name for m in Registry().metrics("discovery2d")}
    assert {"regression_error", "regression_error_px", "pck@0.05", "pck@0.1"} <= names
