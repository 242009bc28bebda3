"""pose2d, behavior and discovery2d task records: schemas, test-split selection, baselines."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.dataset import KeypointDataset, LabeledFrame, box_from_keypoints
from kpbench.errors import DataError
from kpbench.schema import SchemaError
from kpbench.tasks import behavior, discovery2d, pose2d

POSE = pose2d.kpbench_tasks()[0]
BEHAVIOR = behavior.kpbench_tasks()[0]
DISCOVERY = discovery2d.kpbench_tasks()[0]


def _frame(i: int, split: str, size=(64, 48), kp=None, box=None) -> LabeledFrame:
    kp = np.array([[10.0 + i, 10.0], [20.0, 20.0 + i], [np.nan, np.nan]]) if kp is None else kp
    return LabeledFrame(f"{split}.mp4#{i}", kp, size, lambda: np.zeros((48, 64, 3), np.uint8),
                        video=split, index=i, box=box)  # fmt: skip


class Frames(KeypointDataset):
    name = "frames"

    def __init__(self, frames: dict, sequences: dict | None = None):
        super().__init__()
        self.keypoint_names = ["a", "b", "c"]
        self.frames, self.seqs = frames, sequences or {}

    def labeled_frames(self, split):
        return list(self.frames.get(split, []))

    def sequences(self, split):
        return list(self.seqs.get(split, []))


def _pose_data(test=5, train=4) -> Frames:
    return Frames({"train": [_frame(i, "train") for i in range(train)],
                   "test": [_frame(i, "test") for i in range(test)]})  # fmt: skip


def test_pose2d_samples_validate_and_visibility_and_boxes_are_derived():
    data = _pose_data()
    sample = pose2d.samples(data, "test")[0]
    POSE.sample.validate(sample, "test.mp4#0")
    assert sample["visibility"].tolist() == [2, 2, 0]
    np.testing.assert_allclose(sample["box"], box_from_keypoints(sample["keypoints"], (64, 48)))
    bad = {**sample, "visibility": np.array([2, 2])}
    with pytest.raises(
        SchemaError, match=r"pose2d sample from x: field 'visibility' has shape \(2,\)"
    ):
        POSE.sample.validate(bad, "x")


def test_box_from_keypoints_grows_by_the_margin_and_clips():
    box = box_from_keypoints(np.array([[10.0, 10.0], [30.0, 20.0]]), (100, 100), margin=0.25)
    np.testing.assert_allclose(box, [5.0, 7.5, 30.0, 15.0])
    np.testing.assert_allclose(
        box_from_keypoints(np.full((2, 2), np.nan), (64, 48)), [0, 0, 64, 48]
    )
    assert box_from_keypoints(np.array([[1.0, 1.0]]), (64, 48))[:2].min() == 0.0


def test_pose2d_select_hides_truth_and_the_mean_pose_baseline_uses_train():
    data = _pose_data()
    options = dict(POSE.options)
    ev = pose2d.select(data, options)
    assert ev.ids == pose2d.select(data, options).ids and len(ev.inputs) == 5
    assert all("keypoints" not in x and "visibility" not in x for x in ev.inputs)
    base = pose2d.baseline_mean_pose(ev, None, 0)
    POSE.prediction.validate(base, "baseline", dims=ev.dims)
    rec = pose2d.evaluation(ev, base, options)
    assert rec["pred"].shape == rec["gt"].shape == (5, 3, 2)
    np.testing.assert_allclose(rec["pck_normaliser"], ev.truth["boxes"][:, 2:].max(1))
    assert rec["sigmas"].tolist() == [0.1, 0.1, 0.1]  # the documented default
    # the unlabelled third keypoint is never labelled in train: the box centre stands in
    np.testing.assert_allclose(
        base["keypoints"][:, 2], ev.truth["boxes"][:, :2] + ev.truth["boxes"][:, 2:] / 2
    )
    assert pose2d.select(_pose_data(test=0), options).unavailable


def test_behavior_majority_baseline_comes_from_train_counts():
    vocab = {"other": 0, "attack": 1}
    seq = lambda name, labels: {  # noqa: E731
        "name": name, "keypoints": np.zeros((len(labels), 2, 7, 2)),
        "scores": np.ones((len(labels), 2, 7)), "labels": np.asarray(labels), "vocab": vocab,
        "fps": 30.0,
    }  # fmt: skip
    data = Frames(
        {}, {"train": [seq("tr", [1, 1, 1, 0])], "test": [seq("a", [0, 0, 1]), seq("b", [0, 1])]}
    )
    for s in behavior.samples(data, "test"):
        BEHAVIOR.sample.validate(s, s["name"])
    ev = behavior.select(data, dict(BEHAVIOR.options))
    assert ev.dims == {"F": 5, "C": 2, "A": 2, "K": 7} and all("labels" not in x for x in ev.inputs)
    base = behavior.baseline_majority(ev, None, 0)
    BEHAVIOR.prediction.validate(base, "baseline", dims=ev.dims)
    rec = behavior.evaluation(ev, base, {})
    assert rec["predicted"].tolist() == [1] * 5 and rec["labels"].tolist() == [0, 0, 1, 0, 1]


def test_discovery_selection_is_the_same_for_every_method_and_refuses_mixed_sizes():
    data = _pose_data(test=30, train=50)
    options = {**DISCOVERY.options, "max_fit_frames": 10, "max_test_frames": 6}
    ev = discovery2d.select(data, options)
    assert len(ev.inputs) == 16 and ev.truth["n_fit"] == 10 and ev.ids[0].startswith("fit:")
    assert ev.hash == discovery2d.select(data, options).hash
    assert all(set(x) == {"source", "image_size", "load", "video", "index"} for x in ev.inputs)
    mixed = Frames({"train": [_frame(0, "train"), _frame(1, "train", size=(32, 32))],
                    "test": [_frame(0, "test")]})  # fmt: skip
    with pytest.raises(DataError, match=r"different sizes \[\(32, 32\), \(64, 48\)\]"):
        discovery2d.select(mixed, options)
    no_test = discovery2d.select(_pose_data(test=0), options)
    assert "no labelled frames in the test split" in no_test.unavailable


@pytest.mark.parametrize("name", ["discovery2d", "pose2d", "behavior"])
def test_smoke_sets_are_valid_and_their_baselines_predict_valid_outputs(name):
    spec = {"discovery2d": DISCOVERY, "pose2d": POSE, "behavior": BEHAVIOR}[name]
    ev = spec.smoke(0)
    for x in ev.inputs:
        spec.inputs.validate(x, "smoke")
    guess = {"discovery2d": {"keypoints": np.zeros((32, 3, 2))}}.get(name)
    for baseline in spec.baselines.values():
        spec.prediction.validate(baseline(ev, guess, 0), "baseline", dims=ev.dims)


def test_flip_pairs_and_sigmas_have_documented_defaults():
    from kpbench.dataset import COCO_PERSON_KEYPOINTS, COCO_PERSON_SIGMAS, left_right_pairs

    assert left_right_pairs(["earL", "earR", "l_hip", "r_hip", "Left Wing", "Right Wing", "head"]) == [
        (0, 1), (2, 3), (4, 5),
    ]  # fmt: skip
    assert left_right_pairs(COCO_PERSON_KEYPOINTS)[:2] == [(1, 2), (3, 4)]
    legs = ["forelegL4", "forelegR4", "LED", "wingL", "wingR"]  # SLEAP flies13 style
    assert left_right_pairs(legs) == [(0, 1), (3, 4)]
    data = _pose_data()
    assert data.left_right() == [] and data.oks_sigmas().tolist() == [0.1] * 3
    data.keypoint_names = list(COCO_PERSON_KEYPOINTS)
    assert data.oks_sigmas().tolist() == list(COCO_PERSON_SIGMAS)
    data.flip_pairs, data.sigmas = [(0, 1)], np.array([0.5] * 17)
    assert data.left_right() == [(0, 1)] and data.oks_sigmas()[0] == 0.5


class TwoAnimals(KeypointDataset):
    """Frames of two animals side by side (``a_*`` then ``b_*``), 2 keypoints each."""

    name = "two"

    def __init__(self, frames: dict):
        super().__init__()
        self.keypoint_names = ["a_left_ear", "a_right_ear", "b_left_ear", "b_right_ear"]
        self.instance_keypoint_names = ["left_ear", "right_ear"]
        self.frame_instances = ["a", "b"]
        self.frames = frames

    def labeled_frames(self, split):
        return list(self.frames.get(split, []))


def _two(i: int, split: str, b_missing: bool = False) -> LabeledFrame:
    kp = np.array([[10.0 + i, 10.0], [20.0, 12.0], [40.0, 30.0 + i], [44.0, 36.0]])
    if b_missing:
        kp[2:] = np.nan
    return LabeledFrame(f"{split}.mp4#{i}", kp, (64, 48), lambda: np.zeros((48, 64, 3), np.uint8),
                        video=split, index=i)  # fmt: skip


def test_labeled_instances_split_frames_per_animal_and_pose2d_uses_the_instance_k():
    data = TwoAnimals(
        {"train": [_two(i, "train") for i in range(3)],
         "test": [_two(0, "test"), _two(1, "test", b_missing=True), _two(2, "test")]}
    )  # fmt: skip
    assert len(data.labeled_frames("test")) == 3  # frame-level, what discovery2d regresses
    inst = data.labeled_instances("test")
    assert [(f.source, f.instance) for f in inst] == [
        ("test.mp4#0", "a"),
        ("test.mp4#0", "b"),
        ("test.mp4#1", "a"),
        ("test.mp4#2", "a"),
        ("test.mp4#2", "b"),
    ]  # animal b has no labelled keypoint in frame 1: no instance
    np.testing.assert_array_equal(inst[1].keypoints, [[40.0, 30.0], [44.0, 36.0]])
    np.testing.assert_allclose(inst[1].box, box_from_keypoints(inst[1].keypoints, (64, 48)))
    assert data.oks_sigmas().tolist() == [0.1, 0.1] and data.left_right() == [(0, 1)]
    assert data.describe()["frame_instances"] == ["a", "b"]
    options = dict(POSE.options)
    ev = pose2d.select(data, options)
    assert ev.dims == {"N": 5, "K": 2} and ev.truth["keypoint_names"] == ["left_ear", "right_ear"]
    assert ev.ids[:2] == ["test.mp4#0/a", "test.mp4#0/b"]
    assert ev.truth["instances"] == ["a", "b", "a", "a", "b"]
    assert ev.truth["image_ids"].tolist() == [0, 0, 1, 2, 2]  # animals of one frame: one image
    boxes = ev.truth["boxes"]
    np.testing.assert_allclose(ev.truth["areas"], boxes[:, 2] * boxes[:, 3])
    assert ev.info == {"test_instances": 5, "train_instances": 6}
    base = pose2d.baseline_mean_pose(ev, None, 0)
    POSE.prediction.validate(base, "baseline", dims=ev.dims)
    rec = pose2d.evaluation(ev, base, options)
    assert rec["gt"].shape == rec["pred"].shape == (5, 2, 2)
    assert rec["image_ids"].tolist() == [0, 0, 1, 2, 2]
    perfect = {"keypoints": ev.truth["keypoints"], "scores": np.ones((5, 2))}
    from kpbench.metrics import pose2d as pm

    assert pm.oks_ap(pose2d.evaluation(ev, perfect, options))[0] == pytest.approx(100.0)


def test_pose2d_keeps_the_datasets_own_areas_and_image_ids():
    frames = [_frame(i, "test", box=np.array([5.0, 5.0, 30.0, 20.0])) for i in range(3)]
    for i, f in enumerate(frames):
        f.area, f.image_id, f.instance = 100.0 + i, 7 if i < 2 else 9, str(i)
    assert frames[0].object_area() == 100.0 and _frame(0, "x").area is None
    data = Frames({"train": [_frame(0, "train")], "test": frames})
    ev = pose2d.select(data, dict(POSE.options))
    assert ev.truth["areas"].tolist() == [100.0, 101.0, 102.0]
    assert ev.truth["image_ids"].tolist() == [7, 7, 9]
    rec = pose2d.evaluation(ev, pose2d.baseline_mean_pose(ev, None, 0), dict(POSE.options))
    assert rec["areas"].tolist() == [100.0, 101.0, 102.0] and rec["image_ids"].tolist() == [7, 7, 9]
    # one frame without its own image id: every input falls back to one id per source frame
    frames[2].image_id = None
    assert pose2d.select(data, dict(POSE.options)).truth["image_ids"].tolist() == [0, 1, 2]


def test_pose2d_refuses_an_instance_with_another_k():
    data = _pose_data()
    data.frames["test"].append(_frame(9, "test", kp=np.zeros((5, 2))))
    with pytest.raises(
        DataError, match=r"test instance test.mp4#9 has keypoints of shape \(5, 2\).*K=3"
    ):
        pose2d.select(data, dict(POSE.options))
