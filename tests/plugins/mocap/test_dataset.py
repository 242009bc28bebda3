"""The ``mocap`` dataset on the real CMU subject-131 takes (skipped where ../shared/data is absent),
its cameras, resampling and options, and its one-line errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from kpbench.errors import ConfigError, DataError
from kpbench.tasks import lifting3d
from kpbench_plugins.mocap import cameras as cams
from kpbench_plugins.mocap.bvh import forward_kinematics, read_bvh
from kpbench_plugins.mocap.dataset import (
    KEYPOINT_NAMES,
    MM_PER_UNIT,
    build,
    map_to_h36m,
    resample,
)

TAKES = {"131_01": 994, "131_02": 1247, "131_03": 1102}  # frames at 120 fps (SOURCE.md)
CMU_JOINTS = (
    "Hips LHipJoint LeftHip LeftKnee LeftAnkle LeftToe RHipJoint RightHip RightKnee RightAnkle "
    "RightToe lowerback Chest Chest2 lowerneck Neck Head LeftCollar LeftShoulder LeftElbow "
    "LeftWrist lhand LFingers LThumb RightCollar RightShoulder RightElbow RightWrist rhand "
    "RFingers RThumb"
).split()
J = {name: i for i, name in enumerate(KEYPOINT_NAMES)}
#: A valid BVH whose only joint is a root with an End Site.
ONE_JOINT = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 3 Xrotation Yrotation Zrotation
  End Site
  {
    OFFSET 0 1 0
  }
}
MOTION
Frames: 1
Frame Time: 0.01
0 0 0
"""


@pytest.fixture
def cmu(shared_data):
    root = shared_data / "cmu_mocap_131"
    if not root.is_dir():
        pytest.skip("../shared/data/cmu_mocap_131 is not present")
    return root


def _world(sample) -> np.ndarray:
    """Camera-frame 3D back to the world frame: X_world = Rᵀ (X_cam − t)."""
    cam = sample["camera"]
    return (sample["keypoints3d"] - cam["t"]) @ cam["R"]


def _bone(points, a, b) -> np.ndarray:
    return np.linalg.norm(points[:, J[a]] - points[:, J[b]], axis=-1)


def test_real_takes_frames_and_skeleton_as_source_md_says(cmu):
    for stem, frames in TAKES.items():
        take = read_bvh(cmu / f"{stem}.bvh")
        assert take.num_frames == frames and take.frame_time == pytest.approx(1 / 120, abs=1e-6)
        assert take.joint_names == CMU_JOINTS and len(take.names) == 31 + 7
        assert take.values.shape == (frames, 96)
    # femur = the LeftKnee OFFSET (2.49329, -6.85026, 0) BVH units, 411 mm at 56.444 mm a unit
    assert MM_PER_UNIT * np.hypot(2.49329, 6.85026) == pytest.approx(411.5, abs=0.1)


def test_real_takes_resampled_to_50_fps_with_17_joints(cmu):
    ds = build(cmu)
    assert ds.takes == list(TAKES) and ds.keypoint_names == KEYPOINT_NAMES
    notes = ds.notes
    assert notes["fps_out"] == 50.0 and notes["mm_per_bvh_unit"] == pytest.approx(56.444, abs=1e-3)
    for stem, frames in TAKES.items():
        info = notes["takes"][stem]
        assert info["frames_in"] == frames and info["fps_in"] == 120.0
        # every k with k/50 s within the (frames − 1)/120 s take
        assert info["frames"] == int((frames - 1) * 50 / 120) + 1
    assert [notes["takes"][s]["frames"] for s in TAKES] == [414, 520, 459]
    seqs = ds.sequences3d("train") + ds.sequences3d("test")
    assert len(seqs) == 12 and {s["keypoints3d"].shape[1:] for s in seqs} == {(17, 3)}
    assert {s["fps"] for s in seqs} == {50.0}
    json.dumps(ds.describe())  # the run record's summary is JSON-able


def test_bone_lengths_are_plausible_in_mm_and_constant(cmu):
    for s in build(cmu).sequences3d("train")[:1] + build(cmu).sequences3d("test")[:1]:
        p = s["keypoints3d"]
        for side in ("left", "right"):
            femur = _bone(p, f"{side}_hip", f"{side}_knee")
            shin = _bone(p, f"{side}_knee", f"{side}_foot")
            upper_arm = _bone(p, f"{side}_shoulder", f"{side}_elbow")
            for bone in (femur, shin):
                assert 350 < bone.mean() < 550 and bone.std() < 1.0, (side, bone.mean(), bone.std())
            assert 200 < upper_arm.mean() < 400 and upper_arm.std() < 1.0
        pelvis = _bone(p, "left_hip", "right_hip")
        assert 100 < pelvis.mean() < 300


def test_person_is_upright(cmu):
    ds = build(cmu)
    for s in ds.sequences3d("train") + ds.sequences3d("test"):
        w = _world(s)
        # world Z is up: head above thorax above hips, feet near the floor
        assert (w[:, J["head"], 2] > w[:, J["thorax"], 2]).all()
        assert (w[:, J["thorax"], 2] > w[:, J["hip"], 2]).all()
        assert np.median(w[:, J["head"], 2] - w[:, J["hip"], 2]) > 400  # (it bends, at times)
        assert abs(np.median(w[:, [J["left_foot"], J["right_foot"]], 2])) < 200


def test_left_joints_are_on_the_left(cmu):
    """The mapping and the world turn keep handedness: facing where the toes point (CMU's
    toes are not among the 17), the left hip and shoulder lie to the left (up × forward)."""
    for stem in TAKES:
        take = read_bvh(cmu / f"{stem}.bvh")
        fk = forward_kinematics(take)
        every = cams.bvh_to_world(fk, MM_PER_UNIT)
        joints = cams.bvh_to_world(map_to_h36m(take, fk), MM_PER_UNIT)
        toe = [take.index(n) for n in ("LeftToe", "RightToe")]
        ankle = [take.index(n) for n in ("LeftAnkle", "RightAnkle")]
        forward = (every[:, toe] - every[:, ankle]).sum(1)
        left = np.cross([0.0, 0.0, 1.0], forward)
        for a, b, share in (
            ("left_hip", "right_hip", 0.99),
            ("left_shoulder", "right_shoulder", 0.95),
        ):
            side = ((joints[:, J[a]] - joints[:, J[b]]) * left).sum(-1)
            assert (side > 0).mean() >= share, (stem, a, (side > 0).mean())


def test_2d_is_the_projection_of_the_camera_frame_3d(cmu):
    ds = build(cmu)
    for s in ds.sequences3d("train") + ds.sequences3d("test"):
        k = s["camera"]["intrinsics"]
        uvw = s["keypoints3d"] @ k.T
        np.testing.assert_allclose(s["keypoints2d"], uvw[..., :2] / uvw[..., 2:], atol=1e-9)
        assert (s["keypoints3d"][..., 2] > 2000).all()  # metres in front of the camera
        r = s["camera"]["R"]
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(r) == pytest.approx(1.0)
        assert s["camera"]["size"] == (1000, 1002) and k[0, 0] == 1145.0
        # the hip stays near the image centre's column band (the cameras look at the capture area)
        assert np.median(np.abs(s["keypoints2d"][:, 0, 0] - 512)) < 300
    assert ds.notes["points_outside_image"] < 0.02


def test_samples_validate_and_split_holds_the_last_take_out(cmu):
    ds = build(cmu)
    train, test = lifting3d.samples(ds, "train"), lifting3d.samples(ds, "test")
    assert [s["name"] for s in test] == [f"131_03.cam{c}" for c in range(4)]
    assert {s["name"].split(".")[0] for s in train} == {"131_01", "131_02"} and len(train) == 8
    assert {s["action"] for s in test} == {"hop"} and {s["action"] for s in train} == {"walk"}
    assert {s["subject"] for s in train + test} == {"131"}
    for s in train + test:
        lifting3d.SAMPLE.validate(s, s["name"])
        lifting3d.CAMERA.validate(s["camera"], s["name"])


def test_lifting3d_select_on_the_real_takes(cmu):
    ev = lifting3d.select(build(cmu), {"max_sequences": None, "root_joint": 0})
    assert ev.dims == {"F": 4 * 459, "K": 17}
    assert ev.info["train_sequences"] == 8 and ev.info["mean_pose_from"] == "train"
    assert ev.truth["keypoints3d"].shape == (4 * 459, 17, 3)
    np.testing.assert_allclose(ev.truth["keypoints3d"][:, 0], 0.0)
    assert set(ev.truth["actions"]) == {"hop"} and "keypoints3d" not in ev.inputs[0]


def test_conformance_check_on_the_real_takes(cmu):
    from kpbench.plugins import get_registry
    from kpbench.testing_data import check_dataset

    spec = get_registry().dataset("mocap")
    assert check_dataset(spec, cmu) == {
        "lifting3d": {"train": 8, "test": 4},
        "alignment": {"train": 4, "test": 4},  # the hop is held out: 131_02 tests alignment
    }


def test_missing_folder_is_one_line(tmp_path):
    from kpbench.plugins import get_registry
    from kpbench.testing_data import check_dataset_errors

    report = check_dataset_errors(get_registry().dataset("mocap"), tmp_path)
    assert "mocap data not found" in report["missing"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \*\.bvh file"):
        build(tmp_path / "empty")


def test_options_split_rate_cameras_and_noise(cmu):
    by_name = build(cmu, test_takes="131_02", cameras=2)
    assert [s["name"] for s in by_name.sequences3d("test")] == ["131_02.cam0", "131_02.cam1"]
    yaml_int = build(cmu, test_takes=[13101, "131_02"], cameras=1)  # --set reads 131_01 as 13101
    assert [s["name"] for s in yaml_int.sequences3d("test")] == ["131_01.cam0", "131_02.cam0"]
    assert [s["name"] for s in yaml_int.sequences3d("train")] == ["131_03.cam0"]
    native = build(cmu, fps=120, cameras=1)
    assert [len(s["keypoints3d"]) for s in native.sequences3d("train")] == [994, 1247]
    clean, noisy = build(cmu, cameras=1), build(cmu, cameras=1, noise_px=2.0)
    a, b = clean.sequences3d("test")[0], noisy.sequences3d("test")[0]
    np.testing.assert_array_equal(a["keypoints3d"], b["keypoints3d"])
    diff = b["keypoints2d"] - a["keypoints2d"]
    assert diff.std() == pytest.approx(2.0, rel=0.05) and abs(diff.mean()) < 0.1
    again = build(cmu, cameras=1, noise_px=2.0).sequences3d("test")[0]
    np.testing.assert_array_equal(again["keypoints2d"], b["keypoints2d"])
    far = build(cmu, cameras=3, camera_distance=6000.0, camera_height=2000.0)
    centre = np.array(far.notes["capture_centre_mm"])
    for pos in far.notes["camera_positions_mm"]:
        assert np.hypot(*(np.array(pos[:2]) - centre)) == pytest.approx(6000.0, abs=0.1)
        assert pos[2] == 2000.0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"test_takes": "131_09"}, r"test_takes='131_09' is not a take here; takes: 131_01"),
        ({"fps": 240}, r"fps=240 is above 131_01.bvh's 120 fps"),
        ({"fps": 0}, r"fps=0 is not valid"),
        ({"cameras": 1.5}, r"cameras=1.5 is not valid"),
        ({"noise_px": -1}, r"noise_px=-1 is not valid"),
        ({"fsp": 25}, r"unknown option\(s\) fsp"),
        ({"camera_distance": 500.0}, r"behind the camera"),
    ],
)
def test_bad_options_are_one_line_config_errors(cmu, options, message):
    with pytest.raises(ConfigError, match=message) as info:
        build(cmu, **options)
    assert "\n" not in str(info.value)


def test_malformed_take_names_file_and_line(cmu, tmp_path):
    shutil.copy(cmu / "131_01.bvh", tmp_path / "131_01.bvh")
    path = tmp_path / "131_02.bvh"
    lines = (cmu / "131_02.bvh").read_text().splitlines(keepends=True)
    lines[299] = lines[299].replace(" ", " nan? ", 1)
    path.write_text("".join(lines))
    with pytest.raises(DataError, match=r"131_02\.bvh: line 300: .*not a number") as info:
        build(tmp_path)
    assert "\n" not in str(info.value)


def test_skeleton_without_the_cmu_joints_names_them(cmu, tmp_path):
    text = (cmu / "131_01.bvh").read_text().replace("LeftKnee", "LKnee")
    (tmp_path / "renamed.bvh").write_text(text)
    with pytest.raises(DataError, match=r"renamed\.bvh: the skeleton has no CMU joint LeftKnee \("):
        build(tmp_path)
    (tmp_path / "renamed.bvh").unlink()
    (tmp_path / "tiny.bvh").write_text(ONE_JOINT)
    with pytest.raises(DataError) as info:
        build(tmp_path)
    msg = str(info.value)
    assert "\n" not in msg and "End Site of Head" in msg and "RightWrist" in msg
    assert "Hips" not in msg.split("joint ")[1]  # present joints are not listed


def test_resample_is_linear_interpolation_at_the_new_rate():
    ramp = np.arange(13, dtype=float)[:, None] * [1.0, -2.0]  # 13 frames at 120 fps = 0.1 s
    out = resample(ramp, 120.0, 50.0)
    assert len(out) == 6  # 0, 20, ..., 100 ms
    np.testing.assert_allclose(out[:, 0], np.arange(6) * 2.4)
    np.testing.assert_allclose(out[:, 1], np.arange(6) * -4.8)
    np.testing.assert_array_equal(resample(ramp, 120.0, 120.0), ramp)


def test_virtual_camera_looks_at_its_target():
    rot, t = cams.look_at([5000.0, 0.0, 1500.0], [0.0, 0.0, 1000.0])
    cam = {"R": rot, "t": t}
    k = cams.intrinsics()
    centre = cams.project(cams.to_camera(np.array([0.0, 0.0, 1000.0]), cam), k)
    np.testing.assert_allclose(centre, [512.0, 515.0], atol=1e-9)
    up = cams.project(cams.to_camera(np.array([0.0, 0.0, 1500.0]), cam), k)
    assert up[1] < centre[1] - 100 and abs(up[0] - 512.0) < 1e-6  # world up is image up
    # facing −X in a right-handed Z-up world, +Y is on the camera's right: u grows
    plus_y = cams.project(cams.to_camera(np.array([0.0, 500.0, 1000.0]), cam), k)
    assert plus_y[0] > centre[0] + 100
    np.testing.assert_allclose(
        cams.bvh_to_world(np.array([1.0, 2.0, 3.0]), 10.0), [10.0, -30.0, 20.0]
    )
