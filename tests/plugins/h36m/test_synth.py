"""The Human3.6M twin: format, bodies, motion, determinism, noise, options."""

from __future__ import annotations

import time

import numpy as np
import pytest

from kpbench.errors import ConfigError
from kpbench_plugins.h36m.dataset import build
from kpbench_plugins.h36m.layout import KEPT32, PARENTS
from kpbench_plugins.h36m.synth import synthesize

from .conftest import H36M_SYMMETRY, TINY


def load(path, key):
    with np.load(path, allow_pickle=True) as npz:
        return npz[key].item()


def test_files_are_in_the_videopose3d_format(twin):
    assert sorted(p.name for p in twin.iterdir()) == [
        "README.txt", "data_2d_h36m_gt.npz", "data_2d_h36m_noisy.npz", "data_3d_h36m.npz",
    ]  # fmt: skip
    poses3d = load(twin / "data_3d_h36m.npz", "positions_3d")
    assert list(poses3d) == ["S1", "S5", "S6", "S7", "S8", "S9", "S11"]
    assert list(poses3d["S1"]) == ["Walking", "Walking 1", "SittingDown", "SittingDown 1"]
    w = poses3d["S9"]["Walking 1"]
    assert w.shape == (60, 32, 3) and w.dtype == np.float32
    assert 0.5 < np.ptp(w[..., 2]) < 2.2  # metres: a person, feet to head
    poses2d = load(twin / "data_2d_h36m_gt.npz", "positions_2d")
    views = poses2d["S9"]["Walking 1"]
    assert isinstance(views, list) and [v.shape for v in views] == [(60, 17, 2)] * 4
    assert load(twin / "data_2d_h36m_gt.npz", "metadata") == {
        "num_joints": 17, "keypoints_symmetry": H36M_SYMMETRY,
    }  # fmt: skip
    assert load(twin / "data_2d_h36m_noisy.npz", "metadata")["layout_name"] == "h36m"
    for v, size in zip(views, [(1000, 1002), (1000, 1000), (1000, 1000), (1000, 1002)]):
        assert (v >= 0).all() and (v < size).all()  # the person stays in every frame


def test_rigid_bodies_that_differ_between_subjects(twin):
    poses3d = load(twin / "data_3d_h36m.npz", "positions_3d")
    lengths = {}
    for subject, actions in poses3d.items():
        per_action = []
        for w in actions.values():
            kp = w[:, list(KEPT32)].astype(np.float64) * 1000
            bones = np.linalg.norm(kp[:, 1:] - kp[:, [p for p in PARENTS[1:]]], axis=-1)
            assert np.ptp(bones, axis=0).max() < 0.5  # mm: the same bones in every frame
            per_action.append(bones[0])
        assert np.ptp(per_action, axis=0).max() < 0.5  # and in every action
        lengths[subject] = per_action[0]
        assert 350 < lengths[subject][1] < 550  # thigh (right hip → knee), mm
        assert 230 < lengths[subject][11] < 340  # upper arm (left shoulder → elbow)
    table = np.array(list(lengths.values()))
    assert (np.ptp(table, axis=0) > 5).all()  # every bone differs between subjects


def test_dropped_joints_sit_where_the_mocap_has_them(twin):
    w = load(twin / "data_3d_h36m.npz", "positions_3d")["S5"]["SittingDown"] * 1000
    assert np.allclose(w[:, 11], w[:, 0]) and np.allclose(w[:, 16], w[:, 13])
    assert np.allclose(w[:, 24], w[:, 13])
    for ankle, toe in ((3, 4), (8, 9)):
        assert (w[:, toe, 2] < w[:, ankle, 2] + 1).all()  # toes ahead, on the floor
    for wrist, ends in ((19, (20, 21, 22, 23)), (27, (28, 29, 30, 31))):
        assert (np.linalg.norm(w[:, list(ends)] - w[:, [wrist]], axis=-1) < 150).all()


def test_motion_is_smooth_grounded_and_travels(tmp_path):
    out = synthesize(tmp_path / "t", 3, frames=400, subjects="S7")
    poses = load(out / "data_3d_h36m.npz", "positions_3d")["S7"]
    assert list(poses) == ["Walking", "SittingDown", "Waving", "Bending", "Turning"]
    for action, w in poses.items():
        w = w.astype(np.float64) * 1000
        speed = np.linalg.norm(np.diff(w, axis=0), axis=-1).max() * 50
        assert speed < 8000, (action, speed)  # mm/s: no jumps
        lowest = w[:, [3, 8], 2].min(1)
        assert np.ptp(lowest) < 1.0 and 60 < lowest.min() < 110  # an ankle on the floor
        hips = w[:, 6, :2] - w[:, 1, :2]  # right → left hip: the heading, turned 90°
        turned = np.ptp(np.unwrap(np.arctan2(hips[:, 1], hips[:, 0])))
        travel = np.ptp(w[:, 0, :2], axis=0).max()
        assert turned > 0.3 and travel > 40, (action, turned, travel)
        if action == "Walking":
            assert turned > np.pi and travel > 1000
        if action in ("SittingDown", "Bending"):
            assert np.ptp(w[:, 0, 2]) > 250  # the pelvis goes down and up again


def test_deterministic_for_a_seed(twin, tmp_path):
    again = synthesize(tmp_path / "again", 0, **TINY)
    other = synthesize(tmp_path / "other", 1, **TINY)
    for name, key in (
        ("data_3d_h36m.npz", "positions_3d"),
        ("data_2d_h36m_noisy.npz", "positions_2d"),
    ):
        a, b, c = (load(d / name, key)["S11"]["Walking 1"] for d in (twin, again, other))
        assert np.array_equal(np.asarray(a), np.asarray(b))
        assert not np.allclose(np.asarray(a), np.asarray(c))


def test_default_size_and_loading_time(tmp_path):
    out = synthesize(tmp_path / "default", 0)
    assert not (out / "data_2d_h36m_noisy.npz").exists()
    start = time.perf_counter()
    data = build(out)
    train, test = data.sequences3d("train"), data.sequences3d("test")
    seconds = time.perf_counter() - start
    assert len(train) == 5 * 5 * 4 and len(test) == 2 * 5 * 4
    assert sum(len(s["keypoints3d"]) for s in train + test) == 84_000
    assert seconds < 30, seconds  # about 0.3 s on one core


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"subjects": "S2"}, r"subjects='S2': use some of S1, S5"),
        ({"actions": 6}, r"actions=6 must be 1-5"),
        ({"actions": ["Jumping"]}, r"names from Walking, SittingDown, Waving, Bending, Turning"),
        ({"frames": 1}, r"frames=1 must be a whole number >= 2"),
        ({"noise_px": -1}, r"noise_px=-1 must be a number >= 0"),
        ({"takes": 0}, r"takes=0"),
    ],
)
def test_bad_options(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        synthesize(tmp_path / "x", 0, **options)
