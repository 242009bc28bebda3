"""HRNet targets, loss, decoding and flip test on hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kpbench_plugins.hrnet.heatmaps import decode, flip_back, gaussian_targets, joints_mse_loss


def test_target_is_a_cut_gaussian_at_the_rounded_centre():
    t, w = gaussian_targets(np.array([[10.4, 6.6]]), np.ones(1), (24, 16), sigma=2)
    assert t.shape == (1, 16, 24) and w.tolist() == [1.0]
    assert np.unravel_index(t[0].argmax(), t[0].shape) == (7, 10)  # (y, x): int(x + 0.5)
    assert t[0, 7, 10] == pytest.approx(1.0)
    assert t[0, 7, 11] == pytest.approx(np.exp(-1 / 8))
    assert t[0, 7, 16] == pytest.approx(np.exp(-36 / 8))  # 3σ away: still inside the window
    assert t[0, 7, 17] == 0 and t[0, 14, 10] == 0  # beyond 3σ: cut


def test_unlabelled_and_far_outside_keypoints_get_zero_weight():
    kp = np.array([[np.nan, np.nan], [5.0, 5.0], [-20.0, 3.0], [-3.0, 3.0]])
    t, w = gaussian_targets(kp, np.array([1, 0, 1, 1]), (16, 16), sigma=2)
    assert w.tolist() == [0, 0, 0, 1]  # NaN, weight 0, window wholly outside, partly inside
    assert t[:3].max() == 0 and t[3].max() > 0


def test_loss_is_half_mse_over_weighted_keypoints():
    pred = torch.zeros(1, 2, 2, 2)
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1.0
    target[0, 1] = 1.0
    full = joints_mse_loss(pred, target, torch.ones(1, 2))
    assert float(full) == pytest.approx((0.5 * 1 / 4 + 0.5 * 4 / 4) / 2)
    masked = joints_mse_loss(pred, target, torch.tensor([[1.0, 0.0]]))
    assert float(masked) == pytest.approx(0.5 * 1 / 4 / 2)


def test_decode_shifts_a_quarter_pixel_toward_the_higher_neighbour():
    hm = np.zeros((1, 3, 8, 8))
    hm[0, 0, 4, 3], hm[0, 0, 4, 4], hm[0, 0, 3, 3] = 1.0, 0.5, 0.2  # right and up are higher
    hm[0, 1, 1, 5] = 0.9  # y = 1: on the border row, no shift
    hm[0, 2] = -1.0  # no positive maximum: (0, 0), score -1
    xy, score = decode(hm)
    np.testing.assert_allclose(xy[0, 0], [3.25, 3.75])
    np.testing.assert_allclose(xy[0, 1], [5.0, 1.0])
    np.testing.assert_allclose(xy[0, 2], [0.0, 0.0])
    np.testing.assert_allclose(score[0], [1.0, 0.9, -1.0])


def test_decode_recovers_target_centres():
    rng = np.random.default_rng(0)
    kp = rng.uniform(3, 28, (5, 2))
    t, _ = gaussian_targets(kp, np.ones(5), (32, 32), sigma=2)
    xy, score = decode(t[None])
    np.testing.assert_allclose(xy[0], np.floor(kp + 0.5))  # symmetric peak: no quarter shift
    np.testing.assert_allclose(score, 1.0)


def test_flip_back_undoes_a_mirrored_input_and_swaps_pairs():
    w = 16
    kp = np.array([[3.0, 5.0], [11.0, 9.0], [7.0, 2.0]])  # 0 and 1 are a left/right pair
    mirrored = kp.copy()
    mirrored[:, 0] = w - 1 - mirrored[:, 0]
    mirrored[[0, 1]] = mirrored[[1, 0]]
    seen, _ = gaussian_targets(mirrored, np.ones(3), (w, 12), sigma=1)
    back = flip_back(torch.from_numpy(seen)[None], [(0, 1)], shift=False)
    expected, _ = gaussian_targets(kp, np.ones(3), (w, 12), sigma=1)
    np.testing.assert_allclose(back[0].numpy(), expected)
    shifted = flip_back(torch.from_numpy(seen)[None], [(0, 1)], shift=True)
    np.testing.assert_allclose(shifted[0, :, :, 1:].numpy(), expected[:, :, :-1])
