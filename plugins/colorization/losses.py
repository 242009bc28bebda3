"""The colorization objective: point from each target cell to reference cells, copy their
colour labels, and score the copy against the target's own colour label.

``A[j, i] = softmax_i(f_j · f_i / T)`` over the cells ``i`` of every reference frame; the
prediction for target cell ``j`` is ``Σ_i A[j, i] · onehot(c_i)``, a distribution over the
k colour clusters, and the loss is its cross-entropy with the target's cluster ``c_j``
(Vondrick et al., eq. 1–3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pointer(target: torch.Tensor, refs: torch.Tensor, temperature: float) -> torch.Tensor:
    """Attention ``(B, N, R·N)`` of each target cell over all reference cells.

    Args:
        target: ``(B, D, h, w)`` target-frame embeddings.
        refs: ``(B, R, D, h, w)`` reference-frame embeddings.
        temperature: T of the softmax.
    """
    q = target.flatten(2)  # (B, D, N)
    r = refs.transpose(1, 2).flatten(2)  # (B, D, R·N)
    return torch.softmax(torch.einsum("bdn,bdm->bnm", q, r) / temperature, dim=-1)


def copied_colours(attention: torch.Tensor, ref_labels: torch.Tensor, k: int) -> torch.Tensor:
    """``(B, N, k)`` colour distribution per target cell from ``(B, R, h, w)`` reference labels."""
    onehot = F.one_hot(ref_labels.flatten(1), k).to(attention.dtype)  # (B, R·N, k)
    return attention @ onehot


def colorization_loss(target: torch.Tensor, refs: torch.Tensor, ref_labels: torch.Tensor,
                      target_labels: torch.Tensor, k: int, temperature: float) -> torch.Tensor:  # fmt: skip
    """Mean cross-entropy of the copied colours against ``target_labels`` ``(B, h, w)``."""
    pred = copied_colours(pointer(target, refs, temperature), ref_labels, k)
    return F.nll_loss(torch.log(pred.clamp_min(1e-8)).transpose(1, 2), target_labels.flatten(1))
