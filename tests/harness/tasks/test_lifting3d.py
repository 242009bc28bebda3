"""The lifting3d task: schemas, selection from the test split, baselines, evaluation record, and
its metrics (MPJPE, P-MPJPE, N-MPJPE, MPJVE): hand-built cases, VideoPose3D's reflection
semantics, action-wise averaging, and an independent per-frame scipy implementation."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import SplitData
from scipy.linalg import orthogonal_procrustes
from scipy.spatial.transform import Rotation

from kpbench.errors import ConfigError
from kpbench.evaluation import score
from kpbench.metrics import lifting3d as lm
from kpbench.schema import SchemaError
from kpbench.tasks import lifting3d as task
from kpbench.testing import PERFECT

SPEC = task.kpbench_tasks()[0]
CAM = {"intrinsics": np.eye(3), "R": np.eye(3), "t": np.zeros(3), "size": (64, 48)}


def _seq(name: str, n: int, k: int = 4, offset: float = 0.0, action: str = "walk") -> dict:
    kp3d = np.arange(n * k * 3, dtype=np.float64).reshape(n, k, 3) + offset
    return {
        "name": name, "subject": "S1", "action": action, "keypoints2d": kp3d[..., :2].copy(),
        "keypoints3d": kp3d, "camera": CAM, "fps": 50.0,
    }  # fmt: skip


FakeData = SplitData


def _data(test=3, train=2) -> FakeData:
    return FakeData({
        "train": [_seq(f"train{i}", 5, offset=100.0 * i) for i in range(train)],
        "test": [_seq(f"test{i}", 4 + i, action=("walk", "sit")[i % 2]) for i in range(test)],
    })  # fmt: skip


def test_smoke_inputs_validate_and_dims_agree():
    ev = task.smoke(0)
    for x in ev.inputs:
        SPEC.inputs.validate(x, "smoke")
    assert ev.dims["F"] == sum(len(x["keypoints2d"]) for x in ev.inputs) == len(ev.truth["actions"])
    assert ev.dims["K"] == ev.inputs[0]["keypoints2d"].shape[1] == ev.truth["keypoints3d"].shape[1]
    assert len(ev.ids) == len(ev.inputs) == len(ev.truth["lengths"])


def test_baseline_is_a_valid_prediction_and_the_train_mean_pose():
    ev = task.select(_data(), dict(SPEC.options))
    pred = task.baseline_mean_pose(ev, None, 0)
    SPEC.prediction.validate(pred, "baseline", dims=ev.dims)
    train = np.concatenate(
        [s["keypoints3d"] - s["keypoints3d"][:, :1] for s in _data().splits["train"]]
    )
    np.testing.assert_allclose(pred["keypoints3d"][0], train.mean(0))
    assert ev.info["mean_pose_from"] == "train"
    smoke = task.smoke(1)
    SPEC.prediction.validate(task.baseline_mean_pose(smoke, None, 0), dims=smoke.dims)


def test_mean_pose_is_zeros_without_train_sequences():
    ev = task.select(_data(train=0), dict(SPEC.options))
    assert ev.info["mean_pose_from"].startswith("zeros")
    assert not task.baseline_mean_pose(ev, None, 0)["keypoints3d"].any()


def test_evaluation_record_keys_and_shapes():
    ev = task.smoke(0)
    f, k = ev.dims["F"], ev.dims["K"]
    pred = {"keypoints3d": np.ones((f, k, 3))}
    rec = task.evaluation(ev, pred, dict(SPEC.options))
    assert set(rec) == {"predicted", "target", "actions", "lengths", "fps", "root_joint"}
    assert rec["predicted"].shape == rec["target"].shape == (f, k, 3)
    assert rec["actions"].shape == (f,) and rec["lengths"].sum() == f
    assert rec["fps"].shape == rec["lengths"].shape
    assert not rec["predicted"].any()  # the prediction's own root is subtracted
    assert not rec["target"][:, rec["root_joint"]].any()


def test_select_uses_the_test_split_only_deterministically_without_truth():
    options = dict(SPEC.options)
    ev, again = task.select(_data(), options), task.select(_data(), options)
    assert [x["name"] for x in ev.inputs] == ["test0", "test1", "test2"]
    assert ev.ids == again.ids and ev.hash == again.hash
    assert ev.unavailable is None and ev.dims == {"F": 4 + 5 + 6, "K": 4}
    for x in ev.inputs:
        assert not set(task.TRUTH_KEYS) & set(x)
        SPEC.inputs.validate(x)
    assert ev.truth["keypoints3d"].shape == (15, 4, 3)
    assert list(ev.truth["actions"][:5]) == ["walk"] * 4 + ["sit"]


def test_select_max_sequences_and_root_joint():
    ev = task.select(_data(test=5), {**SPEC.options, "max_sequences": 2})
    assert [x["name"] for x in ev.inputs] == ["test0", "test4"]
    ev = task.select(_data(), {**SPEC.options, "root_joint": 2})
    assert not ev.truth["keypoints3d"][:, 2].any()
    with pytest.raises(ConfigError, match="root_joint"):
        task.select(_data(), {**SPEC.options, "root_joint": 4})


def test_empty_test_split_is_unavailable_with_a_reason():
    ev = task.select(_data(test=0), dict(SPEC.options))
    assert not len(ev.inputs) and "no test-split sequences" in ev.unavailable


def test_wrong_shaped_sample_names_the_field():
    bad = _seq("bad", 4)
    bad["keypoints2d"] = np.zeros((4, 4, 3))
    with pytest.raises(SchemaError, match="test sequence 'bad': field 'keypoints2d' has shape"):
        task.samples(FakeData({"test": [bad]}), "test")
    other = _seq("other", 4, k=5)
    with pytest.raises(SchemaError, match="'keypoints2d'"):
        task.samples(FakeData({"test": [_seq("a", 4), other]}), "test")
    nocam = {**_seq("nocam", 3), "camera": {**CAM, "R": np.eye(2)}}
    with pytest.raises(SchemaError, match="'R'"):
        task.select(FakeData({"test": [nocam]}), dict(SPEC.options))


def test_task_spec():
    assert SPEC.name == "lifting3d" and SPEC.unit == "frame of a sequence"
    assert set(SPEC.presets) == {"smoke", "default", "paper"} and SPEC.protocol
    assert "come with the VideoPose3D plugin" not in task.__doc__


# -- metrics --------------------------------------------------------------------------------------
METRICS = {m.name: m for m in task.kpbench_metrics()}


def _record(pred, target, actions=None, lengths=None) -> dict:
    f = len(target)
    return {
        "predicted": np.asarray(pred, float),
        "target": np.asarray(target, float),
        "actions": np.asarray(["walk"] * f if actions is None else actions),
        "lengths": np.array([f] if lengths is None else lengths),
        "fps": np.full(1 if lengths is None else len(lengths), 50.0),
        "root_joint": 0,
    }


def _poses(rng, f: int, k: int = 6) -> np.ndarray:
    """Random root-relative poses (mm): joint 0 at the origin."""
    kp = rng.normal(0.0, 300.0, (f, k, 3))
    return kp - kp[:, :1]


def _values(record: dict) -> dict[str, float]:
    return {name: m.fn(record)[0] for name, m in METRICS.items()}


def test_registered_metrics_units_and_direction():
    assert [(m.name, m.unit, m.higher_is_better) for m in task.kpbench_metrics()] == [
        ("mpjpe", "mm", False),
        ("p_mpjpe", "mm", False),
        ("n_mpjpe", "mm", False),
        ("mpjve", "mm/frame", False),
    ]
    assert all(m.task == "lifting3d" and m.description for m in METRICS.values())


def test_perfect_prediction_scores_zero_and_the_mean_pose_baseline_more():
    ev = task.smoke(0)
    options = dict(SPEC.options)
    perfect = score(METRICS.values(), task.evaluation(ev, PERFECT["lifting3d"](ev), options))
    assert {n: e["value"] for n, e in perfect.items()} == pytest.approx(dict.fromkeys(METRICS, 0.0))
    assert set(perfect["mpjpe"]["breakdown"]["per_action"]) == {"sit", "walk"}
    base = task.baseline_mean_pose(ev, None, 0)
    scored = score(METRICS.values(), task.evaluation(ev, base, options))
    assert all(e["value"] > 1.0 for e in scored.values()), scored


def test_similarity_transformed_copy_has_zero_p_mpjpe_but_not_mpjpe():
    rng = np.random.default_rng(1)
    target = _poses(rng, 8)
    rot = Rotation.random(8, random_state=2).as_matrix()  # (F, 3, 3), proper rotations
    scale = rng.uniform(0.5, 2.0, (8, 1, 1))
    shift = rng.normal(0.0, 100.0, (8, 1, 3))
    pred = scale * np.einsum("fkj,fij->fki", target, rot) + shift
    rec = _record(pred, target)
    assert lm.p_mpjpe(rec)[0] == pytest.approx(0.0, abs=1e-8)
    assert lm.mpjpe(rec)[0] > 50.0 and lm.n_mpjpe(rec)[0] > 10.0


def test_scaled_copy_has_zero_n_mpjpe():
    rng = np.random.default_rng(3)
    target = _poses(rng, 5)
    pred = target * np.array([0.5, 0.8, 1.0, 1.5, 3.0])[:, None, None]  # one scale per frame
    rec = _record(pred, target)
    assert lm.n_mpjpe(rec)[0] == pytest.approx(0.0, abs=1e-9)
    assert lm.p_mpjpe(rec)[0] == pytest.approx(0.0, abs=1e-9)
    assert lm.mpjpe(rec)[0] > 10.0


def test_mirrored_copy_keeps_the_error_of_the_best_proper_rotation():
    # Root at the origin and three orthogonal axes of half-lengths 3 > 2 > 1 mm. Mirroring x is a
    # reflection; VideoPose3D's p_mpjpe allows proper rotations only (det R = +1), so it flips
    # the smallest singular direction instead: the best fit is the 180° turn about y, which
    # maps x back but sends z to -z, and the scale shrinks to tr(S')/|Y0|² = (18 + 8 - 2)/28.
    # Errors: |s-1|·3 (x joints), |s-1|·2 (y joints), (1+s)·1 (z joints), 0 (root):
    # (2·3/7 + 2·2/7 + 2·13/7) / 7 joints = 36/49 mm.
    pose = np.array([[0, 0, 0], [3, 0, 0], [-3, 0, 0], [0, 2, 0], [0, -2, 0], [0, 0, 1],
                     [0, 0, -1]], float)[None]  # fmt: skip
    mirrored = pose * [-1.0, 1.0, 1.0]
    rec = _record(mirrored, pose)
    assert lm.p_mpjpe(rec)[0] == pytest.approx(36 / 49, abs=1e-12)
    # an orthogonal Procrustes that allows reflections would align the mirror away entirely
    r, _ = orthogonal_procrustes(mirrored[0], pose[0])
    assert np.linalg.det(r) < 0 and np.allclose(mirrored[0] @ r, pose[0])
    # a planar pose (z = 0) mirrored in x is a 180° turn about y: P-MPJPE 0
    flat = pose.copy()
    flat[..., 2] = 0.0
    assert lm.p_mpjpe(_record(flat * [-1.0, 1.0, 1.0], flat))[0] == pytest.approx(0.0, abs=1e-12)


def test_constant_offsets_through_the_evaluation_record():
    ev = task.smoke(2)
    truth = ev.truth["keypoints3d"]
    k, d = ev.dims["K"], np.array([3.0, 4.0, 0.0])  # |d| = 5 mm
    moved = {"keypoints3d": truth + d + [0.0, 0.0, 1000.0]}  # the whole body, root included
    rec = task.evaluation(ev, moved, dict(SPEC.options))
    assert lm.mpjpe(rec)[0] == pytest.approx(0.0, abs=1e-9)  # a global shift is no pose error
    offset = truth.copy()
    offset[:, 1:] += d  # every joint but the root: 5 mm on K-1 joints, 0 on the root
    rec = task.evaluation(ev, {"keypoints3d": offset}, dict(SPEC.options))
    assert lm.mpjpe(rec)[0] == pytest.approx(5.0 * (k - 1) / k, abs=1e-12)
    assert lm.mpjve(rec)[0] == pytest.approx(0.0, abs=1e-12)  # a constant offset does not move


def test_action_wise_average_over_unequal_frame_counts():
    # 2 joints; joint 1 off by 2e along x gives a frame error e (the mean over the 2 joints).
    errors = np.array([1.0, 2.0, 3.0, 10.0])  # walk: 3 frames (mean 2), sit: 1 frame (10)
    target = np.zeros((4, 2, 3))
    target[:, 1] = [100.0, 0.0, 0.0]
    pred = target.copy()
    pred[:, 1, 0] += 2 * errors
    rec = _record(pred, target, actions=["walk", "walk", "walk", "sit"], lengths=[3, 1])
    value, parts = lm.mpjpe(rec)
    assert parts == {"per_action": pytest.approx({"sit": 10.0, "walk": 2.0})}
    assert value == pytest.approx(6.0)  # (2 + 10) / 2, not the frame-wise mean 4
    assert errors.mean() == 4.0


def test_mpjve_stays_within_sequences_and_weights_them_by_frames():
    rng = np.random.default_rng(4)
    target = _poses(rng, 6, k=3)
    lengths = [3, 2, 1]
    actions = ["walk"] * 5 + ["sit"]
    # each sequence shifted by its own constant: no velocity error inside any sequence, while
    # a difference across a boundary would see the jump between the constants
    shifted = target + np.repeat([[0.0, 0, 0], [500.0, 0, 0], [-900.0, 0, 0]], lengths, 0)[:, None]
    value, parts = lm.mpjve(_record(shifted, target, actions, lengths))
    assert value == 0.0 and parts["per_action"]["walk"] == 0.0
    assert np.isnan(parts["per_action"]["sit"])  # a one-frame sequence has no difference
    # a drift of u mm/frame along y: sequence 1 drifts 3 mm/frame, sequence 2 drifts 8 mm/frame
    drift = np.zeros((6, 1, 3))
    drift[:3, 0, 1] = 3.0 * np.arange(3)
    drift[3:5, 0, 1] = 8.0 * np.arange(2)
    value, parts = lm.mpjve(_record(target + drift, target, actions, lengths))
    assert value == pytest.approx((3 * 3.0 + 2 * 8.0) / 5)  # sequences weighted by T = 3, 2
    assert lm.mpjpe(_record(target + drift, target, actions, lengths))[0] > 0
    with pytest.raises(ValueError, match="lengths sum to 5"):
        lm.mpjve(_record(target, target, actions, [3, 2]))


def test_all_zero_prediction_is_scored_not_nan():
    # the mean_pose baseline without train data predicts every joint at the root
    rng = np.random.default_rng(5)
    target = _poses(rng, 4)
    rec = _record(np.zeros_like(target), target)
    centroid = target.mean(axis=1, keepdims=True)
    expected = np.linalg.norm(target - centroid, axis=-1).mean()  # scale 0: all at the centroid
    assert lm.p_mpjpe(rec)[0] == pytest.approx(expected)
    assert lm.n_mpjpe(rec)[0] == pytest.approx(lm.mpjpe(rec)[0])  # scale 0 of zeros is zeros
    assert np.isfinite(list(_values(rec).values())).all()


def _independent_p_mpjpe(pred, target, rotation):
    """Per-frame loop: the best rotation (``rotation(x0, y0) -> R``, x0 ≈ y0 R), then the
    least-squares scale for that rotation, then the translation putting the centroids together."""
    errors = []
    for p, t in zip(pred, target):
        x0, y0 = t - t.mean(0), p - p.mean(0)
        yr = y0 @ rotation(x0, y0)
        s = np.sum(x0 * yr) / np.sum(yr * yr)
        errors.append(np.linalg.norm(s * yr + t.mean(0) - t, axis=-1).mean())
    return np.mean(errors)


def _kabsch(x0, y0):
    return Rotation.align_vectors(x0, y0)[0].as_matrix().T  # x0 ≈ y0 Cᵀ, C proper


def test_p_mpjpe_and_n_mpjpe_match_independent_per_frame_scipy_loops():
    rng = np.random.default_rng(6)
    target = _poses(rng, 40, k=17)
    # unrelated poses: about half the frames' best orthogonal fit is a reflection
    pred = _poses(rng, 40, k=17) + rng.normal(0, 50, (40, 1, 3))
    rec = _record(pred, target)
    assert lm.p_mpjpe(rec)[0] == pytest.approx(
        _independent_p_mpjpe(pred, target, _kabsch), abs=1e-6
    )
    dets = [np.linalg.det(orthogonal_procrustes(p - p.mean(0), t - t.mean(0))[0])
            for p, t in zip(pred, target)]  # fmt: skip
    assert min(dets) < 0 < max(dets)  # the reflection fix was exercised
    # noisy copies: the orthogonal Procrustes optimum is a rotation, so scipy's agrees
    noisy = target + rng.normal(0, 20, target.shape)
    ortho = lambda x0, y0: orthogonal_procrustes(y0, x0)[0]  # noqa: E731
    rec = _record(noisy, target)
    assert lm.p_mpjpe(rec)[0] == pytest.approx(_independent_p_mpjpe(noisy, target, ortho), abs=1e-6)
    # N-MPJPE: the least-squares scale of each frame from lstsq
    scales = [np.linalg.lstsq(p.reshape(-1, 1), t.ravel(), rcond=None)[0][0]
              for p, t in zip(pred, target)]  # fmt: skip
    expected = np.mean([np.linalg.norm(s * p - t, axis=-1).mean()
                        for s, p, t in zip(scales, pred, target)])  # fmt: skip
    rec = _record(pred, target)
    assert lm.n_mpjpe(rec)[0] == pytest.approx(expected, abs=1e-6)
    assert lm.mpjpe(rec)[0] == pytest.approx(np.linalg.norm(pred - target, axis=-1).mean())


def test_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"must both be \(F, K, 3\)"):
        lm.mpjpe(_record(np.zeros((2, 3, 3)), np.zeros((2, 4, 3))))
    with pytest.raises(ValueError, match="actions"):
        lm.mpjpe(_record(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), actions=["a"]))
