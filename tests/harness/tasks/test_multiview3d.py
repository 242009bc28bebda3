"""The multiview3d task: schemas, selection from the test split, baselines, evaluation record."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import SplitData

from kpbench.schema import SchemaError
from kpbench.tasks import multiview3d as task

SPEC = task.kpbench_tasks()[0]


def _pose(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    pose = np.eye(4)
    pose[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    pose[2, 3] = 30.0
    return pose


def _pair(obj: str, angle: float = 0.3) -> dict:
    a, b = _pose(0.0), _pose(angle)
    img = np.zeros((8, 10, 3), np.uint8)
    return {
        "object": obj, "category": "chair", "image_a": img, "image_b": img.copy(),
        "mask_a": np.ones((8, 10), bool), "mask_b": None, "depth_a": np.full((8, 10), 30.0),
        "intrinsics": np.eye(3), "pose_a": a, "pose_b": b, "relative": b @ np.linalg.inv(a),
    }  # fmt: skip


FakeData = SplitData


def _data(test=3) -> FakeData:
    return FakeData({
        "train": [_pair(f"train{i}") for i in range(2)],
        "test": [_pair(f"test{i}", 0.1 * (i + 1)) for i in range(test)],
    })  # fmt: skip


def _prediction(n: int, k: int = 6) -> dict:
    return {"keypoints_a": np.zeros((n, k, 3)), "keypoints_b": np.zeros((n, k, 3))}


def test_smoke_inputs_validate_and_dims_agree():
    ev = task.smoke(0)
    assert ev.dims == {"N": len(ev.inputs)} and len(ev.ids) == len(ev.inputs) == 4
    for x in ev.inputs:
        SPEC.inputs.validate(x, "smoke")
    assert ev.truth["relative"].shape == (4, 4, 4)
    rot = ev.truth["relative"][:, :3, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.stack([np.eye(3)] * 4), atol=1e-9)


@pytest.mark.parametrize("k", [1, 10])
def test_baselines_are_valid_predictions(k):
    ev = task.smoke(0)
    for name, fn in SPEC.baselines.items():
        pred = fn(ev, _prediction(4, k), 3)
        SPEC.prediction.validate(pred, f"baseline {name}", dims=ev.dims)
        assert pred["keypoints_a"].shape == (4, max(k, 4), 3)
        again = fn(ev, _prediction(4, k), 3)
        np.testing.assert_array_equal(pred["keypoints_b"], again["keypoints_b"])
    same = task.baseline_identity_rotation(ev, _prediction(4, k), 0)
    np.testing.assert_array_equal(same["keypoints_a"], same["keypoints_b"])
    for a, b in zip(same["keypoints_a"], same["keypoints_b"]):  # Kabsch: a -> b gives R = I
        u, _, vt = np.linalg.svd((a - a.mean(0)).T @ (b - b.mean(0)))
        d = np.sign(np.linalg.det(vt.T @ u.T))
        np.testing.assert_allclose(vt.T @ np.diag([1, 1, d]) @ u.T, np.eye(3), atol=1e-9)
    rand = task.baseline_random_keypoints(ev, _prediction(4, k), 0)
    assert not np.allclose(rand["keypoints_a"], rand["keypoints_b"])


def test_evaluation_record_keys_and_shapes():
    ev = task.smoke(0)
    rec = task.evaluation(ev, _prediction(4), dict(SPEC.options))
    keys = {
        "keypoints_a",
        "keypoints_b",
        "relative",
        "rotation",
        "intrinsics",
        "categories",
        "objects",
        "thumbnails",
        "image_sizes",
    }
    assert set(rec) == keys
    assert rec["keypoints_a"].shape == rec["keypoints_b"].shape == (4, 6, 3)
    assert rec["relative"].shape == (4, 4, 4) and rec["rotation"].shape == (4, 3, 3)
    assert rec["intrinsics"].shape == (4, 3, 3) and rec["categories"].shape == (4,)


def test_select_uses_the_test_split_only_deterministically_without_truth():
    options = dict(SPEC.options)
    ev, again = task.select(_data(), options), task.select(_data(), options)
    assert [x["object"] for x in ev.inputs] == ["test0", "test1", "test2"]
    assert ev.ids == again.ids and ev.hash == again.hash
    assert ev.unavailable is None and ev.dims == {"N": 3}
    for x in ev.inputs:
        assert not set(task.TRUTH_KEYS) & set(x)
        SPEC.inputs.validate(x)
    np.testing.assert_allclose(ev.truth["relative"][2], _pose(0.3) @ np.linalg.inv(_pose(0.0)))
    assert list(task.select(_data(5), {"max_pairs": 2}).ids) == ["chair/test0#0", "chair/test4#4"]


def test_empty_test_split_is_unavailable_with_a_reason():
    ev = task.select(_data(test=0), dict(SPEC.options))
    assert not len(ev.inputs) and "no test-split view pairs" in ev.unavailable


def test_wrong_shaped_or_inconsistent_sample_names_the_field():
    bad = {**_pair("bad"), "mask_a": np.ones((8, 9), bool)}
    with pytest.raises(SchemaError, match=r"test pair #0 \(bad\): field 'mask_a' has shape"):
        task.select(FakeData({"test": [bad]}), dict(SPEC.options))
    with pytest.raises(SchemaError, match="'relative'"):
        task.samples(FakeData({"test": [{**_pair("x"), "relative": np.eye(4)}]}), "test")[0]


def test_task_spec():
    assert SPEC.name == "multiview3d" and SPEC.unit == "view pair"
    assert set(SPEC.presets) == {"smoke", "default", "paper"} and SPEC.protocol
    assert {m.name for m in task.kpbench_metrics()} >= {"angular_error_mean", "consistency_px"}
    assert [e.name for e in task.kpbench_exporters()] == ["keypoints_plot"]
