"""TCC's cycle-consistency losses, deterministic alignment over every ordered pair of a batch.

For two embedding sequences U (a frame ``u_i``) and V, the soft nearest neighbour of ``u_i``
in V is ``ṽ = Σ_j α_j v_j`` with ``α = softmax_j(sim(u_i, v_j))``; cycling back gives the
logits ``β_k = sim(ṽ, u_k)``, which should point at ``i`` again. ``sim`` is the negative squared
L2 distance divided by the embedding size D and by the temperature τ (the reference's ``l2``
similarity; ``cosine`` is the dot product, scaled the same way).

* cycle-back classification: cross-entropy of ``β`` against ``i`` (label smoothing 0.1);
* cycle-back regression on the frame times ``t`` (frame index / sequence length), with
  ``β̂ = softmax(β)``, ``μ = Σ β̂_k t_k``, ``σ² = Σ β̂_k (t_k − μ)²``:
  ``regression_mse`` (t_i − μ)², ``regression_mse_var`` (t_i − μ)² / σ² + λ·log σ² (the
  paper's default; the paper writes λ·log σ), ``regression_huber`` Huber(t_i − μ, δ).

Everything is batched: all N(N−1) ordered pairs of the N sequences at once, no Python loop.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSS_TYPES = ("classification", "regression_mse", "regression_mse_var", "regression_huber")


def similarity(a: torch.Tensor, b: torch.Tensor, temperature: float, kind: str = "l2"):
    """``(..., M, D)`` × ``(..., N, D)`` → ``(..., M, N)`` scaled similarities."""
    if kind == "l2":
        # |a|² + |b|² − 2ab, clamped at 0 (no square root: a finite gradient at distance 0)
        sq = a.square().sum(-1)[..., :, None] + b.square().sum(-1)[..., None, :]
        sim = -(sq - 2 * a @ b.transpose(-1, -2)).clamp_min(0)
    elif kind == "cosine":
        sim = a @ b.transpose(-1, -2)
    else:
        raise ValueError(f"similarity {kind!r}: expected l2 or cosine")
    return sim / a.shape[-1] / temperature


def soft_nearest_neighbours(u: torch.Tensor, v: torch.Tensor, temperature: float, kind="l2"):
    """Each row of ``u`` ``(..., M, D)`` as a softmax-weighted mix of the rows of ``v``."""
    return torch.softmax(similarity(u, v, temperature, kind), dim=-1) @ v


def ordered_pairs(n: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``(i, j)`` of the N(N−1) ordered pairs i ≠ j (i major)."""
    i, j = torch.meshgrid(torch.arange(n, device=device), torch.arange(n, device=device),
                          indexing="ij")  # fmt: skip
    keep = i != j
    return i[keep], j[keep]


def cycle_back_logits(embs: torch.Tensor, temperature: float, kind: str = "l2"):
    """``embs`` ``(N, T, D)`` → ``(logits (P, T, T), first (P,))``: for every ordered pair
    (first, second), each frame of ``first`` cycled through ``second`` and compared back."""
    first, second = ordered_pairs(embs.shape[0], embs.device)
    u, v = embs[first], embs[second]
    back = soft_nearest_neighbours(u, v, temperature, kind)
    return similarity(back, u, temperature, kind), first


def classification_loss(logits: torch.Tensor, label_smoothing: float = 0.1) -> torch.Tensor:
    """Cycle-back classification: the cycle must land on the frame it started from."""
    p, t, _ = logits.shape
    target = torch.arange(t, device=logits.device).repeat(p)
    return F.cross_entropy(logits.reshape(p * t, t), target, label_smoothing=label_smoothing)


def regression_terms(logits: torch.Tensor, times: torch.Tensor):
    """``(error², variance)`` per cycle: ``times`` ``(P, T)`` are the start sequence's frame times."""
    beta = torch.softmax(logits, dim=-1)  # (P, T, T): row i = where frame i came back to
    mu = (beta * times[:, None, :]).sum(-1)
    var = (beta * (times[:, None, :] - mu[..., None]).square()).sum(-1)
    return (times - mu).square(), var, mu


def regression_loss(
    logits, times, kind="regression_mse_var", variance_lambda=1e-3, huber_delta=0.1
):
    """Cycle-back regression of the frame time (see the module docstring)."""
    err2, var, mu = regression_terms(logits, times)
    if kind == "regression_mse":
        return err2.mean()
    if kind == "regression_mse_var":
        log_var = torch.log(var.clamp_min(1e-12))
        return (torch.exp(-log_var) * err2 + variance_lambda * log_var).mean()
    if kind == "regression_huber":
        return F.huber_loss(mu, times, delta=huber_delta)
    raise ValueError(f"loss {kind!r}: expected one of {', '.join(LOSS_TYPES)}")


def alignment_loss(
    embs: torch.Tensor,
    steps: torch.Tensor,
    lengths: torch.Tensor,
    kind: str = "regression_mse_var",
    temperature: float = 0.1,
    similarity_kind: str = "l2",
    label_smoothing: float = 0.1,
    variance_lambda: float = 1e-3,
    huber_delta: float = 0.1,
) -> torch.Tensor:
    """TCC's loss over every ordered pair of the batch.

    Args:
        embs: ``(N, T, D)`` embeddings of T sampled frames of each of N sequences.
        steps: ``(N, T)`` the sampled frames' indices in their sequences (increasing).
        lengths: ``(N,)`` the sequences' lengths (indices are divided by them).
        kind: one of :data:`LOSS_TYPES`.
    """
    if kind not in LOSS_TYPES:
        raise ValueError(f"loss {kind!r}: expected one of {', '.join(LOSS_TYPES)}")
    if embs.shape[0] < 2:
        raise ValueError("the cycle-consistency loss needs at least 2 sequences per batch")
    logits, first = cycle_back_logits(embs, temperature, similarity_kind)
    if kind == "classification":
        return classification_loss(logits, label_smoothing)
    times = steps.to(embs.dtype) / lengths.to(embs.dtype)[:, None]
    return regression_loss(logits, times[first], kind, variance_lambda, huber_delta)
