"""The loader on the real projects in ``<repo>/../shared/data`` (skipped where they are absent).

Only a few frames of each long video are decoded, so the file stays fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from kpbench_plugins.video.dataset import build

FLY_NODES = [
    "head",
    "thorax",
    "abdomen",
    "wingL",
    "wingR",
    "forelegL4",
    "forelegR4",
    "midlegL4",
    "midlegR4",
    "hindlegL4",
    "hindlegR4",
    "eyeL",
    "eyeR",
]


def project(shared_data: Path, name: str) -> Path:
    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not present")
    return folder


def test_dlc_openfield_mouse(shared_data):
    root = project(shared_data, "dlc_openfield_mouse")
    data = build(root)
    assert data.tasks == ("discovery2d", "pose2d")  # labelled stills, no labelled video frame
    assert data.keypoint_names == ["snout", "leftear", "rightear", "tailbase"]
    assert data.notes["label_files"] == ["labeled-data/m4s1/CollectedData_Pranav.h5"]
    [video] = data.videos()
    assert (video.name, video.split, video.reader.num_frames, video.keypoints) == (
        "m3v1mp4",
        "train",
        2330,
        None,
    )
    assert [f.shape for _, f in video.reader.iter_frames([0, 5])] == [(480, 640, 3)] * 2
    train, test = data.labeled_frames("train"), data.labeled_frames("test")
    assert (len(train), len(test)) == (92, 24)
    stills = train + test
    assert [f.source for f in stills] == [f"labeled-data/m4s1/img{i:04d}.png" for i in range(116)]
    table = pd.read_hdf(root / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5")
    np.testing.assert_allclose(
        np.stack([f.keypoints for f in stills]), table.to_numpy().reshape(116, 4, 2), rtol=1e-6
    )
    assert stills[0].image_size == (640, 480) and stills[0].video == "m4s1"
    assert stills[-1].load().shape == (480, 640, 3)
    # single animal: one pose2d instance per still, box from the keypoints' extent
    assert data.frame_instances is None and len(data.labeled_instances("test")) == 24
    assert {f.instance for f in data.labeled_instances("train")} == {None}


def test_sleap_flies13_clip(shared_data):
    import sleap_io as sio

    root = project(shared_data, "sleap_flies13_clip")
    data = build(root)
    assert data.tasks == ("discovery2d", "pose2d", "propagation")
    assert data.keypoint_names == [f"{t}_{n}" for t in ("female", "male") for n in FLY_NODES]
    assert (0, 11) in data.skeleton and (13, 24) in data.skeleton and len(data.skeleton) == 24
    assert data.notes["files"]["ignored"] == {
        "SOURCE.md": "not read (not a video or a label file this dataset reads)",
        "clip.predictions.slp": "SLEAP model predictions; count them as labels with "
        "--set data.use_predictions=true",
    }
    assert data.notes["files"]["used"]["clip.slp"] == {"labels": "user", "frames": 1500}
    assert data.notes["files"]["used"]["clip.mp4"] == {
        "size": [1024, 1024],
        "frames_header": 1500,
        "frames_usable": 1500,
    }
    [train], [test] = data.videos("train"), data.videos("test")
    assert train.reader.num_frames == 1500 and (train.frame_range, test.frame_range) == (
        range(0, 1200),
        range(1200, 1500),
    )
    assert train.keypoints.shape == (1500, 26, 2)
    truth = sio.load_slp(str(root / "clip.slp"), open_videos=False).numpy().reshape(1500, 26, 2)
    np.testing.assert_array_equal(train.keypoints, truth)
    missing = np.isnan(train.keypoints).any(-1)
    assert (
        missing[:, :3].sum() == 0 and 0 < missing.mean() < 0.05
    )  # head/thorax/abdomen always there
    fit, score = data.labeled_frames("train"), data.labeled_frames("test")
    assert (len(fit), len(score)) == (1200, 300) and score[0].source == "clip.mp4#1200"
    assert score[0].load().shape == (1024, 1024, 3)


def test_sleap_flies13_clip_gives_one_pose2d_instance_per_fly(shared_data):
    from kpbench.dataset import box_from_keypoints
    from kpbench.tasks import pose2d

    data = build(project(shared_data, "sleap_flies13_clip"))
    assert data.frame_instances == ["female", "male"]
    assert data.per_instance_keypoint_names() == FLY_NODES and len(data.oks_sigmas()) == 13
    assert (3, 4) in data.left_right() and (5, 6) in data.left_right()  # wings, forelegs
    train, test = data.labeled_instances("train"), data.labeled_instances("test")
    assert (len(train), len(test)) == (2400, 600)  # both flies labelled in every frame
    assert [(f.source, f.instance) for f in test[:2]] == [
        ("clip.mp4#1200", "female"),
        ("clip.mp4#1200", "male"),
    ]
    frame = data.labeled_frames("test")[0]
    np.testing.assert_array_equal(test[1].keypoints, frame.keypoints[13:])
    np.testing.assert_allclose(
        test[1].bbox(), box_from_keypoints(frame.keypoints[13:], (1024, 1024))
    )
    assert test[1].bbox()[2] < 200  # one fly's box, not the pair's
    ev = pose2d.select(data, {"max_test_instances": 40, "pck_normaliser": "box"})
    assert ev.dims == {"N": 40, "K": 13} and ev.truth["keypoints"].shape == (40, 13, 2)
    assert ev.truth["visibility"].shape == (40, 13) and ev.truth["areas"].shape == (40,)
    assert len(set(ev.ids)) == 40 and ev.truth["keypoint_names"] == FLY_NODES


def test_coco_person_mini(shared_data):
    root = project(shared_data, "coco_person_mini")
    data = build(root)
    assert data.tasks == ("pose2d",) and data.videos() == []
    assert len(data.keypoint_names) == 17 and data.keypoint_names[:3] == [
        "nose",
        "left_eye",
        "right_eye",
    ]
    assert len(data.skeleton) == 19 and all(0 <= i < 17 and 0 <= j < 17 for i, j in data.skeleton)
    frames = list(data.labeled_frames("train")) + list(data.labeled_frames("test"))
    assert len(frames) == 12  # 14 persons, 2 of them without keypoints
    images = {f.source.split("#")[0] for f in frames}
    assert images == {
        f"val2017/{n}.jpg" for n in ("000000000785", "000000040083", "000000196141", "000000197388")
    }
    assert {f.source.split("#")[0] for f in data.labeled_frames("train")}.isdisjoint(
        f.source.split("#")[0] for f in data.labeled_frames("test")
    )
    first = frames[0]
    assert first.image_size == (640, 425) and first.load().shape == (425, 640, 3)
    assert np.isnan(np.stack([f.keypoints for f in frames])).any()  # v = 0 points are NaN


def test_coco_person_mini_keeps_cocos_boxes_areas_visibility_and_image_ids(shared_data):
    import json

    from kpbench.tasks import pose2d

    root = project(shared_data, "coco_person_mini")
    doc = json.loads((root / "annotations" / "person_keypoints_mini.json").read_text())
    anns = {str(a["id"]): a for a in doc["annotations"]}
    data = build(root)
    # no crowd annotation in this sample; the folder's SOURCE.md is listed as not read
    assert data.notes["files"]["ignored"] == {
        "SOURCE.md": "not read (not a video or a label file this dataset reads)"
    }
    train, test = data.labeled_instances("train"), data.labeled_instances("test")
    assert (len(train), len(test)) == (7, 5)  # 14 persons, 2 without keypoints
    for f in train + test:
        ann = anns[f.instance]
        np.testing.assert_allclose(f.bbox(), ann["bbox"])
        assert f.area == ann["area"] and f.image_id == ann["image_id"]
        v = np.asarray(ann["keypoints"]).reshape(17, 3)[:, 2]
        assert f.visible().tolist() == v.tolist()
        np.testing.assert_array_equal(np.isnan(f.keypoints).any(-1), v == 0)
    assert any((f.visible() == 1).any() for f in train + test)  # occluded points kept as 1
    ev = pose2d.select(data, {"max_test_instances": None, "pck_normaliser": "box"})
    assert ev.dims == {"N": 5, "K": 17} and ev.truth["keypoints"].shape == (5, 17, 2)
    assert ev.truth["image_ids"].tolist() == [anns[f.instance]["image_id"] for f in test]
    assert ev.truth["areas"].tolist() == [anns[f.instance]["area"] for f in test]
    rec = pose2d.evaluation(
        ev, {"keypoints": ev.truth["keypoints"]}, dict(pose2d.kpbench_tasks()[0].options)
    )
    assert rec["areas"].tolist() == ev.truth["areas"].tolist()


def test_sleap_predictions_counted_only_when_asked(shared_data, tmp_path):
    """The real ``sleap-track`` output of the fly clip, alone beside its video (issue #13)."""
    import sleap_io as sio

    root = project(shared_data, "sleap_flies13_clip")
    for name in ("clip.mp4", "clip.predictions.slp"):
        (tmp_path / name).symlink_to(root / name)
    data = build(tmp_path)
    assert "pose2d" not in data.tasks and "clip.predictions.slp" in data.notes["files"]["ignored"]
    data = build(tmp_path, use_predictions=True)
    used = data.notes["files"]["used"]["clip.predictions.slp"]
    assert (used["labels"], used["frames"]) == ("predicted", 1500)
    assert 0.5 < used["mean_score"] < 1.0
    assert data.keypoint_names == ["female_head", "female_thorax", "male_head", "male_thorax"]
    truth = sio.load_slp(str(root / "clip.predictions.slp"), open_videos=False)
    want = truth.numpy(user_instances=False).reshape(1500, 4, 2)
    want[np.isnan(want).any(-1)] = np.nan
    np.testing.assert_array_equal(data.videos("train")[0].keypoints, want)
    # beside the user labels, the predictions give way (one label source per video)
    both = build(root, use_predictions=True).notes["files"]
    assert both["used"]["clip.slp"] == {"labels": "user", "frames": 1500}
    assert both["ignored"]["clip.predictions.slp"] == (
        "predictions for clip.mp4, already labelled by clip.slp"
    )


def test_dlc_openfield_mouse_every_file_listed(shared_data):
    """Each file of the real DeepLabCut project is used, or ignored with the reason (issue #13)."""
    files = build(project(shared_data, "dlc_openfield_mouse")).notes["files"]
    assert files["used"] == {
        "config.yaml": {"config": "DeepLabCut project"},
        "labeled-data/m4s1/CollectedData_Pranav.h5": {"labels": "user", "images": 116},
        "videos/m3v1mp4.mp4": {"size": [640, 480], "frames_header": 2330, "frames_usable": 2330},
    }
    assert files["ignored"] == {
        "SOURCE.md": "not read (not a video or a label file this dataset reads)",
        "labeled-data/m4s1/CollectedData_Pranav.csv": "the same labels as "
        "CollectedData_Pranav.h5, which is read",
    }
    assert files["skipped"] == {}
