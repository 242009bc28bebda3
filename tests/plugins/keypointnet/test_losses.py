"""KeypointNet's loss terms on built cases: each is 0 where its constraint holds and grows where
it does not; the weighted total on pairs consistent with the true pose."""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from kpbench_plugins.keypointnet import losses
from kpbench_plugins.keypointnet.geometry import camera_ndc, project, transform, unproject
from kpbench_plugins.keypointnet.plugin import DEFAULTS


def _one_hot(b, k, size, cells):
    """(B, K, S, S) probability maps, keypoint k all on pixel ``cells[k] = (row, col)``."""
    prob = torch.zeros(b, k, size, size)
    for j, (r, c) in enumerate(cells):
        prob[:, j, r, c] = 1.0
    return prob


def test_separation_is_large_for_clustered_keypoints_and_zero_when_spread_beyond_delta():
    clustered = torch.zeros(2, 10, 3) + torch.randn(2, 10, 3) * 1e-3
    # 10 keypoints, B = 2: every one of the 90 ordered pairs costs ≈ δ; / (2·K·B) = 40
    np.testing.assert_allclose(
        float(losses.separation(clustered, 0.05)), 90 * 2 * 0.05 / 40, rtol=1e-3
    )
    spread = torch.arange(10.0)[None, :, None] * torch.tensor([0.3, 0.0, 0.0])  # ‖Δ‖² ≥ 0.09 > δ
    assert float(losses.separation(spread.repeat(2, 1, 1), 0.05)) == 0.0
    # by hand: two points 0.1 apart: δ − 0.01 = 0.04 on both ordered pairs, / (2·2·1)
    two = torch.tensor([[[0.0, 0, 0], [0.1, 0, 0]]])
    np.testing.assert_allclose(float(losses.separation(two, 0.05)), 0.08 / 4, rtol=1e-5)


def test_silhouette_is_zero_inside_the_mask_and_large_outside():
    mask = torch.zeros(1, 8, 8)
    mask[:, 2:6, 2:6] = 1.0
    inside = _one_hot(1, 2, 8, [(3, 3), (5, 2)])
    assert abs(float(losses.silhouette(inside, mask))) < 1e-9
    outside = _one_hot(1, 2, 8, [(3, 3), (0, 0)])  # one of two outside: −log(1e−12) / 2
    np.testing.assert_allclose(
        float(losses.silhouette(outside, mask)), -np.log(1e-12) / 2, rtol=1e-4
    )


def test_variance_is_zero_for_a_peaked_map_and_the_spread_for_a_split_one():
    prob = _one_hot(1, 1, 4, [(1, 2)])
    uv = torch.tensor([[[2.5 / 2 - 1, 1.5 / 2 - 1]]])
    assert abs(float(losses.variance(prob, uv))) < 1e-12
    half = (_one_hot(1, 1, 4, [(0, 0)]) + _one_hot(1, 1, 4, [(0, 2)])) / 2  # NDC x −0.75, 0.25
    uv = torch.tensor([[[-0.25, -0.75]]])
    np.testing.assert_allclose(float(losses.variance(half, uv)), 0.25, rtol=1e-6)  # 0.5² each


def _consistent_views(b=3, k=10, seed=0):
    """Keypoints of one object seen from two cameras, the NDC views and the true pose."""
    rng = np.random.default_rng(seed)
    intr = np.array([[1466.0, 0, 63.5], [0, 1466.0, 63.5], [0, 0, 1]])
    cam = torch.tensor(camera_ndc(intr, (128, 128)), dtype=torch.float64).repeat(b, 1)
    rel = np.tile(np.eye(4), (b, 1, 1))
    rel[:, :3, :3] = Rotation.random(b, random_state=seed).as_matrix()
    obj = rng.normal(0, 0.5, (b, k, 3))
    pose_a = np.tile(np.eye(4), (b, 1, 1))
    pose_a[:, 2, 3] = 30.0
    pose_b = pose_a.copy()
    pose_b[:, :3, :3] = rel[:, :3, :3]
    rel = pose_b @ np.linalg.inv(pose_a)
    rel_t = torch.tensor(rel)
    xa = torch.tensor(obj + [0, 0, 30.0])
    xb = transform(rel_t, xa)
    views = [{"uv": project(x, cam, eps=0.0), "z": x[..., 2]} for x in (xa, xb)]
    return views, cam, rel_t, (xa, xb)


def test_consistency_and_pose_are_zero_for_keypoints_consistent_under_the_true_pose():
    views, cam, rel, (xa, xb) = _consistent_views()
    xyz_a = unproject(views[0]["uv"], views[0]["z"], cam)
    carried = project(transform(rel, xyz_a), cam, eps=0.0)
    assert float(losses.consistency(carried, views[1]["uv"])) < 1e-18
    assert float(losses.pose(xa, xb, rel[:, :3, :3], noise=0.0)) < 1e-5
    moved = views[1]["uv"] + 0.1  # every keypoint 0.1 off in x and y: Σ_k (1/K)·0.02
    np.testing.assert_allclose(float(losses.consistency(carried, moved)), 0.02, rtol=1e-9)
    wrong = torch.tensor(Rotation.from_euler("z", 90, degrees=True).as_matrix()) @ rel[:, :3, :3]
    np.testing.assert_allclose(float(losses.pose(xa, xb, wrong, noise=0.0)), np.pi / 2, rtol=1e-4)


def test_orientation_is_the_mean_squared_error():
    target = torch.zeros(2, 2, 2)
    assert float(losses.orientation(target, target)) == 0.0
    assert np.isclose(float(losses.orientation(target + 0.5, target)), 0.25)


def test_total_weights_the_terms_as_the_reference():
    views, cam, rel, _ = _consistent_views(b=2, k=3)
    size = 8
    cells = [(3, 3), (4, 4), (3, 4)]
    for v in views:
        v["prob"] = _one_hot(2, 3, size, cells).double()
        v["orient"] = torch.zeros(2, 2, 2, dtype=torch.float64)
    batch = {"cams": torch.stack([cam, cam], 1), "relative": rel,
             "masks": torch.ones(2, 2, size, size, dtype=torch.float64),
             "orient_target": torch.full((2, 2, 2, 2), 0.5, dtype=torch.float64)}  # fmt: skip
    config = {**DEFAULTS, "noise": 0.0}
    loss, terms = losses.total(views, batch, config)
    assert terms["consistency"] < 1e-12 and terms["pose"] < 1e-4 and terms["silhouette"] < 1e-9
    assert np.isclose(terms["orientation"], 2 * 0.25)
    want = sum(config[f"loss_{n}"] * v for n, v in terms.items())
    assert np.isclose(float(loss), want) and set(terms) == set(losses.WEIGHTS)
    assert losses.WEIGHTS == {n: DEFAULTS[f"loss_{n}"] for n in losses.WEIGHTS}
