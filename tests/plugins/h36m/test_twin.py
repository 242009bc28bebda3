"""The h36m loader on the synthetic twin: joints, splits, samples, cameras, options."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.dataset import left_right_pairs
from kpbench.errors import ConfigError
from kpbench.tasks import lifting3d
from kpbench_plugins.h36m import cameras as cams
from kpbench_plugins.h36m.dataset import build
from kpbench_plugins.h36m.layout import KEPT32

from .conftest import TINY

NAMES = [
    "hip", "right_hip", "right_knee", "right_foot", "left_hip", "left_knee", "left_foot",
    "spine", "thorax", "neck_nose", "head", "left_shoulder", "left_elbow", "left_wrist",
    "right_shoulder", "right_elbow", "right_wrist",
]  # fmt: skip
TRAIN, TEST = {"S1", "S5", "S6", "S7", "S8"}, {"S9", "S11"}


@pytest.fixture(scope="module")
def data(twin):
    return build(twin)


def test_seventeen_joints_pelvis_first_and_bones_from_the_parents(data):
    assert data.keypoint_names == NAMES and data.keypoint_names[0] == "hip"
    assert data.tasks == ("lifting3d",)
    assert sorted(data.skeleton) == sorted([
        (0, 1), (1, 2), (2, 3), (0, 4), (4, 5), (5, 6), (0, 7), (7, 8), (8, 9), (9, 10),
        (8, 11), (11, 12), (12, 13), (8, 14), (14, 15), (15, 16),
    ])  # fmt: skip


def test_flip_pairs_are_the_reference_symmetry(data):
    pairs = data.left_right()
    assert pairs == [(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)]
    assert sorted(pairs) == sorted(left_right_pairs(data.keypoint_names))
    for left, right in pairs:
        assert NAMES[left].replace("left_", "") == NAMES[right].replace("right_", "")


def test_splits_by_subject_and_samples_match_the_lifting3d_schema(data):
    train, test = lifting3d.samples(data, "train"), lifting3d.samples(data, "test")
    assert {s["subject"] for s in train} == TRAIN and {s["subject"] for s in test} == TEST
    per_subject = TINY["actions"] * TINY["takes"] * 4
    assert len(train) == 5 * per_subject and len(test) == 2 * per_subject
    assert lifting3d.samples(data, "val") == []
    s = test[0]
    assert s["keypoints2d"].shape == (60, 17, 2) and s["keypoints3d"].shape == (60, 17, 3)
    assert s["fps"] == 50.0 and s["camera"]["size"] == (1000, 1002)
    names = {x["name"] for x in test}
    assert "S9/Walking 1.54138969" in names and "S11/SittingDown.60457274" in names
    # takes "Walking" and "Walking 1" are one action for the action-wise averages
    assert {x["action"] for x in test} == {"Walking", "SittingDown"}
    assert data.describe()["splits"] == {
        "train": {"sequences": 5 * per_subject, "frames": 5 * per_subject * 60},
        "test": {"sequences": 2 * per_subject, "frames": 2 * per_subject * 60},
    }


def test_camera_frame_3d_projects_onto_the_2d(data):
    """The loaded 3D (mm, camera frame) through the loaded camera gives the loaded 2D."""
    for s in data.sequences3d("train") + data.sequences3d("test"):
        cam = s["camera"]
        assert (s["keypoints3d"][..., 2] > 2000).all()  # in front of the camera, metres away
        err = np.abs(cams.project(s["keypoints3d"], cam) - s["keypoints2d"]).max()
        assert err < 0.01, (s["name"], err)
        # the same with the 3 × 3 intrinsics written out (no helper), distortion applied by hand
        x = s["keypoints3d"].astype(np.float64)
        u = x[..., :2] / x[..., 2:]
        k1, k2, k3, p1, p2 = cam["distortion"]
        r2 = (u**2).sum(-1, keepdims=True)
        u = u * (1 + k1 * r2 + k2 * r2**2 + k3 * r2**3 + u[..., :1] * p1 + u[..., 1:] * p2)
        u = u + np.array([p1, p2]) * r2
        uvw = np.concatenate([u, np.ones_like(u[..., :1])], -1) @ cam["intrinsics"].T
        assert np.abs(uvw[..., :2] - s["keypoints2d"]).max() < 0.01
    # without the distortion the pinhole is off by px: the camera must carry it
    pinhole = cams.project(s["keypoints3d"], cam, distort=False)
    assert np.abs(pinhole - s["keypoints2d"]).max() > 1.0


def test_four_camera_frames_agree_on_one_world(data, twin):
    """Back to the world through each camera (R^T (X - t)): the mocap joints of the 3D file."""
    world = np.load(twin / "data_3d_h36m.npz", allow_pickle=True)["positions_3d"].item()
    want = world["S9"]["Walking"][:, list(KEPT32)] * 1000.0
    seqs = [s for s in data.sequences3d("test") if s["name"].startswith("S9/Walking.")]
    assert len(seqs) == 4
    for s in seqs:
        cam = s["camera"]
        assert np.allclose(cam["R"] @ cam["R"].T, np.eye(3), atol=1e-6)
        back = (s["keypoints3d"] - cam["t"]) @ cam["R"]
        assert np.abs(back - want).max() < 0.01
        # joint 0, the root, is the mocap pelvis
        assert np.abs(back[:, 0] - world["S9"]["Walking"][:, 0] * 1000).max() < 0.01


def test_options_cameras_frames_subjects_and_detector(twin, data):
    one = build(twin, cameras=[54138969, 2], max_frames_per_sequence=25, test_subjects="S11")
    test = one.sequences3d("test")
    assert {s["name"].rsplit(".", 1)[1] for s in test} == {"54138969", "58860488"}
    assert {s["subject"] for s in test} == {"S11"} and len(test) == 2 * 2 * 2
    assert all(len(s["keypoints2d"]) == len(s["keypoints3d"]) == 25 for s in test)
    full = {s["name"]: s for s in data.sequences3d("test")}
    s = test[0]
    assert np.array_equal(s["keypoints3d"], full[s["name"]]["keypoints3d"][:25])
    notes = one.describe()
    assert notes["cameras"] == ["54138969", "58860488"] and notes["max_frames_per_sequence"] == 25
    assert notes["ignored"] == {"subjects of data_3d_h36m.npz in no split": ["S9"]}

    noisy = build(twin, detector="noisy")
    a, b = noisy.sequences3d("test")[0], data.sequences3d("test")[0]
    assert np.array_equal(a["keypoints3d"], b["keypoints3d"])
    diff = (a["keypoints2d"] - b["keypoints2d"]).ravel()
    assert abs(diff.std() - TINY["noise_px"]) < 0.2 and abs(diff.mean()) < 0.2
    assert noisy.describe()["detector"] == "noisy"

    other = build(twin, train_subjects=["S1"], test_subjects="S5,S9", color="red")
    assert {s["subject"] for s in other.sequences3d("test")} == {"S5", "S9"}
    assert other.describe()["ignored_options"] == {"color": "red"}
    with pytest.raises(ConfigError, match=r"subjects \['S9'\] are in both"):
        build(twin, train_subjects="S1,S9")
    with pytest.raises(ConfigError, match="data.cameras has 'front'"):
        build(twin, cameras="front")
    with pytest.raises(ConfigError, match="max_frames_per_sequence=0"):
        build(twin, max_frames_per_sequence=0)


def test_describe_names_files_subjects_and_actions(data, twin):
    d = data.describe()
    used = d["files"]["used"]
    assert list(used) == ["data_2d_h36m_gt.npz", "data_3d_h36m.npz"]
    assert used["data_3d_h36m.npz"]["subjects"] == ["S1", "S11", "S5", "S6", "S7", "S8", "S9"]
    assert d["files"]["ignored"] == {
        "README.txt": "not a VideoPose3D Human3.6M file",
        "data_2d_h36m_noisy.npz": "2D file of another detector (data.detector=gt)",
    }
    assert not d["files"]["skipped"]
    assert d["subjects"] == {"train": ["S1", "S5", "S6", "S7", "S8"], "test": ["S9", "S11"]}
    assert d["actions"] == ["SittingDown", "Walking"] and d["fps"] == 50.0
    assert d["flip_pairs"][0] == [4, 1] and d["truncated_2d_sequences"] == 0
    assert "ignored" not in d
