"""Lifting and behaviour pieces: screen normalisation, flip augmentation, missing keypoints,
and a lifting model that learns a known camera on synthetic sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench_plugins.videopose3d.behavior import fill_missing
from kpbench_plugins.videopose3d.lifting import LiftingMethod, normalize_screen


def config(**over):
    return resolve(get_registry().method("videopose3d"), "smoke", None, over)[0]


def test_screen_normalisation_keeps_the_aspect_ratio():
    xy = np.array([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]])
    got = normalize_screen(xy, (1000, 1002))
    np.testing.assert_allclose(got, [[-1, -1.002], [1, 1.002], [0, 0]])


def test_flip_mirrors_x_and_swaps_left_right_in_input_and_target():
    m = LiftingMethod(config(filter_widths=[3]), joints=3)
    m.flip_pairs = [(1, 2)]
    x = np.arange(2 * 3 * 6, dtype=np.float32).reshape(2, 3, 6)  # 2 windows, RF 3, 3 joints × 2
    y = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    fx, fy = m.flip_batch(x, y, np.array([False, True]))
    np.testing.assert_array_equal(fx[0], x[0])
    np.testing.assert_array_equal(fy[0], y[0])
    want = x[1].reshape(3, 3, 2)[:, [0, 2, 1]].copy()
    want[..., 0] *= -1
    np.testing.assert_array_equal(fx[1].reshape(3, 3, 2), want)
    np.testing.assert_array_equal(fy[1], [[-9, 10, 11], [-15, 16, 17], [-12, 13, 14]])


def test_missing_keypoints_take_their_last_seen_value():
    kp = np.array([[np.nan, 1.0], [2.0, np.nan], [np.nan, np.nan], [5.0, 6.0]])
    np.testing.assert_array_equal(fill_missing(kp), [[0, 1], [2, 1], [2, 1], [5, 6]])


class _Ctx:
    seed, is_main = 0, True

    def __init__(self):
        self.notes, self.history = {}, []

    def note(self, k, v):
        self.notes[k] = v

    def log_epoch(self, epoch, losses):
        self.history.append(losses)

    def save_checkpoint(self, state):
        pass

    def load_checkpoint(self):
        return None

    def wrap_model(self, m):
        return m

    def progress(self, it, total=None, desc=""):
        return it


def _sequences(rng, n, frames=60):
    """A 3-joint figure swinging in front of a camera: 2D by projection, 3D in mm."""
    cam = {"intrinsics": np.array([[1000.0, 0, 500], [0, 1000.0, 500], [0, 0, 1]]),
           "R": np.eye(3), "t": np.zeros(3), "size": (1000, 1000)}  # fmt: skip
    out = []
    for i in range(n):
        t = np.arange(frames) / 25 + rng.uniform(0, 6)
        root = np.stack([200 * np.sin(t), 100 * np.cos(t), 4000 + 300 * np.sin(0.5 * t)], -1)
        arm = np.stack([400 * np.cos(2 * t), 400 * np.sin(2 * t), 100 * np.cos(t)], -1)
        kp3 = np.stack([root, root + arm, root - arm], 1)
        uvw = kp3 @ cam["intrinsics"].T
        out.append({"name": f"s{i}", "subject": "S", "action": "swing",
                    "keypoints2d": uvw[..., :2] / uvw[..., 2:], "keypoints3d": kp3,
                    "camera": cam, "fps": 50.0})  # fmt: skip
    return out


def test_lifting_learns_depth_relations_a_mean_pose_cannot():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    train, test = _sequences(rng, 6), _sequences(rng, 2)

    class Data:
        name = "swing"

        def sequences3d(self, split):
            return train if split == "train" else test

        def left_right(self):
            return [(1, 2)]

    m = LiftingMethod(
        config(filter_widths=[3, 3], channels=64, epochs=8, steps_per_epoch=20, batch_size=64,
               lr=3e-3, flip_augment=False, test_flip=False),
        joints=3,
    )  # fmt: skip
    ctx = _Ctx()
    m.fit(Data(), ctx)
    pred = m.predict(test, ctx)["keypoints3d"]
    truth = np.concatenate([s["keypoints3d"] - s["keypoints3d"][:, :1] for s in test])
    err = np.linalg.norm(pred - truth, axis=-1).mean()
    mean_pose = np.concatenate([s["keypoints3d"] - s["keypoints3d"][:, :1] for s in train]).mean(0)
    base = np.linalg.norm(mean_pose - truth, axis=-1).mean()
    assert ctx.history[-1]["loss"] < ctx.history[0]["loss"]
    assert err < 0.5 * base, (err, base)
    assert ctx.notes["receptive_field"] == 9


@pytest.mark.parametrize("task", ["lifting3d", "behavior"])
def test_build_sizes_the_network_from_the_task(task):
    spec = get_registry().method("videopose3d")
    m = spec.build(config(), 5, task=task, dims={"K": 5, "A": 2, "C": 3})
    if task == "lifting3d":
        assert m.model.expand_conv.in_channels == 10 and m.model.shrink.out_channels == 15
    else:
        assert m.model.expand_conv.in_channels == 20 and m.model.shrink.out_channels == 3
