"""MAST's memory read-out: a target frame's colours from several reference frames at once.

Each target cell attends to a (2R+1)² window in every memory frame; one softmax runs over
all windows of all frames together, and the target's colour is the weighted sum of the
windows' colours (the reference ``Colorizer.forward``).

A memory frame more than ``roi_after`` frames before the target (a long-term memory) is
read in **two steps** (the paper's ROI localisation): a coarse match over a
(2·coarse_radius + 1)² window *dilated* by ``d = min(max_dilation, gap // roi_after + 1)``
cells, whose softmax-weighted mean offset (× d) is where the target cell's region of
interest lies in that frame; then the (2R+1)² window is read around that ROI centre by
bilinear sampling (the reference's ``deform_im2col``). The offset is differentiable, so the
coarse step trains too. Nearer frames use the window at the same position.
"""

from __future__ import annotations

import torch

from kpbench_plugins.corrflow.window import copy_from_windows, window, window_logits


def dilation(gap: int, roi_after: int, max_dilation: int = 4) -> int:
    """Coarse-search dilation for a memory frame ``gap`` frames before the target (0: none,
    the frame is near enough for the plain window)."""
    return 0 if gap <= roi_after else min(int(max_dilation), gap // roi_after + 1)


def roi_offsets(target: torch.Tensor, ref: torch.Tensor, radius: int, dil: int) -> torch.Tensor:
    """Expected offset ``(B, h, w, 2)`` (dx, dy) in cells of each target cell's match in
    ``ref``, from a softmax over a (2·radius+1)² window of ``ref`` cells ``dil`` apart."""
    b, _, h, w = target.shape
    prob = torch.softmax(window_logits(target, ref, radius, None, dil), 1)  # (B, P², N)
    r = torch.arange(-radius, radius + 1, device=target.device, dtype=target.dtype) * dil
    dy, dx = torch.meshgrid(r, r, indexing="ij")
    offset = torch.stack([(prob * dx.reshape(1, -1, 1)).sum(1),
                          (prob * dy.reshape(1, -1, 1)).sum(1)], -1)  # fmt: skip
    return offset.reshape(b, h, w, 2)


def read_memory(target: torch.Tensor, memory: list[torch.Tensor], colours: list[torch.Tensor],
                gaps: list[int], radius: int, coarse_radius: int, roi_after: int,
                max_dilation: int = 4) -> tuple[torch.Tensor, list[torch.Tensor | None]]:  # fmt: skip
    """The target's colours ``(B, c, h, w)`` from the memory frames.

    Args:
        target: ``(B, C, h, w)`` target features.
        memory: per memory frame ``(B, C, h, w)`` features.
        colours: per memory frame ``(B, c, h, w)`` colours on the feature grid.
        gaps: per memory frame, frames between it and the target.
        radius: R of the read-out window.
        coarse_radius: radius of the coarse (dilated) ROI search.
        roi_after: memory frames farther than this are read through their ROI.
        max_dilation: the largest coarse dilation.

    Returns:
        the colours, and per memory frame its ROI offsets ``(B, h, w, 2)`` (None: no ROI).
    """
    logits, values, rois = [], [], []
    for feats, col, gap in zip(memory, colours, gaps):
        d = dilation(gap, roi_after, max_dilation)
        off = roi_offsets(target, feats, coarse_radius, d) if d else None
        logits.append(window_logits(target, feats, radius, off))
        values.append(window(col, radius, off))
        rois.append(off)
    return copy_from_windows(logits, values, target.shape[-2:]), rois
