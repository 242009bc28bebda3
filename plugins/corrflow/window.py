"""Restricted attention: each target cell attends to a (2R+1)² window of a reference frame.

CorrFlow copies colour within a window of radius R = 6 cells around the same position
(the reference's spatial correlation sampler, padding discounted from the softmax); MAST
does the same around a position its coarse ROI search found. :func:`window` gathers any map
at those positions with bilinear sampling (zeros outside the frame; exact at integer
offsets), so both use one routine.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def window(x: torch.Tensor, radius: int, offsets: torch.Tensor | None = None,
           spacing: int = 1) -> torch.Tensor:  # fmt: skip
    """``x`` ``(B, C, h, w)`` sampled at every target cell's window: ``(B, C, P², h·w)``,
    ``P = 2·radius + 1``, window cells ``spacing`` cells apart (a dilated window), centred on
    the cell plus ``offsets`` ``(B, h, w, 2)`` (dx, dy) in cells (None = 0); zeros outside
    the frame. Window order: dy major, dx minor."""
    b, c, h, w = x.shape
    r = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype) * spacing
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    yy, xx = torch.meshgrid(torch.arange(h, device=x.device, dtype=x.dtype),
                            torch.arange(w, device=x.device, dtype=x.dtype), indexing="ij")  # fmt: skip
    px = xx.reshape(1, 1, -1) + dx.reshape(1, -1, 1)  # (1, P², h·w)
    py = yy.reshape(1, 1, -1) + dy.reshape(1, -1, 1)
    px, py = px.expand(b, -1, -1), py.expand(b, -1, -1)
    if offsets is not None:
        px = px + offsets[..., 0].reshape(b, 1, -1)
        py = py + offsets[..., 1].reshape(b, 1, -1)
    grid = torch.stack([2 * px / max(w - 1, 1) - 1, 2 * py / max(h - 1, 1) - 1], -1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def window_logits(target: torch.Tensor, ref: torch.Tensor, radius: int,
                  offsets: torch.Tensor | None = None, spacing: int = 1) -> torch.Tensor:  # fmt: skip
    """Affinities ``(B, P², h·w)`` of each target cell to its window of ``ref`` (dot products
    of the features); window cells wholly outside the frame get ``-inf``."""
    feats = window(ref, radius, offsets, spacing)  # (B, C, P², N)
    logits = (target.flatten(2).unsqueeze(2) * feats).sum(1)
    inside = window(torch.ones_like(ref[:, :1]), radius, offsets, spacing)[:, 0] > 0
    return logits.masked_fill(~inside, float("-inf"))


def copy_from_windows(
    logits: list[torch.Tensor], values: list[torch.Tensor], shape
) -> torch.Tensor:
    """Softmax over all windows' cells together (``logits``: each ``(B, P², N)``) and the
    weighted sum of ``values`` (each ``(B, c, P², N)``, the same windows) → ``(B, c, h, w)``."""
    weights = torch.softmax(torch.cat(logits, 1), 1).unsqueeze(1)
    out = (weights * torch.cat(values, 2)).sum(2)
    return out.reshape(out.shape[0], out.shape[1], *shape)


def copy_window(
    target: torch.Tensor, ref: torch.Tensor, colours: torch.Tensor, radius: int
) -> torch.Tensor:
    """Colours ``(B, c, h, w)`` of ``ref``'s cells copied to ``target``'s by windowed attention
    (CorrFlow's colouriser: no temperature)."""
    logits = window_logits(target, ref, radius)
    return copy_from_windows([logits], [window(colours, radius)], target.shape[-2:])
