"""The lifting3d task: schemas, selection from the test split, baselines, evaluation record."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import SplitData

from kpbench.errors import ConfigError
from kpbench.schema import SchemaError
from kpbench.tasks import lifting3d as task

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
    assert not hasattr(task, "kpbench_metrics")
