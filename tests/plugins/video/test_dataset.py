"""The ``video`` loader on generated clips: discovery, splits, tasks, labels, and bad input."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from kpbench.errors import ConfigError, DataError
from kpbench_plugins.video.dataset import build
from kpbench_plugins.video.synth import KEYPOINTS, render, synthesize

from .conftest import TINY


def test_synthetic_clip_loads_with_splits_and_truth(pen_clip):
    data = build(pen_clip, test_fraction=0.25)
    assert data.tasks == ("discovery2d", "pose2d", "propagation")  # no phase table: no alignment
    assert data.keypoint_names == list(KEYPOINTS) and data.skeleton == [(0, 1), (1, 2), (2, 3)]
    assert data.notes["video_files"] == ["pen.mp4"] and data.notes["label_files"] == ["pen.slp"]
    [train], [test] = data.videos("train"), data.videos("test")
    assert train.reader is test.reader and (train.start, train.stop, test.start) == (0, 45, 45)
    frames_train, frames_test = set(train.frame_range), set(test.frame_range)
    assert not frames_train & frames_test and frames_train | frames_test == set(range(60))
    truth = np.stack([f.keypoints for f in render("pen", 0, **TINY)])
    np.testing.assert_allclose(train.keypoints, truth, atol=1e-4)
    fit, score = data.labeled_frames("train"), data.labeled_frames("test")
    assert [f.index for f in fit] == list(range(45)) and [f.index for f in score] == list(
        range(45, 60)
    )
    assert score[0].source == "pen.mp4#45" and score[0].image_size == (96, 96)
    assert score[0].load().shape == (96, 96, 3)
    assert data.notes["splits"]["test"] == {
        "videos": 1,
        "video_frames": 15,
        "labeled_video_frames": 15,
        "labeled_stills": 0,
        "labeled_instances": 15,
    }
    # one pen per frame: the pose2d instances are the frames themselves
    assert data.frame_instances is None and data.per_instance_keypoint_names() == list(KEYPOINTS)
    assert [f.source for f in data.labeled_instances("test")] == [f.source for f in score]
    assert data.describe()["videos"] == {"test": 1, "train": 1}


def test_corrupt_video_is_skipped_and_reported(pen_copy, caplog):
    (pen_copy / "bad.mp4").write_bytes(
        np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    )
    with caplog.at_level(logging.WARNING):
        data = build(pen_copy)
    [(rel, error)] = data.notes["files"]["skipped"].items()
    assert rel == "bad.mp4" and error.startswith("cannot decode this video")
    assert "bad.mp4" in caplog.text
    assert [v.name for v in data.videos("train")] == ["pen"] and "discovery2d" in data.tasks


def test_only_a_corrupt_video_is_an_error(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"\x00not a video" * 200)
    with pytest.raises(DataError) as err:
        build(tmp_path)
    msg = str(err.value)
    assert (
        str(tmp_path) in msg
        and "bad.mp4" in msg
        and "kpbench data synth video" in msg
        and "\n" not in msg
    )


def test_missing_folder_and_environment(tmp_path, monkeypatch, pen_clip):
    with pytest.raises(
        DataError,
        match="video data not found at .*absent; put video files .* pass it with --data-dir",
    ):
        build(tmp_path / "absent")
    monkeypatch.delenv("KPBENCH_DATA", raising=False)
    with pytest.raises(DataError, match=r"\$KPBENCH_DATA is not set"):
        build(None)
    shutil.copytree(pen_clip, tmp_path / "video")
    monkeypatch.setenv("KPBENCH_DATA", str(tmp_path))
    assert build(None).root == tmp_path / "video"


def test_unlabelled_videos_frame_folders_and_skipped_folders(tmp_path, write_video, write_image):
    write_video(tmp_path / "videos" / "a.mp4", frames=12)
    write_video(tmp_path / "videos" / "deep" / "b.avi", frames=9)
    for i in range(4):
        write_image(tmp_path / "frames_c" / f"{i:03d}.png", size=(32, 24))
    write_video(tmp_path / ".hidden" / "x.mp4")
    write_video(tmp_path / "__pycache__" / "y.mp4")
    write_video(tmp_path / "labeled-data" / "z.mp4")
    data = build(tmp_path)
    assert data.tasks == ("discovery2d",) and data.keypoint_names == []
    assert data.notes["video_files"] == ["frames_c", "videos/a.mp4", "videos/deep/b.avi"]
    assert [(v.name, v.split, len(v.frame_range)) for v in data.videos()] == [
        ("frames_c", "train", 4),
        ("a", "train", 12),
        ("b", "train", 9),
    ]
    assert data.videos("test") == [] and data.labeled_frames("train") == []
    assert [v.name for v in build(tmp_path, max_videos=2).videos()] == ["frames_c", "a"]


@pytest.mark.parametrize(
    ("options", "problem"),
    [({"test_fraction": 1.0}, "test_fraction"), ({"max_videos": 0}, "max_videos")],
)
def test_bad_options(pen_clip, options, problem):
    with pytest.raises(ConfigError, match=problem):
        build(pen_clip, **options)


def test_phases_attach_with_a_shared_vocabulary(tmp_path, write_video):
    write_video(tmp_path / "a.mp4", frames=6)
    write_video(tmp_path / "b.mp4", frames=5)
    write_video(tmp_path / "c.mp4", frames=5)
    (tmp_path / "a.phases.csv").write_text("frame,phase\n0,reach\n1,reach\n2,grasp\n3,lift\n")
    (tmp_path / "b.csv").write_text("frame,label\n0,grasp\n4,drop\n")
    pd.DataFrame(
        [[1.0, 2.0]],
        index=["x.png"],
        columns=pd.MultiIndex.from_tuples(
            [("me", "snout", "x"), ("me", "snout", "y")], names=["scorer", "bodyparts", "coords"]
        ),
    ).to_csv(tmp_path / "c.csv")
    data = build(tmp_path)
    a, b, c = data.videos()
    vocab = {"drop": 0, "grasp": 1, "lift": 2, "reach": 3}
    assert a.vocab == b.vocab == vocab
    assert a.labels.tolist() == [3, 3, 1, 2, -1, -1] and b.labels.tolist() == [1, -1, -1, -1, 0]
    files = data.notes["files"]
    assert c.labels is None and files["ignored"] == {
        "c.csv": "a DeepLabCut table, not a per-frame label table"
    }
    assert files["used"]["b.csv"] == {"labels": "phases", "frames": 2}
    assert {"a.phases.csv", "b.csv"} <= set(data.notes["label_files"])


def test_phase_file_problems_name_the_file(tmp_path, write_video):
    write_video(tmp_path / "a.mp4", frames=6)
    (tmp_path / "a.behavior.csv").write_text("frame,behavior\n0,walk\n9,run\n")
    with pytest.raises(DataError, match=r"a.behavior.csv: frame 9 is beyond a.mp4's 6 frames"):
        build(tmp_path)
    (tmp_path / "a.behavior.csv").write_text("time,what\n0,walk\n")
    (tmp_path / "a.behavior.csv").rename(tmp_path / "a.csv")
    with pytest.raises(DataError, match=r"a.csv: a per-frame label CSV needs a 'frame' column"):
        build(tmp_path)


def test_slp_matched_by_stem_and_unmatched_slp_reported(pen_copy):
    shutil.copy(pen_copy / "pen.slp", pen_copy / "other.slp")
    (pen_copy / "pen.mp4").rename(pen_copy / "renamed.mp4")
    shutil.move(
        pen_copy / "pen.slp", pen_copy / "renamed.slp"
    )  # stored video name no longer exists: match by stem
    data = build(pen_copy)
    assert [v.name for v in data.videos("test")] == ["renamed"]
    assert data.notes["files"]["skipped"] == {
        "other.slp": "its video pen.mp4 is not in the folder (or is unreadable)"
    }


def test_label_sources_must_agree_on_keypoints(pen_copy, write_image):
    write_image(pen_copy / "images" / "a.jpg")
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2]}],
        "categories": [{"id": 1, "name": "thing", "keypoints": ["nose"]}],
    }
    (pen_copy / "person_keypoints.json").write_text(json.dumps(doc))
    with pytest.raises(
        DataError,
        match=r"disagree on keypoint names: .*person_keypoints.json has \['nose'\].*pen.slp has",
    ):
        build(pen_copy)


def test_stills_split_by_image_and_served_with_videos(pen_copy, write_image):
    names = list(KEYPOINTS)
    images = [{"id": i, "file_name": f"im{i}.png", "width": 40, "height": 30} for i in range(5)]
    anns = [
        {"id": 10 + i, "image_id": i % 5, "category_id": 1, "keypoints": [i, i, 2] * 4}
        for i in range(7)
    ]
    for im in images:
        write_image(pen_copy / "images" / im["file_name"])
    doc = {"images": images, "annotations": anns, "categories": [{"id": 1, "keypoints": names}]}
    (pen_copy / "annotations").mkdir()
    (pen_copy / "annotations" / "stills.json").write_text(json.dumps(doc))
    data = build(pen_copy, test_fraction=0.4)
    stills = {s: [f for f in data.labeled_frames(s) if f.index is None] for s in ("train", "test")}
    assert [(f.source, f.instance, f.image_id) for f in stills["train"]] == [
        ("images/im0.png", "10", 0),
        ("images/im0.png", "15", 0),
        ("images/im1.png", "11", 1),
        ("images/im1.png", "16", 1),
        ("images/im2.png", "12", 2),
    ]
    assert [(f.source, f.instance) for f in stills["test"]] == [
        ("images/im3.png", "13"),
        ("images/im4.png", "14"),
    ]
    assert stills["test"][0].load().shape == (30, 40, 3) and stills["test"][0].image_size == (
        40,
        30,
    )
    assert len(data.labeled_frames("test")) == 24 + 2  # pen frames 36..59, then the stills
    assert "images" not in data.notes["video_files"]  # an image folder of stills is not a video


def test_synthetic_scenes_share_one_folder(tmp_path):
    out = synthesize(tmp_path / "all", 1, scene="all", frames=10, width=64, height=64)
    data = build(out)
    assert sorted(v.name for v in data.videos("train")) == ["object", "pen"]
    assert {f.image_size for f in data.labeled_frames("test")} == {(64, 64)} and len(
        data.labeled_frames("test")
    ) == 4


def test_plugin_record_and_light_import():
    from kpbench_plugins.video.plugin import kpbench_datasets

    spec, actions = kpbench_datasets()
    assert spec.name == "video" and spec.tasks == (
        "discovery2d",
        "alignment",
        "pose2d",
        "propagation",
    )
    assert spec.synthesize is not None and "--data-dir" in spec.data_hint
    assert actions.name == "actions" and actions.tasks == ("alignment", "discovery2d")
    assert actions.synthesize is not None and "synth actions" in actions.data_hint
    code = "import sys, kpbench_plugins.video.plugin; print(sorted({'torch', 'cv2', 'pandas', 'sleap_io'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- pose2d instances ------------------------------------------------------------------------------
def _two_pens(folder) -> np.ndarray:
    """Rewrite ``folder/pen.slp`` with two tracks: ``pen`` (the truth) and ``ghost`` (the truth
    moved 20 px right, absent in frames 50..59); returns the ``(60, 2, 4, 2)`` keypoints."""
    from kpbench_plugins.video.synth import _write_slp

    truth = np.stack([f.keypoints for f in render("pen", 0, **TINY)]).astype(np.float64)
    both = np.stack([truth, truth + [20.0, 0.0]], axis=1)
    both[50:, 1] = np.nan
    both[45, 1, 0] = np.nan  # one unlabelled node of the ghost
    _write_slp(folder / "pen.slp", folder / "pen.mp4", both, ["pen", "ghost"])
    return both


def test_two_track_slp_gives_one_instance_per_animal(pen_copy):
    from kpbench.dataset import box_from_keypoints
    from kpbench.tasks import pose2d

    both = _two_pens(pen_copy)
    data = build(pen_copy, test_fraction=0.25)
    assert data.keypoint_names == [f"{t}_{n}" for t in ("pen", "ghost") for n in KEYPOINTS]
    assert data.frame_instances == ["pen", "ghost"]
    assert data.per_instance_keypoint_names() == list(KEYPOINTS)
    assert len(data.labeled_frames("test")) == 15  # frame-level (discovery2d) unchanged
    inst = data.labeled_instances("test")
    # frames 45..49 hold both animals, 50..59 only the pen
    assert [(f.index, f.instance) for f in inst[:3]] == [(45, "pen"), (45, "ghost"), (46, "pen")]
    assert len(inst) == 5 * 2 + 10 and {f.instance for f in inst[10:]} == {"pen"}
    ghost = inst[1]
    np.testing.assert_allclose(ghost.keypoints, both[45, 1], atol=1e-4)
    assert ghost.visible().tolist() == [0, 2, 2, 2] and ghost.source == "pen.mp4#45"
    np.testing.assert_allclose(ghost.bbox(), box_from_keypoints(both[45, 1], (96, 96)), atol=1e-4)
    assert data.notes["splits"]["test"]["labeled_instances"] == 20
    ev = pose2d.select(data, {"max_test_instances": None, "pck_normaliser": "box"})
    assert ev.dims == {"N": 20, "K": 4} and ev.truth["keypoints"].shape == (20, 4, 2)
    assert ev.ids[:2] == ["pen.mp4#45/pen", "pen.mp4#45/ghost"]
    assert ev.truth["image_ids"][:3].tolist() == [0, 0, 1]
    assert ev.truth["flip_pairs"] == [] and ev.truth["sigmas"].shape == (4,)


def test_label_files_must_agree_on_the_animals(pen_copy, write_image):
    _two_pens(pen_copy)
    names = [f"{t}_{n}" for t in ("pen", "ghost") for n in KEYPOINTS]
    # a single-animal DeepLabCut project whose bodyparts happen to carry the same names
    project = pen_copy / "dlc"
    (project / "labeled-data" / "v1").mkdir(parents=True)
    (project / "config.yaml").write_text(f"bodyparts: [{', '.join(names)}]\n")
    write_image(project / "labeled-data" / "v1" / "img0.png")
    cols = pd.MultiIndex.from_product(
        [["me"], names, ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    pd.DataFrame(np.ones((1, 16)), index=["labeled-data/v1/img0.png"], columns=cols).to_csv(
        project / "labeled-data" / "v1" / "CollectedData_me.csv"
    )
    with pytest.raises(
        DataError,
        match=r"disagree on the animals in a frame: .*CollectedData_me.csv labels one animal, "
        r".*pen.slp labels animals \['pen', 'ghost'\]",
    ):
        build(pen_copy)


def test_multi_animal_dlc_project_gives_one_instance_per_individual(tmp_path, write_image):
    from kpbench.tasks import pose2d

    config = (
        "multianimalproject: true\nindividuals: [m1, m2]\nmultianimalbodyparts: [snout, tail]\n"
        "uniquebodyparts: [corner]\nskeleton: [[snout, tail]]\n"
    )
    (tmp_path / "config.yaml").write_text(config)
    folder = tmp_path / "labeled-data" / "v1"
    rows = [f"labeled-data/v1/img{i}.png" for i in range(5)]
    for i in range(5):
        write_image(folder / f"img{i}.png", size=(40 + 2 * i, 30))
    keys = [("m1", "snout"), ("m1", "tail"), ("m2", "snout"), ("m2", "tail"), ("single", "corner")]
    cols = pd.MultiIndex.from_tuples(
        [("me", i, p, c) for i, p in keys for c in ("x", "y")],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    values = np.arange(50, dtype=float).reshape(5, 10) % 29 + 1
    values[1, 4:8] = np.nan  # m2 not labelled in img1
    values[3, 0:2] = np.nan  # m1's snout missing in img3
    pd.DataFrame(values, index=rows, columns=cols).to_csv(folder / "CollectedData_me.csv")
    data = build(tmp_path, test_fraction=0.4)
    assert data.keypoint_names == ["m1_snout", "m1_tail", "m2_snout", "m2_tail", "single_corner"]
    assert data.frame_instances == ["m1", "m2"]
    assert data.per_instance_keypoint_names() == ["snout", "tail"]
    train, test = data.labeled_instances("train"), data.labeled_instances("test")
    assert [(f.source[-8:], f.instance) for f in train] == [
        ("img0.png", "m1"), ("img0.png", "m2"), ("img1.png", "m1"), ("img2.png", "m1"),
        ("img2.png", "m2"),
    ]  # fmt: skip
    assert [f.image_size for f in test] == [(46, 30)] * 2 + [(48, 30)] * 2  # sizes differ
    np.testing.assert_array_equal(test[0].keypoints, [[np.nan, np.nan], values[3, 2:4]])
    assert test[0].visible().tolist() == [0, 2]
    ev = pose2d.select(data, {"max_test_instances": None, "pck_normaliser": "box"})
    assert (
        ev.dims == {"N": 4, "K": 2}
        and ev.truth["image_sizes"][:, 0].tolist() == [46] * 2 + [48] * 2
    )


def test_dlc_stills_of_different_sizes_with_missing_keypoints_serve_pose2d(tmp_path, write_image):
    from kpbench.tasks import pose2d

    (tmp_path / "config.yaml").write_text("bodyparts: [snout, tail, paw]\n")
    folder = tmp_path / "labeled-data" / "v1"
    rows = [f"labeled-data/v1/img{i}.png" for i in range(6)]
    for i in range(6):
        write_image(folder / f"img{i}.png", size=(40 + 10 * i, 30 + 4 * i))
    cols = pd.MultiIndex.from_product(
        [["me"], ["snout", "tail", "paw"], ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    values = np.tile([5.0, 6.0, 20.0, 22.0, 12.0, 14.0], (6, 1))
    values[::2, 4:] = np.nan  # the paw missing in every other frame
    values[5, :2] = np.nan
    pd.DataFrame(values, index=rows, columns=cols).to_csv(folder / "CollectedData_me.csv")
    data = build(tmp_path, test_fraction=0.5)
    assert data.frame_instances is None and len(data.labeled_instances("test")) == 3
    ev = pose2d.select(data, {"max_test_instances": None, "pck_normaliser": "box"})
    assert ev.truth["image_sizes"].tolist() == [[70, 42], [80, 46], [90, 50]]
    assert ev.truth["visibility"].tolist() == [[2, 2, 2], [2, 2, 0], [0, 2, 2]]
    assert ev.truth["image_ids"].tolist() == [0, 1, 2] and ev.dims["K"] == 3


def test_coco_stills_keep_boxes_visibility_areas_image_ids_and_list_crowds(tmp_path, write_image):
    write_image(tmp_path / "images" / "a.jpg", size=(40, 30))
    doc = {
        "images": [{"id": 42, "file_name": "a.jpg", "width": 40, "height": 30}],
        "annotations": [
            {"id": 7, "image_id": 42, "category_id": 1, "keypoints": [1, 2, 2, 5, 6, 1],
             "bbox": [0, 1, 10, 12], "area": 80.5, "iscrowd": 0},
            {"id": 8, "image_id": 42, "category_id": 1, "keypoints": [9, 9, 2, 0, 0, 0],
             "bbox": [5, 5, 10, 10], "area": 50, "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "tail"]}],
    }  # fmt: skip
    (tmp_path / "person_keypoints_a.json").write_text(json.dumps(doc))
    data = build(tmp_path, test_fraction=0.0)
    [f] = data.labeled_instances("train")
    assert (f.source, f.instance, f.image_id, f.area) == ("images/a.jpg", "7", 42, 80.5)
    assert f.bbox().tolist() == [0, 1, 10, 12] and f.visible().tolist() == [2, 1]
    assert data.notes["files"]["used"]["person_keypoints_a.json"]["ignored_annotations"] == [
        "annotation 8 (image_id 42) is a crowd region (iscrowd=1): "
        "COCO's evaluation ignores crowd regions"
    ]
