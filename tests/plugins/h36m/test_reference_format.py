"""VideoPose3D's file format on hand-made npz pairs: quaternions, 32 → 17 joints, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kpbench.errors import DataError
from kpbench_plugins.h36m import cameras as cams
from kpbench_plugins.h36m.dataset import action_group, build
from kpbench_plugins.h36m.layout import KEPT32, LEFT, PARENTS, RIGHT, reduced_parents

from .conftest import H36M_SYMMETRY, flat_views, numbered_poses, write_pair

S45 = np.sqrt(0.5)
#: Camera 0 unrotated 5 m behind the origin; 1 turned +90° about z; 2 +90° about x; 3 like 0.
TOY_CAMERAS = (
    ((1.0, 0.0, 0.0, 0.0), (0.0, 0.0, -5000.0)),
    ((S45, 0.0, 0.0, S45), (0.0, 0.0, 0.0)),
    ((S45, S45, 0.0, 0.0), (0.0, 0.0, 0.0)),
    ((1.0, 0.0, 0.0, 0.0), (100.0, 200.0, 300.0)),
)


@pytest.fixture
def toy_cameras(monkeypatch):
    monkeypatch.setitem(cams.EXTRINSICS, "S9", TOY_CAMERAS)


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message and message.startswith("h36m: ")
    return message


def qrot(q, v):
    """The reference's quaternion rotation, written out: v + 2 (w (u × v) + u × (u × v))."""
    q, v = np.asarray(q, float), np.asarray(v, float)
    u = q[1:]
    return v + 2 * (q[0] * np.cross(u, v) + np.cross(u, np.cross(u, v)))


def test_reduced_skeleton_is_the_reference_one():
    assert KEPT32 == (0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27)
    # Human36mDataset.remove_joints, then parents[11] = parents[14] = 8
    assert reduced_parents()[11] == 7 and reduced_parents()[14] == 7
    assert PARENTS == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert [list(LEFT), list(RIGHT)] == H36M_SYMMETRY  # data_utils.h36m_metadata
    assert action_group("Walking 1") == "Walking" and action_group("WalkDog") == "WalkDog"


def test_world_to_camera_and_32_to_17_on_known_values(tmp_path, toy_cameras):
    poses = numbered_poses(6)
    root = write_pair(tmp_path, {"S9": {"Walking 1": poses}}, {"S9": {"Walking 1": flat_views(6)}})
    data = build(root)
    seqs = {s["name"]: s for s in data.sequences3d("test")}
    assert list(seqs) == [f"S9/Walking 1.{c}" for c in cams.CAMERA_IDS]
    world = poses[:, list(KEPT32)].astype(np.float64) * 1000  # mm, the 17 kept joints
    # joint i is mocap joint KEPT32[i]: x = 100 · KEPT32[i] mm
    assert np.allclose(world[0, :, 0], 100.0 * np.array(KEPT32))
    got = [seqs[f"S9/Walking 1.{c}"]["keypoints3d"] for c in cams.CAMERA_IDS]
    assert np.allclose(got[0], world + [0, 0, 5000], atol=1e-3)  # identity: X - centre
    x, y, z = world[..., 0], world[..., 1], world[..., 2]
    # orientation rotates camera → world; world → camera undoes it: +90° about z → x ↦ -y
    assert np.allclose(got[1], np.stack([y, -x, z], -1), atol=1e-3)
    assert np.allclose(got[2], np.stack([x, z, -y], -1), atol=1e-3)
    assert np.allclose(got[3], world - [100, 200, 300], atol=1e-3)
    for (q, centre), kp in zip(TOY_CAMERAS, got):
        back = qrot(q, kp) + centre  # the reference's camera_to_world
        assert np.allclose(back, world, atol=1e-3)
    s = seqs["S9/Walking 1.58860488"]
    assert s["action"] == "Walking" and s["subject"] == "S9"
    assert np.array_equal(s["keypoints2d"], np.full((6, 17, 2), 2.0, np.float32))


def test_published_calibration_against_scipy_and_the_reference_formula():
    point = np.array([[350.0, -120.0, 900.0]])  # mm, world
    for subject in ("S1", "S11"):
        for c in range(4):
            q, centre = cams.EXTRINSICS[subject][c]
            cam = cams.camera(subject, c)
            got = cams.world_to_camera(point, cam)[0]
            w, x, y, z = q
            by_scipy = Rotation.from_quat([x, y, z, w]).inv().apply(point[0] - centre)
            by_reference = qrot([w, -x, -y, -z], point[0] - np.array(centre))
            assert np.allclose(got, by_scipy, atol=0.01) and np.allclose(got, by_reference)
            assert 4000 < got[2] < 7000  # the origin is 4-7 m in front of every camera
    cam = cams.camera("S9", 0)
    assert cam["id"] == "54138969" and cam["size"] == (1000, 1002)
    assert cam["intrinsics"][0, 0] == pytest.approx(1145.0494384765625)
    assert cam["intrinsics"][1, 2] == pytest.approx(515.4514770507812)


def test_projection_with_distortion_on_hand_computed_values():
    cam = {
        "intrinsics": np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]]),
        "distortion": np.array([0.1, 0.0, 0.0, 0.01, 0.02]),
    }
    # u = (0.1, 0.2): r2 = 0.05, radial 1.005, tangential 0.001 + 0.004 = 0.005
    # u' = u · 1.01 + p · r2 = (0.1015, 0.203)
    assert np.allclose(cams.project(np.array([0.2, 0.4, 2.0]), cam), [601.5, 703.0])
    assert np.allclose(cams.project(np.array([0.2, 0.4, 2.0]), cam, distort=False), [600, 700])
    assert np.allclose(cams.project(np.array([0.0, 0.0, 3.0]), cam), [500, 500])


def test_longer_2d_is_cut_and_shorter_2d_is_an_error(tmp_path, toy_cameras):
    root = write_pair(tmp_path / "a", {"S9": {"Sitting": numbered_poses(8)}},
                      {"S9": {"Sitting": flat_views(11)}})  # fmt: skip
    data = build(root)
    assert all(len(s["keypoints2d"]) == 8 for s in data.sequences3d("test"))
    assert data.describe()["truncated_2d_sequences"] == 4
    assert data.describe()["ignored"] == {
        "train subjects not in data_3d_h36m.npz": ["S1", "S5", "S6", "S7", "S8"],
        "test subjects not in data_3d_h36m.npz": ["S11"],
    }
    views = flat_views(8)
    views[2] = views[2][:5]
    root = write_pair(
        tmp_path / "b", {"S9": {"Sitting": numbered_poses(8)}}, {"S9": {"Sitting": views}}
    )
    with pytest.raises(DataError) as exc:
        build(root)
    assert "Sitting camera 2 has 5 frames but the 3D poses have 8" in one_line(exc)


def test_missing_2d_file_says_which_file_and_how_to_make_it(tmp_path):
    root = write_pair(tmp_path, {"S9": {"A": numbered_poses(3)}}, {"S9": {"A": flat_views(3)}})
    with pytest.raises(DataError) as exc:
        build(root, detector="cpn_ft_h36m_dbb")
    message = one_line(exc)
    assert "no 2D file data_2d_h36m_cpn_ft_h36m_dbb.npz" in message
    assert "2D files there: data_2d_h36m_gt.npz" in message and "prepare_data_h36m.py" in message
    (root / "data_3d_h36m.npz").unlink()
    with pytest.raises(DataError, match="no data_3d_h36m.npz in"):
        build(root)
    with pytest.raises(DataError, match="h36m data not found"):
        build(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("poses2d", "message"),
    [
        ({"S1": {"A": flat_views(3)}}, r"has no subject S9, which data_3d_h36m.npz has \(2D subjects: S1\)"),
        ({"S9": {"B": flat_views(3)}}, r"has no action 'A' of subject S9"),
        ({"S9": {"A": flat_views(3, cameras=3)}}, r"S9/A holds 3 camera arrays, expected a list of 4"),
        ({"S9": {"A": flat_views(3, joints=16)}}, r"S9/A camera 0 has shape \(3, 16, 2\), expected \(frames, 17, 2\)"),
    ],
)  # fmt: skip
def test_2d_that_does_not_fit_the_3d_is_one_line(tmp_path, toy_cameras, poses2d, message):
    root = write_pair(tmp_path, {"S9": {"A": numbered_poses(3)}}, poses2d)
    with pytest.raises(DataError, match=message) as exc:
        build(root)
    one_line(exc)


def test_layouts_joint_counts_subjects_and_corrupt_files(tmp_path, toy_cameras):
    poses, views = {"S9": {"A": numbered_poses(3)}}, {"S9": {"A": flat_views(3)}}
    coco = {"layout_name": "coco", "num_joints": 17,
            "keypoints_symmetry": [[1, 3, 5, 7, 9, 11, 13, 15], [2, 4, 6, 8, 10, 12, 14, 16]]}  # fmt: skip
    with pytest.raises(DataError, match=r"layout 'coco' \(17 joints.*pick an h36m-layout") as exc:
        build(write_pair(tmp_path / "coco", poses, views, coco))
    one_line(exc)
    short = {"S9": {"A": numbered_poses(3)[:, :17]}}
    with pytest.raises(DataError, match=r"S9/A has shape \(3, 17, 3\), expected \(frames, 32, 3\)"):
        build(write_pair(tmp_path / "j17", short, views))
    root = write_pair(tmp_path / "ok", poses, views)
    with pytest.raises(DataError, match=r"train_subjects names \['S7'\], not in"):
        build(root, train_subjects="S7")
    with pytest.raises(DataError, match="S2 .* has no published camera extrinsics"):
        build(
            write_pair(tmp_path / "s2", {"S2": poses["S9"]}, {"S2": views["S9"]}),
            test_subjects="S2",
        )
    unlabelled = build(write_pair(tmp_path / "s3", poses, {**views, "S3": views["S9"]}))
    assert unlabelled.describe()["ignored"][
        "subjects with 2D but no 3D (unlabelled) in data_2d_h36m_gt.npz"
    ] == ["S3"]
    (root / "data_2d_h36m_gt.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(DataError, match="data_2d_h36m_gt.npz is not an npz") as exc:
        build(root)
    one_line(exc)
    (root / "data_2d_h36m_gt.npz").write_bytes(b"PK\x03\x04" + b"cut short" * 10)
    with pytest.raises(DataError, match="cannot read .*data_2d_h36m_gt.npz.*damaged") as exc:
        build(root)
    one_line(exc)
    np.savez_compressed(root / "data_2d_h36m_gt.npz", keypoints=np.zeros(3))
    with pytest.raises(DataError, match=r"has no 'positions_2d' array \(it has keypoints\)"):
        build(root)
