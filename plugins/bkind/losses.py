"""BKinD losses: SSIM structure target, perceptual reconstruction, rotation equivariance, separation.

Follows the reference ``neuroethology/BKinD`` (``loss/compute_loss.py``, ``loss/ssim_loss.py``,
``loss/rotation_loss.py``, ``loss/separation_loss.py``, ``model/vggforLoss.py``). Keypoints are in
[-1, 1] as (x, y); frames are ImageNet-normalised ``(B, 3, H, W)`` tensors.

Total loss (``bkind_loss``)::

    reconstruction                                  every epoch
    + sum over θ in (90°, 180°, -90°) of (1/3) · equivariance_θ   from epoch ``curriculum`` on
    + separation of 4 keypoint sets (t+T and its 3 rotations)       from epoch ``curriculum`` on
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kpbench.errors import ConfigError, DataError
from kpbench.weights import TORCHVISION_FILES, find_weights, load_state_dict
from kpbench_plugins.bkind.model import IMAGENET_MEAN, IMAGENET_STD, render_gaussians

#: Indices in ``torchvision.models.vgg19().features`` of relu1_2, relu2_2, relu3_2, relu4_2, relu5_2.
VGG_TAPS = (3, 8, 13, 22, 31)
#: Divisors of the 6 reconstruction terms: pixel MSE, then the 5 VGG taps in order. This is the
#: reference's ``perc_weight`` as used (``config/CalMS21.yaml``): the pixel term takes entry 0 and
#: tap i entry i+1, so relu5_2 is divided by the 6th entry, 100.
PERC_WEIGHT = (100.0, 1.6, 2.3, 1.8, 2.8, 100.0)
#: Rotations of the equivariance loss as counter-clockwise quarter turns: 90°, 180°, -90°
#: (``TF.rotate(img, deg)`` in the reference; ``torch.rot90`` is its exact equivalent on squares).
QUARTER_TURNS = (1, 2, -1)

_SSIM_PAD, _SSIM_WINDOW, _SSIM_SIGMA, _SSIM_K2, _BLUR_SIGMA = 10, 11, 1.5, 0.03, 1.0


def gaussian_window(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """``(size, size)`` Gaussian window summing to 1 (as ``piq.functional.gaussian_filter``)."""
    coords = torch.arange(size, dtype=torch.float32, device=like.device) - (size - 1) / 2
    g = torch.exp(-coords.square() / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def _filter(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Depthwise 'valid' convolution of every channel of ``x`` with ``window``."""
    c = x.shape[1]
    return F.conv2d(x, window.expand(c, 1, *window.shape), groups=c)


@torch.no_grad()
def ssim_structure_target(frame_t: torch.Tensor, frame_tT: torch.Tensor) -> torch.Tensor:
    """The reconstruction target S = 1 - cs(I_t, I_t+T), BKinD's ``compute_ssim``.

    Steps: de-normalise to [0, 1]; replicate-pad 10 px; SSIM contrast-structure map
    ``cs = (2 σ12 + C2) / (σ1² + σ2² + C2)`` with an 11×11 Gaussian window (σ = 1.5),
    ``C2 = (0.03 · 1)²`` (data range 1), averaged over RGB; ``S = 1 - cs``; blur with an 11-tap
    Gaussian (σ = 1.0). Both valid convolutions remove the padding, so S is ``H × W`` again.
    Computed in float32 with autocast off; no gradient.

    Args:
        frame_t: ``(B, 3, H, W)`` ImageNet-normalised frame t.
        frame_tT: ``(B, 3, H, W)`` ImageNet-normalised frame t+T.

    Returns:
        ``(B, 3, H, W)`` float32 structure map (the same map in the 3 channels); 0 where the
        frames agree, up to 2 where the local structure is anti-correlated.
    """
    with torch.autocast(frame_t.device.type, enabled=False):
        mean = torch.tensor(IMAGENET_MEAN, device=frame_t.device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=frame_t.device).view(1, 3, 1, 1)
        x = F.pad(frame_t.float() * std + mean, (_SSIM_PAD,) * 4, mode="replicate")
        y = F.pad(frame_tT.float() * std + mean, (_SSIM_PAD,) * 4, mode="replicate")
        window = gaussian_window(_SSIM_WINDOW, _SSIM_SIGMA, x)
        mu_x, mu_y, xx, yy, xy = _filter(torch.cat([x, y, x * x, y * y, x * y], 1), window).split(
            3, 1
        )
        var_x, var_y, cov = xx - mu_x.square(), yy - mu_y.square(), xy - mu_x * mu_y
        c2 = _SSIM_K2**2
        cs = ((2 * cov + c2) / (var_x + var_y + c2)).mean(1, keepdim=True)
        s = _filter(1.0 - cs, gaussian_window(_SSIM_WINDOW, _BLUR_SIGMA, x))
        return s.expand(-1, 3, -1, -1).contiguous()


class PerceptualLoss(nn.Module):
    """Reconstruction loss: pixel MSE + MSE of 5 frozen VGG-19 feature maps, each term scaled.

    Each term's mean squared error ``m`` is divided by ``0.99 · w + 0.01 · m`` (the reference's
    stateless "running average", gradient included), with ``w`` from ``perc_weight``. Inputs are
    fed to VGG as they are (the structure map, no ImageNet normalisation), as in the reference.

    Args:
        mode: ``"vgg19"`` (VGG weights required), ``"pixel"`` (pixel MSE term only) or ``"auto"``
            (VGG when its ImageNet weights are found, else pixel only).
        weights: path of torchvision's ``vgg19-dcbb9e9d.pth``; ``None``/``"auto"`` searches
            ``$KPBENCH_WEIGHTS`` then the torch hub cache (``kpbench.weights``). Never downloads.
        perc_weight: the 6 divisors ``w``: pixel term, then relu1_2 ... relu5_2.

    Attributes:
        source: what the loss uses, e.g. ``"vgg19 ImageNet (/path/vgg19-dcbb9e9d.pth)"`` or
            ``"pixel MSE only (no VGG-19 weights found)"``.
    """

    def __init__(
        self,
        mode: str = "auto",
        weights: str | Path | None = None,
        perc_weight: Sequence[float] = PERC_WEIGHT,
    ):
        super().__init__()
        if mode not in ("auto", "vgg19", "pixel"):
            raise ConfigError(f"perceptual: unknown mode {mode!r}; valid: auto, vgg19, pixel")
        if len(perc_weight) != 1 + len(VGG_TAPS):
            raise ConfigError(
                f"perc_weight: needs {1 + len(VGG_TAPS)} values (pixel, relu1_2..relu5_2)"
            )
        self.perc_weight = tuple(float(w) for w in perc_weight)
        self.features: nn.Sequential | None = None
        path = (
            None
            if mode == "pixel"
            else find_weights(TORCHVISION_FILES["vgg19"], weights, key="vgg_weights")
        )
        if path is None and mode == "vgg19":
            raise ConfigError(
                f"perceptual: mode 'vgg19' needs {TORCHVISION_FILES['vgg19']} in $KPBENCH_WEIGHTS or "
                "the torch hub cache (or vgg_weights=<path>); use perceptual=pixel to train without it"
            )
        if path is None:
            why = "pixel mode" if mode == "pixel" else "no VGG-19 weights found"
            self.source = f"pixel MSE only ({why})"
            return
        self.features = _vgg19_features(path)
        self.source = f"vgg19 ImageNet ({path})"

    def _term(self, a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
        m = (a.float() - b.float()).square().mean()
        return m / (0.99 * w + 0.01 * m)

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss between ``prediction`` and ``target``, both ``(B, 3, H, W)``."""
        loss = self._term(prediction, target, self.perc_weight[0])
        if self.features is None:
            return loss
        with torch.no_grad():
            wanted = self._taps(target)
        for got, want, w in zip(self._taps(prediction), wanted, self.perc_weight[1:], strict=True):
            loss = loss + self._term(got, want, w)
        return loss

    def _taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in VGG_TAPS:
                out.append(x)
        return out


def _vgg19_features(path: Path) -> nn.Sequential:
    """Frozen ``vgg19().features`` up to relu5_2, loaded from a torchvision state dict."""
    import torchvision

    features = torchvision.models.vgg19(weights=None).features[: VGG_TAPS[-1] + 1]
    state = {
        k.removeprefix("features."): v
        for k, v in load_state_dict(path).items()
        if k.startswith("features.")
    }
    own = features.state_dict()
    bad = sorted(k for k in own if k not in state or state[k].shape != own[k].shape)
    if bad:
        raise ConfigError(
            f"vgg_weights: {str(path)!r} is not torchvision's VGG-19 state dict "
            f"(missing or mis-shaped {bad[0]!r}); use {TORCHVISION_FILES['vgg19']}"
        )
    features.load_state_dict({k: state[k] for k in own})
    features.requires_grad_(False)
    return features.eval()


def rotation_equivariance_loss(
    model: nn.Module,
    frames_tT: torch.Tensor,
    keypoints_tT: torch.Tensor,
    *,
    size: int | None = None,
    var: float = 0.001,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Keypoints of a rotated frame should be the rotated keypoints of the frame.

    For θ in 90°, 180°, -90° (counter-clockwise on screen, ``TF.rotate`` convention):
    ``MSE(R_θ(G(kp_tT)), G(kp(R_θ I_tT)))``, where ``G`` renders Gaussians of variance ``var`` at
    ``size × size`` and the rotated target is detached; the three terms are weighted 1/3 each.

    Args:
        model: anything with ``detect(images) -> {"keypoints": (B, K, 2), ...}``.
        frames_tT: ``(B, 3, S, S)`` ImageNet-normalised square frames t+T.
        keypoints_tT: ``(B, K, 2)`` keypoints of ``frames_tT`` in [-1, 1] (x, y).
        size: side of the rendered maps in pixels; default ``S / 2`` (128 for 256 inputs).
        var: Gaussian variance in [-1, 1] units squared.

    Returns:
        ``(loss, rotated)``: the scalar loss and the 3 keypoint sets ``(B, K, 2)`` detected on
        the rotated frames (in rotated-frame coordinates), for the separation loss.
    """
    h, w = frames_tT.shape[-2:]
    if h != w:
        raise DataError(
            f"rotation equivariance needs square frames, got {h}x{w}; resize frames to a square"
        )
    size = size or h // 2
    target = render_gaussians(keypoints_tT.float(), size, var)
    loss, rotated = frames_tT.new_zeros((), dtype=torch.float32), []
    detect = getattr(model, "module", model).detect  # the model inside DistributedDataParallel
    for k in QUARTER_TURNS:
        kp = detect(torch.rot90(frames_tT, k, dims=(-2, -1)))["keypoints"]
        rotated.append(kp)
        want = torch.rot90(target, k, dims=(-2, -1)).detach()
        loss = loss + F.mse_loss(render_gaussians(kp.float(), size, var), want) / len(QUARTER_TURNS)
    return loss, rotated


def separation_loss(
    keypoints: torch.Tensor, sigma: float = 0.08, weight: float = 0.05
) -> torch.Tensor:
    """Push keypoints apart: ``weight · mean_{b,i,j} [i≠j] exp(-‖p_i - p_j‖² / (2 σ²))``.

    As in the reference, the mean runs over all ``B · K · K`` pairs with the diagonal set to 0
    (so it is ``(K - 1) / K`` times the mean over distinct pairs). For 2 points at distance d:
    ``weight · exp(-d² / (2 σ²)) / 2``.

    Args:
        keypoints: ``(B, K, 2)`` in [-1, 1].
        sigma: length scale in [-1, 1] units (0.08 = 4 % of the image side).
        weight: factor applied inside the function (0.05 in the reference).

    Returns:
        Scalar loss.
    """
    kp = keypoints.float()
    d2 = (kp[:, :, None, :] - kp[:, None, :, :]).square().sum(-1)
    off_diagonal = 1.0 - torch.eye(kp.shape[1], device=kp.device)
    return weight * (torch.exp(-d2 / (2 * sigma**2)) * off_diagonal).mean()


def bkind_loss(
    model: nn.Module,
    frame_t: torch.Tensor,
    frame_tT: torch.Tensor,
    epoch: int,
    *,
    curriculum: int = 4,
    perceptual: PerceptualLoss | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """BKinD's training loss for one batch of frame pairs.

    Epochs are 0-based, as in the reference's ``range(start_epoch=0, epochs)``: the equivariance
    and separation losses join when ``epoch >= curriculum``, i.e. after ``curriculum`` full
    epochs of reconstruction only (epochs 0..3 for the paper's ``curriculum: 4``).

    Args:
        model: a ``BKinD`` (``forward(frame_t, frame_tT)`` and ``detect(images)``).
        frame_t: ``(B, 3, S, S)`` ImageNet-normalised frames t.
        frame_tT: ``(B, 3, S, S)`` ImageNet-normalised frames t+T.
        epoch: current epoch, 0-based.
        curriculum: first epoch with the equivariance and separation losses.
        perceptual: the reconstruction loss; ``None`` uses the pixel MSE term only.

    Returns:
        ``(total, parts)``: scalar total and ``reconstruction``, ``equivariance``, ``separation``
        scalars (the last two are 0 before the curriculum epoch).
    """
    if perceptual is None:
        perceptual = PerceptualLoss(mode="pixel")
    out = model(frame_t, frame_tT)
    recon = perceptual(out["reconstruction"], ssim_structure_target(frame_t, frame_tT))
    equivariance = separation = recon.new_zeros(())
    if epoch >= curriculum:
        equivariance, rotated = rotation_equivariance_loss(model, frame_tT, out["keypoints_tT"])
        for kp in (out["keypoints_tT"], *rotated):
            separation = separation + separation_loss(kp)
    total = recon + equivariance + separation
    return total, {"reconstruction": recon, "equivariance": equivariance, "separation": separation}
