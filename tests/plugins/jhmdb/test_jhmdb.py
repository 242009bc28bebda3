"""The JHMDB reader on its synthetic twin: layout, 1-based joints, the inside-the-image
visibility rule, splits, skipped and mismatched videos, one-line errors, conformance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.io import loadmat, savemat

from kpbench.cli import main
from kpbench.errors import ConfigError, DataError
from kpbench.plugins import get_registry
from kpbench.tasks import propagation
from kpbench_plugins.jhmdb.dataset import KEYPOINT_NAMES, build, read_joints

SPEC = propagation.kpbench_tasks()[0]


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    out = tmp_path_factory.mktemp("jhmdb")
    assert main(["data", "synth", "jhmdb", "--out", str(out), "--seed", "1"]) == 0
    return out


def test_the_twin_has_jhmdb_layout(twin):
    assert sorted(p.name for p in twin.iterdir()) == ["Rename_Images", "joint_positions", "splits"]
    frames = sorted((twin / "Rename_Images" / "walk" / "walk_00").iterdir())
    assert [p.name for p in frames[:2]] == ["00001.png", "00002.png"] and len(frames) == 16
    mat = loadmat(str(twin / "joint_positions" / "walk" / "walk_00" / "joint_positions.mat"))
    assert mat["pos_img"].shape == (2, 15, 16) and {"pos_world", "scale", "viewpoint"} <= set(mat)
    lines = (twin / "splits" / "walk_test_split1.txt").read_text().splitlines()
    assert lines == ["walk_00.avi 1", "walk_01.avi 1", "walk_02.avi 2"]


def test_joints_are_0_based_and_visible_inside_the_image(twin):
    data = build(twin)
    assert data.keypoint_names == list(KEYPOINT_NAMES) and len(KEYPOINT_NAMES) == 15
    [walk] = [v for v in data.videos("test") if v.name == "walk/walk_02"]
    pos = loadmat(str(twin / "joint_positions/walk/walk_02/joint_positions.mat"))["pos_img"]
    np.testing.assert_allclose(walk.keypoints, pos.transpose(2, 1, 0) - 1)
    w, h = walk.reader.width, walk.reader.height
    kp = walk.keypoints
    inside = (kp[..., 0] >= 0) & (kp[..., 0] < w) & (kp[..., 1] >= 0) & (kp[..., 1] < h)
    np.testing.assert_array_equal(walk.visibility, inside)
    assert walk.visibility[0].all() and not walk.visibility[-1].all()  # it walks off the right


def test_splits_choose_train_and_test(twin):
    one, three = build(twin), build(twin, split=3)
    assert [v.name for v in one.videos("test")] == ["walk/walk_02", "wave/wave_02"]
    assert [v.name for v in three.videos("test")] == ["walk/walk_00", "wave/wave_00"]
    assert one.notes["videos"] == {"train": 4, "test": 2} and one.notes["split"] == 1
    with pytest.raises(ConfigError, match="data.split=4 must be 1, 2 or 3"):
        build(twin, split=4)
    assert build(twin, frobnicate=1).notes["ignored_options"] == {"frobnicate": 1}


def test_propagation_samples_and_selection(twin):
    data = build(twin)
    videos = propagation.samples(data, "test")
    assert [(v["name"], v["start"], len(v["keypoints"])) for v in videos] == [
        ("walk/walk_02[0:16]", 0, 16), ("wave/wave_02[0:16]", 0, 16)]  # fmt: skip
    ev = propagation.select(data, dict(SPEC.options))
    assert ev.dims == {"F": 32, "K": 15} and ev.truth["keypoint_names"] == list(KEYPOINT_NAMES)
    for x in ev.inputs:
        SPEC.inputs.validate(x)


def test_a_bad_mat_or_missing_frames_skip_the_video_and_say_why(tmp_path):
    main(["data", "synth", "jhmdb", "--out", str(tmp_path)])
    (tmp_path / "joint_positions/wave/wave_01/joint_positions.mat").write_bytes(b"garbage")
    savemat(
        tmp_path / "joint_positions/walk/walk_01/joint_positions.mat",
        {"pos_img": np.ones((2, 3, 4))},
    )
    for p in (tmp_path / "Rename_Images/walk/walk_00").iterdir():
        p.unlink()
    data = build(tmp_path)
    skipped = data.notes["files"]["skipped"]
    wave01, walk01 = (
        f"joint_positions/{v}/joint_positions.mat" for v in ("wave/wave_01", "walk/walk_01")
    )
    assert set(skipped) == {wave01, walk01, "Rename_Images/walk/walk_00"}
    assert "unreadable .mat" in skipped[wave01] and "(2, 15, T)" in skipped[walk01]
    assert skipped["Rename_Images/walk/walk_00"] == "no frame images"
    used = data.notes["files"]["used"]
    assert used["joint_positions/wave/wave_00/joint_positions.mat"]["frames"] == 16
    assert [v.name for v in data.videos("train")] == ["wave/wave_00"]


def test_more_frames_than_joints_are_unlabelled_and_noted(tmp_path):
    main(["data", "synth", "jhmdb", "--out", str(tmp_path)])
    mat = tmp_path / "joint_positions/wave/wave_02/joint_positions.mat"
    savemat(mat, {"pos_img": loadmat(str(mat))["pos_img"][:, :, :10]})
    [wave] = [v for v in build(tmp_path).videos("test") if v.name == "wave/wave_02"]
    assert np.isnan(wave.keypoints[10:]).all() and not np.isnan(wave.keypoints[:10]).any()
    assert build(tmp_path).notes["frame_count_mismatch"] == {
        "wave/wave_02": {"frames": 16, "pos_img": 10}}  # fmt: skip
    assert read_joints(mat).shape == (10, 15, 2)


def test_bad_folders_and_split_lines_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="jhmdb data not found"):
        build(tmp_path / "nowhere")
    (tmp_path / "a").mkdir()
    with pytest.raises(DataError, match="has no Rename_Images, joint_positions, splits folder"):
        build(tmp_path / "a")
    main(["data", "synth", "jhmdb", "--out", str(tmp_path / "b")])
    (tmp_path / "b/splits/wave_test_split1.txt").write_text("wave_00.avi 1\nwave_01.avi three\n")
    with pytest.raises(DataError, match=r"wave_test_split1.txt line 2 is 'wave_01.avi three'"):
        build(tmp_path / "b")
    with pytest.raises(DataError, match="no <action>_test_split2.txt"):
        for p in (tmp_path / "b/splits").glob("*split2.txt"):
            p.unlink()
        build(tmp_path / "b", split=2)


def test_conformance(twin, tmp_path):
    from kpbench.testing_data import check_dataset, check_dataset_errors

    spec = get_registry().dataset("jhmdb")
    assert check_dataset(spec, twin) == {"propagation": {"train": 4, "test": 2}}
    report = check_dataset_errors(spec, tmp_path)
    assert "jhmdb data not found" in report["missing"]
    assert report["file"].startswith("skipped:")


def test_twin_options_are_checked(tmp_path):
    from kpbench_plugins.jhmdb.synth import synthesize

    with pytest.raises(ValueError, match="need clips >= 2"):
        synthesize(tmp_path, clips=1)
    synthesize(tmp_path / "small", clips=2, frames=5, width=128, height=96)
    data = build(tmp_path / "small")
    assert data.videos()[0].keypoints.shape == (5, 15, 2) and data.videos()[0].reader.width == 128
