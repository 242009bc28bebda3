"""UVC's objective (Li et al., NeurIPS 2019; reference ``model.py`` ``track_match_comb``,
``libs/concentration_loss.py``, ``libs/loss.py``, ``track_match_v1.py``).

Features are ``(B, C, h, w)`` maps; affinities are raw dot products times ``temp`` (the
reference's ``NLM_woSoft``, temperature 1).

* **Region-level localisation** (:func:`localise`): every cell of the reference patch is sent
  into the target frame as the affinity-weighted mean of the target's cell coordinates
  (softmax over the target's cells); the box is centred on the mean of those positions, the
  patch's size, kept inside the frame, and the target's features and colours are cropped to it
  differentiably (bilinear sampling).
* **Fine-grained matching** (:func:`colour_losses`): ``A = softmax over the reference cells``
  of the patch-to-crop affinity copies the reference colours into the crop,
  ``ĉ₂ = c₁ A``; the L1 error weighs a and b ×10 (``weight_L1``). The colour "switch" copies
  back with ``Aᵀ``, ``ĉ₁ = c₂ Aᵀ``, weighted 0.1.
* **Concentration** (:func:`concentration`): the positions each cell is sent to, from either
  side, should stay together within every ``win × win`` window: their mean squared distance to
  the window's mean (grid coordinates in [-1, 1]; ``ConcentrationSwitchLoss``).
* **Coordinate switch / orthogonality** (:func:`coordinate_cycle`): the grid sent forward
  with ``A`` and back with the transposed affinity's softmax returns to itself (L1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def grid(h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """Cell-centre coordinates ``(h·w, 2)`` as ``(x, y)`` in [-1, 1] (``align_corners=False``)."""
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / w * 2 - 1
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([x.flatten(), y.flatten()], -1)


def affinity(f1: torch.Tensor, f2: torch.Tensor, temp: float = 1.0) -> torch.Tensor:
    """``(B, N1, N2)`` dot products of every cell of ``f1`` with every cell of ``f2``, × temp."""
    return torch.einsum("bcn,bcm->bnm", f1.flatten(2), f2.flatten(2)) * temp


def crop(x: torch.Tensor, centre: torch.Tensor, size: tuple[int, int], out: tuple[int, int]):
    """Bilinear crop of ``x (B, C, H, W)``: boxes of ``size = (h, w)`` cells of ``x``'s grid
    centred at ``centre (B, 2)`` (x, y in [-1, 1]), resampled to ``out = (h', w')``."""
    b, _, hh, ww = x.shape
    theta = torch.zeros(b, 2, 3, dtype=x.dtype, device=x.device)
    theta[:, 0, 0], theta[:, 1, 1] = size[1] / ww, size[0] / hh
    theta[:, :, 2] = centre
    g = F.affine_grid(theta, (b, x.shape[1], *out), align_corners=False)
    return F.grid_sample(x, g, mode="bilinear", padding_mode="border", align_corners=False)


def localise(f1: torch.Tensor, f2: torch.Tensor, temp: float = 1.0):
    """Where the patch ``f1 (B, C, h, w)`` lies in the frame ``f2 (B, C, H, W)``.

    Returns:
        ``(centre (B, 2), coords (B, h·w, 2))``: the box centre, kept so the patch-sized box
        stays inside the frame, and each patch cell's position in the frame (all in [-1, 1]).
    """
    (h, w), (hh, ww) = f1.shape[-2:], f2.shape[-2:]
    a = F.softmax(affinity(f1, f2, temp), dim=2)
    coords = a @ grid(hh, ww, f2.device, f2.dtype)
    half = torch.tensor([1 - w / ww, 1 - h / hh], device=f2.device, dtype=f2.dtype)
    centre = torch.maximum(torch.minimum(coords.mean(1), half), -half)
    return centre, coords


def weighted_l1(pred: torch.Tensor, target: torch.Tensor, w_ab: float = 10.0) -> torch.Tensor:
    """Per-sample L1 over Lab with a and b weighted ``w_ab`` (the reference's ``weight_L1``)."""
    err = (pred - target).abs().flatten(2).mean(2)  # (B, 3)
    return err[:, 0] + w_ab * (err[:, 1] + err[:, 2])


def colour_losses(aff: torch.Tensor, lab1: torch.Tensor, lab2: torch.Tensor, stride: int,
                  switch: float = 0.1) -> torch.Tensor:  # fmt: skip
    """Copy ``lab1``'s pixels into ``lab2``'s frame by ``softmax(aff, dim=1)`` and back by its
    transpose; ``lab*`` are ``(B, 3, h·s, w·s)``, aff ``(B, h·w, h·w)``. Mean over samples of
    ``L1(ĉ₂, c₂) + switch · L1(ĉ₁, c₁)``."""
    a = F.softmax(aff, dim=1)
    c1, c2 = F.pixel_unshuffle(lab1, stride), F.pixel_unshuffle(lab2, stride)
    shape = c2.shape
    est2 = F.pixel_shuffle((c1.flatten(2) @ a).view(shape), stride)
    loss = weighted_l1(est2, lab2)
    if switch:
        est1 = F.pixel_shuffle((c2.flatten(2) @ a.transpose(1, 2)).view(c1.shape), stride)
        loss = loss + switch * weighted_l1(est1, lab1)
    return loss.mean()


def concentration(aff: torch.Tensor, h: int, w: int, win: int) -> torch.Tensor:
    """Mean squared spread, within each ``win × win`` window of cells, of where the cells are
    sent by ``softmax(aff)`` taken from either side (``aff (B, h·w, h·w)``, both maps h × w)."""
    g = grid(h, w, aff.device, aff.dtype)
    total = aff.new_zeros(())
    for a in (aff, aff.transpose(1, 2)):
        coords = F.softmax(a, dim=1).transpose(1, 2) @ g  # (B, h·w, 2): each target cell's source
        maps = coords.transpose(1, 2).reshape(-1, 2, h, w)
        cols = F.unfold(maps, win, stride=win).view(len(maps), 2, win * win, -1)
        total = total + ((cols - cols.mean(2, keepdim=True)) ** 2).mean()
    return total


def coordinate_cycle(aff: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """L1 between the grid and the grid sent forward by ``softmax(aff, dim=1)`` and back by
    ``softmax(affᵀ, dim=1)`` (the reference's coordinate switch)."""
    g = grid(h, w, aff.device, aff.dtype).T.expand(len(aff), -1, -1)  # (B, 2, N)
    there = g @ F.softmax(aff, dim=1)
    back = there @ F.softmax(aff.transpose(1, 2), dim=1)
    return (back - g).abs().mean()
