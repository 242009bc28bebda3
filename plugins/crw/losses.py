"""The contrastive random walk (Jabri, Owens & Efros, NeurIPS 2020; reference
``code/model.py``, ``CRW.forward``).

Nodes are L2-normalised patch embeddings ``(B, C, T, N)``. Between frames t and t+1 the
affinity is the cosine similarity of their nodes; the transition matrices are row softmaxes of
it over temperature τ, forward ``A_{t→t+1} = softmax(S_t / τ)`` and back
``A_{t+1→t} = softmax(S_tᵀ / τ)``. Edge dropout sets a fraction of the affinities to -1e20
before the softmax (each direction its own draw). For each horizon k = 2 .. T-1 the palindrome
walk ``A_{0→1} … A_{k-1→k} A_{k→k-1} … A_{1→0}`` should bring every node back to itself: the
loss is the cross-entropy of the walk's landing distribution against the start node,
averaged over nodes, clips and horizons (the reference starts at k = 2, not 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-20


def transitions(a: torch.Tensor, temperature: float, edge_drop: float = 0.0,
                generator: torch.Generator | None = None) -> torch.Tensor:  # fmt: skip
    """Row-stochastic ``softmax(a / τ)`` of affinities ``(..., N, M)``, with edge dropout."""
    if edge_drop > 0:
        drop = torch.rand(a.shape, generator=generator, device=a.device) < edge_drop
        a = a.masked_fill(drop, -1e20)
    return F.softmax(a / temperature, dim=-1)


def palindrome_walks(nodes: torch.Tensor, temperature: float, edge_drop: float = 0.0,
                     generator: torch.Generator | None = None) -> list[torch.Tensor]:  # fmt: skip
    """The round-trip matrices ``(B, N, N)`` for horizons k = 2 .. T-1 (T-2 of them; a clip of
    2 frames walks its one round trip, k = 1)."""
    t = nodes.shape[2]
    if t < 2:
        raise ValueError(f"a random walk needs at least 2 frames, got {t}")
    sims = torch.einsum("bctn,bctm->btnm", nodes[:, :, :-1], nodes[:, :, 1:])
    fwd = [transitions(sims[:, i], temperature, edge_drop, generator) for i in range(t - 1)]
    back = [transitions(sims[:, i].transpose(-1, -2), temperature, edge_drop, generator)
            for i in range(t - 1)]  # fmt: skip
    walks = []
    for k in range(1 if t == 2 else 2, t):
        walk = fwd[0]
        for step in fwd[1:k] + back[:k][::-1]:
            walk = walk @ step
        walks.append(walk)
    return walks


def walk_loss(nodes: torch.Tensor, temperature: float = 0.07, edge_drop: float = 0.0,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:  # fmt: skip
    """Mean cycle cross-entropy of the palindrome walks over ``nodes (B, C, T, N)``.

    Returns:
        ``(loss, {"acc": fraction of nodes whose walk's most likely landing is home})``.
    """
    walks = palindrome_walks(nodes, temperature, edge_drop, generator)
    n = nodes.shape[-1]
    home = torch.arange(n, device=nodes.device).repeat(nodes.shape[0])
    losses, hits = [], []
    for walk in walks:
        logits = torch.log(walk + EPS).flatten(0, 1)
        losses.append(F.cross_entropy(logits, home))
        hits.append((logits.argmax(-1) == home).float().mean())
    return torch.stack(losses).mean(), {"acc": float(torch.stack(hits).mean())}
