"""The propagation protocol: carry first-frame keypoints through a video by feature affinity.

One propagator for every method (as CRW's ``test.py`` evaluates every encoder), so that
methods differ only in their :class:`~kpbench.propagation.encoders.Encoder`. For a segment of
``T`` frames:

1. Each frame is resized so its short side is ``size`` px (aspect kept; ``None`` = as is),
   encoded, and each feature cell is L2-normalised over channels.
2. Frame 0's labels are one Gaussian heatmap per keypoint on the feature grid,
   ``exp(−d² / 2σ²)`` with ``d`` the distance in cells from the keypoint to the cell centre
   (keypoints outside the image are clipped to its border first; an unlabelled keypoint
   has an all-zero heatmap).
3. For frame ``t ≥ 1`` the context is frame 0 (all its cells) plus the ``context`` previous
   frames ``max(1, t − context) .. t − 1``, whose cells count only within ``radius`` cells
   (Euclidean distance between cell indices strictly below ``radius``, CRW's
   ``MaskedAttention``). Each target cell's affinity to a context cell is the dot product
   of their features divided by ``temperature``; the ``topk`` largest over all context cells
   are softmaxed, and the target's label is the weighted sum of those cells' labels. The
   prediction becomes frame ``t``'s label for later frames (soft labels, no re-normalising).
4. Each keypoint is read out per frame as the mean of the centres of its heatmap's
   ``readout_topk`` largest cells, weighted by their values, mapped back to the original
   frame's pixels. Frame 0's output is the given keypoints.

Rules that keep the output free of NaN: a keypoint unlabelled in frame 0 is placed, in every
frame, at the mean of the labelled keypoints' predictions of that frame; a heatmap that has
become all zero keeps the keypoint where it was in the previous frame.

Affinities are computed for ``chunk`` target cells at a time and one context frame at a
time (top-k per context frame, then top-k of those candidates, which is the same top-k), so
memory is bounded by ``chunk × cells per frame`` whatever the context length (plus the
radius masks, kept between frames only while they fit in :data:`BIAS_CACHE_BYTES`); chunked
and unchunked give the same result. Only frame 0 and the last ``context`` frames' features and
labels are kept, so long videos stream.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from kpbench.errors import ConfigError
from kpbench.propagation.encoders import Encoder, feature_size

#: Frames encoded per encoder call.
ENCODE_BATCH = 4
#: The radius biases of one video are kept between its frames up to this size (bytes).
BIAS_CACHE_BYTES = 64 * 2**20


@dataclass(frozen=True)
class PropagationSettings:
    """The one propagation protocol (why these defaults: ``docs/propagation.md``).

    Attributes:
        context: previous frames in the context besides frame 0 (CRW ``--videoLen``).
        radius: spatial window, in feature cells, for the previous frames (CRW ``--radius``).
        topk: context cells each target cell draws its label from (CRW ``--topk``).
        temperature: softmax temperature of the affinities (CRW ``--temperature``).
        sigma: σ of frame 0's Gaussian heatmaps, in feature cells (CRW/UVC: 0.5).
        readout_topk: heatmap cells averaged to read out a keypoint (UVC 5, CRW 3).
        chunk: target cells per affinity block (memory; does not change the result).
        size: frames are resized so their short side is ``size`` px; None = as is.
    """

    context: int = 7
    radius: int = 12
    topk: int = 10
    temperature: float = 0.05
    sigma: float = 0.5
    readout_topk: int = 5
    chunk: int = 4096
    size: int | None = 320

    def __post_init__(self):
        ints = {"context": 0, "topk": 1, "readout_topk": 1, "chunk": 1}
        for name, low in ints.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ConfigError(
                    f"propagation {name}: expected an integer >= {low}, got {value!r}"
                )
        for name in ("radius", "temperature", "sigma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigError(f"propagation {name}: expected a number > 0, got {value!r}")
        if self.size is not None and (
            isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer))
            or self.size < 1
        ):  # fmt: skip
            raise ConfigError(
                f"propagation size: expected an integer >= 1 or None, got {self.size!r}"
            )

    def as_dict(self) -> dict:
        """The settings as a plain dict (the task's ``protocol`` input field)."""
        return asdict(self)


#: The settings' names, in order (also the propagation task's option names).
SETTINGS = tuple(f.name for f in fields(PropagationSettings))


def settings_from(protocol: Mapping | None) -> PropagationSettings:
    """:class:`PropagationSettings` from an input's ``protocol`` mapping (None = defaults).

    Raises:
        ConfigError: an unknown setting, or a value out of range.
    """
    if protocol is None:
        return PropagationSettings()
    unknown = sorted(set(protocol) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"propagation protocol: unknown settings {unknown}; known: {list(SETTINGS)}"
        )
    return PropagationSettings(**dict(protocol))


def resized_size(width: int, height: int, size: int | None) -> tuple[int, int]:
    """``(W', H')`` with the short side ``size`` (rounded, aspect kept); as is for None."""
    if size is None:
        return int(width), int(height)
    scale = size / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _gaussians(kp_cells, labelled, h: int, w: int, sigma: float, torch, device):
    """(K, h·w) heatmaps of keypoints given in cell units (cell centres at integers)."""
    yy, xx = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device),
                            indexing="ij")  # fmt: skip
    kp = torch.as_tensor(kp_cells, dtype=torch.float32, device=device)
    d2 = (xx.flatten()[None] - kp[:, :1]) ** 2 + (yy.flatten()[None] - kp[:, 1:]) ** 2
    heat = torch.exp(-d2 / (2 * sigma**2))
    return heat * torch.as_tensor(labelled, device=device)[:, None]


def _encoded(encoder: Encoder, frames, start: int, count: int, size, device):
    """Yield each frame's L2-normalised features (C, h, w), encoding a few frames at a time."""
    import torch
    import torch.nn.functional as F

    batch: list[np.ndarray] = []
    indices = range(start, start + count)
    for n, (_, img) in enumerate(frames.iter_frames(indices, size=size)):
        batch.append(img)
        if len(batch) == ENCODE_BATCH or n == count - 1:
            x = torch.from_numpy(np.stack(batch)).to(device).permute(0, 3, 1, 2).float() / 255
            with torch.no_grad():
                feats = encoder(x)
            want = feature_size(x.shape[2], x.shape[3], encoder.stride)
            floor = (x.shape[2] // encoder.stride, x.shape[3] // encoder.stride)
            got = tuple(feats.shape[2:])
            if feats.ndim != 4 or got not in {want, floor} or feats.shape[0] != len(batch):
                raise ConfigError(
                    f"encoder {encoder!r}: {tuple(x.shape)} frames gave features "
                    f"{tuple(feats.shape)}; expected (B, C, {want[0]}, {want[1]}) for stride "
                    f"{encoder.stride} (ceil; floor accepted)"
                )
            yield from F.normalize(feats.float(), dim=1)
            batch = []


def _window_bias(rows, h: int, w: int, radius: float, torch):
    """(len(rows), h·w): 0 for cells within ``radius`` (strictly) of each target cell, −inf
    elsewhere (added to the affinities of the restricted context frames)."""
    dy2 = (rows[:, None] // w - torch.arange(h, device=rows.device)[None]).square()  # (n, h)
    dx2 = (rows[:, None] % w - torch.arange(w, device=rows.device)[None]).square()  # (n, w)
    far = (dy2[:, :, None] + dx2[:, None, :]).flatten(1) >= radius**2
    return torch.zeros(far.shape, device=rows.device).masked_fill_(far, -math.inf)


def _propagate_frame(query, context, settings: PropagationSettings, h, w, torch, biases=None):
    """Labels (K, h·w) of one frame from its features (C, h·w) and its context.

    ``context``: (features (C, h·w), labels (K, h·w), restricted) per context frame;
    ``biases``: a dict keeping each chunk's radius bias between frames, or None.
    """
    cells = query.shape[1]
    labels_all = torch.cat([lab for _, lab, _ in context], 1)  # (K, M·h·w)
    out = torch.empty(labels_all.shape[0], cells, device=query.device)
    per_frame = min(settings.topk, cells)
    restricted = any(r for _, _, r in context)
    for a in range(0, cells, settings.chunk):
        rows = torch.arange(a, min(a + settings.chunk, cells), device=query.device)
        q = query[:, rows].T / settings.temperature
        bias = None if biases is None else biases.get(a)
        if restricted and bias is None:
            bias = _window_bias(rows, h, w, settings.radius, torch)
            if biases is not None:
                biases[a] = bias
        vals, idx = [], []
        for m, (feats, _, limited) in enumerate(context):
            aff = q @ feats  # (n, h·w)
            if limited:
                aff += bias
            v, i = torch.topk(aff, per_frame, dim=1)
            vals.append(v)
            idx.append(i + m * cells)
        v, pick = torch.topk(torch.cat(vals, 1), min(settings.topk, per_frame * len(context)), 1)
        i = torch.gather(torch.cat(idx, 1), 1, pick)
        weights = torch.softmax(v, dim=1)  # (n, k); frame 0 is unrestricted, so some v is finite
        out[:, rows] = (labels_all[:, i] * weights[None]).sum(-1)
    return out


def _readout(heat, h: int, w: int, k: int, torch):
    """(K, 2) weighted centres (cell units, centre of cell (0, 0) at 0) and (K,) ok flags."""
    vals, idx = torch.topk(heat, min(k, heat.shape[1]), dim=1)
    total = vals.sum(1)
    ok = total > 0
    wts = vals / torch.where(ok, total, torch.ones_like(total))[:, None]
    xy = torch.stack([(idx % w).float(), (idx // w).float()], -1)
    return (xy * wts[..., None]).sum(1), ok


def propagate(
    encoder: Encoder,
    frames,
    start: int,
    num_frames: int,
    first_keypoints: np.ndarray,
    first_visibility: np.ndarray,
    settings: PropagationSettings,
    device="cpu",
) -> np.ndarray:
    """Keypoints in frames ``start .. start + num_frames − 1`` from those of the first.

    Args:
        encoder: the method's :class:`~kpbench.propagation.encoders.Encoder`, on ``device``.
        frames: a :class:`kpbench.video.Frames`.
        start: index in ``frames`` of frame 0.
        num_frames: T, frame 0 included.
        first_keypoints: (K, 2) px in frame 0, NaN = unlabelled (at least one labelled).
        first_visibility: (K,) bool; not used: a labelled keypoint outside the image is
            tracked from the nearest point inside it.
        settings: the protocol.
        device: where features and affinities are computed.

    Returns:
        (T, K, 2) float64 px in the original frames' pixels, no NaN; frame 0 = the given
        keypoints (unlabelled ones filled as the module docstring says).

    Raises:
        ValueError: bad shapes, a segment past the video's end, no labelled keypoint.
        ConfigError: the encoder's features do not have the size its stride promises.
    """
    import torch

    kp0 = np.asarray(first_keypoints, np.float64)
    if kp0.ndim != 2 or kp0.shape[1] != 2 or np.shape(first_visibility) != kp0.shape[:1]:
        raise ValueError(
            f"propagate: first_keypoints must be (K, 2) and first_visibility (K,); got "
            f"{kp0.shape} and {np.shape(first_visibility)}"
        )
    labelled = ~np.isnan(kp0).any(-1)
    start, count = int(start), int(num_frames)
    if not labelled.any() or count < 1 or start < 0 or start + count > frames.num_frames:
        raise ValueError(
            f"propagate: need a labelled keypoint and frames {start}..{start + count - 1} "
            f"within the video's {frames.num_frames} (got {int(labelled.sum())} labelled)"
        )
    width, height = int(frames.width), int(frames.height)
    size = resized_size(width, height, settings.size)
    s = encoder.stride
    scale = np.array([size[0] / width, size[1] / height])  # original px -> resized px
    clipped = np.clip(np.nan_to_num(kp0), 0, [width - 1, height - 1])
    out = np.empty((count, len(kp0), 2))
    out[0] = kp0
    device = torch.device(device)
    feats = _encoded(encoder, frames, start, count, size, device)
    first = next(feats)
    h, w = first.shape[1:]
    first = first.flatten(1)
    labels0 = _gaussians((clipped * scale) / s - 0.5, labelled, h, w, settings.sigma, torch, device)
    recent: deque = deque(maxlen=settings.context)
    biases = {} if (h * w) ** 2 * 4 <= BIAS_CACHE_BYTES else None
    for t in range(1, count):
        query = next(feats).flatten(1)
        context = [(first, labels0, False), *((f, lab, True) for f, lab in recent)]
        labels = _propagate_frame(query, context, settings, h, w, torch, biases)
        centre, ok = _readout(labels, h, w, settings.readout_topk, torch)
        px = ((centre.cpu().double().numpy() + 0.5) * s) / scale
        out[t] = np.where(ok.cpu().numpy()[:, None], px, out[t - 1])
        if settings.context:
            recent.append((query, labels))
    if not labelled.all():
        out[:, ~labelled] = out[:, labelled].mean(1, keepdims=True)
    return out
