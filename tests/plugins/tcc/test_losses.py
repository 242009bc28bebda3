"""TCC's cycle-back losses: zero on a cycle-consistent pair, large on an unrelated one, the
alignment of a time-warped copy recovered, the batched form equal to a loop over pairs, and
the variance-aware regression against a hand computation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kpbench_plugins.tcc.losses import (
    LOSS_TYPES,
    alignment_loss,
    cycle_back_logits,
    regression_terms,
    similarity,
    soft_nearest_neighbours,
)


def _curve(t: torch.Tensor) -> torch.Tensor:
    """A smooth embedding of time t ∈ [0, 1] in 4-D, far from self-intersecting."""
    return torch.stack([4 * t, torch.cos(3 * t), torch.sin(3 * t), t**2], -1)


def _loss(embs, kind, temperature, smoothing=0.0):
    n, t = embs.shape[:2]
    steps = torch.arange(t).repeat(n, 1)
    return float(alignment_loss(embs, steps, torch.full((n,), t), kind, temperature,
                                label_smoothing=smoothing))  # fmt: skip


def test_similarity_is_minus_squared_distance_over_dimension_and_temperature():
    a, b = torch.tensor([[0.0, 0.0, 0.0, 0.0]]), torch.tensor([[1.0, 2.0, 0.0, 2.0], [0.0] * 4])
    np.testing.assert_allclose(similarity(a, b, 0.5), [[-9 / 4 / 0.5, 0.0]])


@pytest.mark.parametrize("kind", ["classification", "regression_mse", "regression_huber"])
def test_identical_sequences_cost_nothing_unrelated_ones_a_lot(kind):
    g = torch.Generator().manual_seed(0)
    u = torch.randn(12, 16, generator=g) * 3
    same = _loss(torch.stack([u, u]), kind, temperature=0.01)
    other = _loss(torch.stack([u, torch.randn(12, 16, generator=g)]), kind, temperature=0.01)
    assert same < 1e-4, same
    assert other > 100 * max(same, 1e-4), (same, other)


def test_variance_aware_regression_error_vanishes_on_identical_sequences():
    """(t_i − μ)²/σ² is 0 and log σ² very negative: the loss is below any unrelated pair's."""
    g = torch.Generator().manual_seed(1)
    u = torch.randn(12, 16, generator=g, dtype=torch.float64)
    logits, _ = cycle_back_logits(torch.stack([u, u]), temperature=0.1)
    times = torch.arange(12.0, dtype=torch.float64).repeat(2, 1) / 12
    err2, var, _ = regression_terms(logits, times)
    assert float(var.max()) < 1e-4 and float((err2 / var).max()) < 1e-3
    same = _loss(torch.stack([u, u]), "regression_mse_var", 0.1)
    other = torch.randn(12, 16, generator=g, dtype=torch.float64)
    other = _loss(torch.stack([u, other]), "regression_mse_var", 0.1)
    assert -0.05 < same < 0 and other > 0.5, (same, other)  # same: λ·log σ² only


def test_a_permuted_copy_is_still_cycle_consistent():
    """Cycle consistency says nothing about order: u_i → its copy → u_i for any permutation
    (why TCC needs frames sampled in time from one action, not the loss alone)."""
    g = torch.Generator().manual_seed(2)
    u = torch.randn(10, 8, generator=g) * 3
    shuffled = u[torch.randperm(10, generator=g)]
    assert _loss(torch.stack([u, shuffled]), "regression_mse", 0.01) < 1e-6


def test_soft_nearest_neighbour_and_cycle_recover_a_time_warp():
    t = torch.linspace(0, 1, 40)
    u = _curve(t)
    warp = torch.linspace(0, 1, 60) ** 2  # the same action, slow then fast
    v = _curve(warp)
    nn = soft_nearest_neighbours(u, v, temperature=1e-3)
    # the soft neighbour of u_i sits at the time of u_i on the warped copy
    want = v[(warp[None, :] - t[:, None]).abs().argmin(1)]
    assert float((nn - want).norm(dim=1).max()) < 0.1
    # cycling back through a 40-frame warped copy lands where it started (within the copy's
    # coarser sampling late in the action: one frame)
    v40 = _curve(torch.linspace(0, 1, 40) ** 2)
    logits, _ = cycle_back_logits(torch.stack([u, v40]), temperature=1e-3)
    back = logits[0].argmax(-1)
    assert int((back - torch.arange(40)).abs().max()) <= 1
    assert float((back == torch.arange(40)).float().mean()) > 0.75
    # regression: the expected time of the cycle is the start time
    _, _, mu = regression_terms(logits[:1], t[None])
    np.testing.assert_allclose(mu[0].numpy(), t.numpy(), atol=1.0 / 39)


@pytest.mark.parametrize("kind", LOSS_TYPES)
def test_all_ordered_pairs_at_once_equal_a_loop_over_pairs(kind):
    g = torch.Generator().manual_seed(3)
    embs = torch.randn(3, 7, 5, generator=g)
    steps = torch.sort(torch.randint(0, 30, (3, 7), generator=g), dim=1).values
    lengths = torch.tensor([30, 35, 40])
    batched = alignment_loss(embs, steps, lengths, kind, 0.1)
    losses = []
    for i in range(3):
        for j in range(3):
            if i != j:
                pair = embs[[i, j]]
                losses.append(alignment_loss(pair, steps[[i, j]], lengths[[i, j]], kind, 0.1))
    # each pair's loss is the mean over 2 cycles (i→j→i and j→i→j): the loop's mean is the batch's
    torch.testing.assert_close(batched, torch.stack(losses).mean(), rtol=1e-5, atol=1e-6)


def test_variance_aware_regression_by_hand():
    u = torch.tensor([[0.0], [1.0], [3.0]])
    v = torch.tensor([[0.5], [2.0]])
    tau, lam = 0.5, 1e-3
    steps, lengths = torch.tensor([[0, 2, 4], [1, 3, 4]]), torch.tensor([5, 5])
    embs = torch.stack([u, torch.cat([v, v[-1:]])])  # second: 0.5, 2, 2
    got = float(
        alignment_loss(embs, steps, lengths, "regression_mse_var", tau, variance_lambda=lam)
    )

    def cycle(a, b, t):
        alpha = np.exp(-((a - b.T) ** 2) / tau)
        alpha /= alpha.sum(1, keepdims=True)
        back = alpha @ b
        beta = np.exp(-((back - a.T) ** 2) / tau)
        beta /= beta.sum(1, keepdims=True)
        mu = beta @ t
        var = (beta * (t[None] - mu[:, None]) ** 2).sum(1)
        return (t - mu) ** 2 / var + lam * np.log(var)

    a, b = embs[0].numpy().astype(float), embs[1].numpy().astype(float)
    t = steps.numpy() / 5.0
    want = np.concatenate([cycle(a, b, t[0]), cycle(b, a, t[1])]).mean()
    assert got == pytest.approx(want, rel=1e-4)


def test_one_sequence_is_refused():
    with pytest.raises(ValueError, match="at least 2 sequences"):
        alignment_loss(torch.zeros(1, 4, 3), torch.zeros(1, 4), torch.tensor([4]))
