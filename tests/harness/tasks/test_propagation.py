"""The propagation task: schemas, selection from the test split, baselines, evaluation record."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import SplitData

from kpbench.dataset import KeypointDataset, VideoItem
from kpbench.errors import ConfigError
from kpbench.propagation.propagator import PropagationSettings
from kpbench.schema import SchemaError
from kpbench.tasks import propagation as task
from kpbench.video import ArrayFrames

SPEC = task.kpbench_tasks()[0]


def _video(name: str, n: int, start: int = 0, k: int = 3) -> dict:
    kp = np.tile(np.array([[2.0, 3.0], [8.0, 11.0], [5.0, 5.0]])[:k], (n, 1, 1))
    kp += np.arange(n)[:, None, None]
    vis = np.ones((n, k), bool)
    frames = ArrayFrames(np.zeros((n + start, 12, 16, 3), np.uint8), name)
    return {"name": name, "frames": frames, "start": start, "keypoints": kp, "visibility": vis,
            "fps": 30.0}  # fmt: skip


FakeData = SplitData


def _data(test=3) -> FakeData:
    return FakeData({
        "train": [_video(f"train{i}", 4) for i in range(2)],
        "test": [_video(f"test{i}", 3 + i, start=i) for i in range(test)],
    })  # fmt: skip


def test_smoke_inputs_validate_and_dims_agree():
    ev = task.smoke(0)
    for x in ev.inputs:
        SPEC.inputs.validate(x, "smoke")
        assert x["frames"].read(x["start"] + x["num_frames"] - 1).shape == (24, 24, 3)
    assert ev.dims["F"] == sum(x["num_frames"] for x in ev.inputs) == len(ev.truth["keypoints"])
    assert ev.dims["K"] == ev.inputs[0]["first_keypoints"].shape[0] == 3
    assert len(ev.ids) == len(ev.inputs) == len(ev.truth["lengths"])


def test_held_still_is_valid_and_has_no_nan():
    ev = task.smoke(0)
    pred = task.baseline_held_still(ev, None, 0)
    SPEC.prediction.validate(pred, "baseline held_still", dims=ev.dims)
    ev = task.select(_data(), dict(SPEC.options))
    ev.inputs[0]["first_keypoints"][1] = np.nan
    kp = task.baseline_held_still(ev, None, 0)["keypoints"]
    SPEC.prediction.validate({"keypoints": kp}, dims=ev.dims)
    assert kp[:3, 1].tolist() == [[0.0, 0.0]] * 3 and kp[:3, 0].tolist() == [[2.0, 3.0]] * 3


def test_normaliser_is_jhmdb_box_diagonal():
    kp = np.array([[[0.0, 0.0], [3.0, 4.0], [100.0, 100.0]], [[1.0, 1.0], [np.nan, 0], [1, 1]]])
    vis = np.array([[True, True, False], [True, False, True]])
    norm = task.normaliser(kp, vis & ~np.isnan(kp).any(-1))
    assert norm[0] == pytest.approx(0.6 * 5.0) and np.isnan(norm[1])  # no extent: NaN
    assert np.isnan(task.normaliser(kp, np.zeros((2, 3), bool))).all()


def test_evaluation_record_keys_and_shapes():
    ev = task.smoke(0)
    f, k = ev.dims["F"], ev.dims["K"]
    rec = task.evaluation(ev, {"keypoints": np.zeros((f, k, 2))}, dict(SPEC.options))
    keys = {"predicted", "target", "visible", "normaliser", "frame", "video", "lengths",
            "image_size", "keypoint_names"}  # fmt: skip
    assert set(rec) == keys
    assert rec["predicted"].shape == rec["target"].shape == (f, k, 2)
    assert rec["visible"].shape == (f, k) and rec["visible"].dtype == bool
    assert rec["normaliser"].shape == rec["frame"].shape == rec["video"].shape == (f,)
    assert rec["lengths"].sum() == f and rec["image_size"].shape == (3, 2)
    assert rec["frame"].tolist()[:6] == [0, 1, 2, 3, 4, 0]
    assert not rec["visible"][np.isnan(rec["target"]).any(-1)].any()


def test_select_uses_the_test_split_only_deterministically_without_truth():
    options = dict(SPEC.options)
    ev, again = task.select(_data(), options), task.select(_data(), options)
    assert [x["name"] for x in ev.inputs] == ["test0", "test1", "test2"]
    assert ev.ids == again.ids and ev.hash == again.hash
    assert ev.unavailable is None and ev.dims == {"F": 3 + 4 + 5, "K": 3}
    for x in ev.inputs:
        assert not set(task.TRUTH_KEYS) & set(x)
        SPEC.inputs.validate(x)
    assert [x["start"] for x in ev.inputs] == [0, 1, 2] and ev.inputs[2]["image_size"] == (16, 12)
    ev = task.select(_data(5), {"max_videos": 2})
    assert [x["name"] for x in ev.inputs] == ["test0", "test4"]


def test_select_through_the_default_accessor():
    class Videos(KeypointDataset):
        name = "videos"

        def videos(self, split=None):
            kp = np.full((6, 2, 2), np.nan)
            kp[2:] = [[1.0, 2.0], [3.0, 4.0]]
            item = VideoItem(
                ArrayFrames(np.zeros((6, 8, 8, 3), np.uint8), "v"), "test", keypoints=kp
            )
            return [item] if split in (None, "test") else []

    ev = task.select(Videos(), dict(SPEC.options))
    assert ev.inputs[0]["start"] == 2 and ev.inputs[0]["num_frames"] == 4 and ev.dims["F"] == 4


def test_empty_test_split_is_unavailable_with_a_reason():
    ev = task.select(_data(test=0), dict(SPEC.options))
    assert not len(ev.inputs) and "no test-split video" in ev.unavailable


def test_wrong_shaped_or_inconsistent_sample_names_the_field():
    bad = {**_video("bad", 4), "visibility": np.ones((4, 2), bool)}
    with pytest.raises(SchemaError, match="test video 'bad': field 'visibility' has shape"):
        task.samples(FakeData({"test": [bad]}), "test")
    late = {**_video("late", 4), "start": 1}
    with pytest.raises(SchemaError, match="field 'start'.*runs past"):
        task.select(FakeData({"test": [late]}), dict(SPEC.options))
    blank = _video("blank", 4)
    blank["keypoints"][0] = np.nan
    with pytest.raises(SchemaError, match="'keypoints' has no labelled keypoint in frame 0"):
        task.samples(FakeData({"test": [blank]}), "test")
    with pytest.raises(SchemaError, match="field 'frames' lacks"):
        task.samples(FakeData({"test": [{**_video("x", 3), "frames": "x.mp4"}]}), "test")


def test_task_spec():
    assert SPEC.name == "propagation" and SPEC.unit == "frame"
    assert set(SPEC.presets) == {"smoke", "default", "paper"} and SPEC.protocol
    assert [m.name for m in task.kpbench_metrics()] == ["pck@0.1", "pck@0.2"]
    assert set(SPEC.baselines) == {"held_still", "random_encoder", "imagenet_encoder"}
    assert SPEC.protocol.format(**SPEC.options)


def test_the_task_options_are_the_protocol_of_every_input(monkeypatch, tmp_path):
    monkeypatch.setenv("KPBENCH_WEIGHTS", str(tmp_path))  # no ImageNet file there
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path))
    options = {**SPEC.options, "topk": 3, "size": None, "context": 2}
    ev = task.select(_data(), options)
    want = PropagationSettings(topk=3, size=None, context=2).as_dict()
    assert all(x["protocol"] == want for x in ev.inputs)
    assert "resnet18-f37072fd.pth" in ev.info["imagenet_encoder_skipped"]
    with pytest.raises(ConfigError, match="propagation temperature: expected a number > 0"):
        task.select(_data(), {**SPEC.options, "temperature": 0})
    with pytest.raises(ConfigError, match="task.imagenet_weights: weight file"):
        task.select(_data(), {**SPEC.options, "imagenet_weights": str(tmp_path / "no.pth")})


def test_keypoint_names_come_from_the_dataset_when_they_fit():
    data = _data()
    data.keypoint_names = ["a", "b", "c"]
    assert task.select(data, dict(SPEC.options)).truth["keypoint_names"] == ["a", "b", "c"]
    data.keypoint_names = ["a", "b"]
    assert task.select(data, dict(SPEC.options)).truth["keypoint_names"] == []
