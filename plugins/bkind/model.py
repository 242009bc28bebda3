"""BKinD networks: ResNet encoder, CPN keypoint head, Gaussian bottleneck and decoder.

Sun*, Ryou* et al., "Self-Supervised Keypoint Discovery in Behavioral Videos", CVPR 2022
(https://arxiv.org/abs/2112.05121); reference code ``neuroethology/BKinD``
(``model/unsupervised_model.py``, ``model/globalNet.py``, ``model/resnet_updated.py``).

Coordinates are normalised: ``[-1, 1]`` over the image, ``(x, y)`` with x to the right and y
down; -1 and 1 fall on the centres of the first and last pixels (``linspace(-1, 1, n)``).
Images entering the model are ImageNet-normalised float tensors ``(B, 3, H, W)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from kpbench.errors import ConfigError
from kpbench.weights import TORCHVISION_FILES, find_weights, load_state_dict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

BACKBONES = ("resnet18", "resnet34", "resnet50")


def _grid(n: int, like: torch.Tensor) -> torch.Tensor:
    return torch.linspace(-1.0, 1.0, n, device=like.device, dtype=like.dtype)


def heatmaps_to_keypoints(heatmaps: torch.Tensor) -> dict[str, torch.Tensor]:
    """Soft-argmax: spatial softmax, then the mean and second moments of each map.

    Args:
        heatmaps: ``(B, K, h, w)`` raw scores (logits).

    Returns:
        ``keypoints`` ``(B, K, 2)`` in [-1, 1] as (x, y); ``confidence`` ``(B, K)``, the peak of
        the softmax map (a probability); ``covariance`` ``(B, K, 3)`` = (var_x, var_y, cov) in
        [-1, 1] units squared (variances clamped at 1e-6); ``heatmaps`` ``(B, K, h, w)``, the
        softmax maps (each sums to 1).
    """
    b, k, h, w = heatmaps.shape
    prob = heatmaps.float().flatten(2).softmax(dim=2).reshape(b, k, h, w)
    y, x = _grid(h, prob), _grid(w, prob)
    p_y, p_x = prob.sum(3), prob.sum(2)  # marginals (B, K, h) and (B, K, w)
    u_y, u_x = (p_y * y).sum(2), (p_x * x).sum(2)
    var_y = ((p_y * y.square()).sum(2) - u_y.square()).clamp(min=1e-6)
    var_x = ((p_x * x.square()).sum(2) - u_x.square()).clamp(min=1e-6)
    dy = y.view(1, 1, h, 1) - u_y[..., None, None]
    dx = x.view(1, 1, 1, w) - u_x[..., None, None]
    cov = (prob * dx * dy).sum((2, 3))
    return {
        "keypoints": torch.stack([u_x, u_y], dim=-1),
        "confidence": prob.amax(dim=(2, 3)),
        "covariance": torch.stack([var_x, var_y, cov], dim=-1),
        "heatmaps": prob,
    }


def render_gaussians(
    keypoints: torch.Tensor, size: int | tuple[int, int], var: float
) -> torch.Tensor:
    """Render an isotropic Gaussian per keypoint (BKinD's geometric bottleneck).

    ``g = exp(-d² / (2 var)) / sqrt(2 π var)``, not normalised to sum 1, as in the reference.

    Args:
        keypoints: ``(B, K, 2)`` centres in [-1, 1] as (x, y).
        size: output side ``n`` or ``(h, w)`` in pixels.
        var: variance in [-1, 1] units squared (the reference calls it ``inv_std``).

    Returns:
        ``(B, K, h, w)`` maps.
    """
    h, w = (size, size) if isinstance(size, int) else size
    y, x = _grid(h, keypoints), _grid(w, keypoints)
    d2 = (x.view(1, 1, 1, w) - keypoints[..., 0, None, None]).square() + (
        y.view(1, 1, h, 1) - keypoints[..., 1, None, None]
    ).square()
    return torch.exp(-d2 / (2 * var)) / math.sqrt(2 * math.pi * var)


class ResNetEncoder(nn.Module):
    """A torchvision ResNet without pooling/fc returning ``[C5, C4, C3, C2, stem]``.

    Strides 32, 16, 8, 4 and 2; the stem is taken after conv1-BN-ReLU, before the max-pool
    (``resnetbank50all`` in the reference). Parameter names match torchvision's, so its
    ImageNet state dicts load directly (the ``fc.*`` entries are skipped).
    """

    def __init__(self, backbone: str = "resnet50"):
        super().__init__()
        import torchvision

        net = getattr(torchvision.models, backbone)(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        e = type(net.layer1[0]).expansion  # 1 for resnet18/34, 4 for resnet50
        #: Channels of [C5, C4, C3, C2, stem].
        self.channels = (512 * e, 256 * e, 128 * e, 64 * e, net.conv1.out_channels)

    def load_imagenet(self, path: Path) -> None:
        """Load a torchvision ImageNet state dict (``fc.*`` ignored); ConfigError on a mismatch."""
        state = {k: v for k, v in load_state_dict(path).items() if not k.startswith("fc.")}
        own = self.state_dict()
        bad = sorted(set(state) ^ set(own)) or sorted(
            k for k in own if state[k].shape != own[k].shape
        )
        if bad:
            raise ConfigError(
                f"encoder_weights: {str(path)!r} does not fit this ResNet "
                f"({len(bad)} missing, extra or mis-shaped tensors, e.g. {bad[0]!r}); "
                "give the torchvision ImageNet file of the configured backbone"
            )
        self.load_state_dict({k: state[k] for k in own})

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        stem = self.relu(self.bn1(self.conv1(x)))
        c2 = self.layer1(self.maxpool(stem))
        c3 = self.layer2(c2)
        c4 = self.layer3(c3)
        c5 = self.layer4(c4)
        return [c5, c4, c3, c2, stem]


def _conv_bn(cin: int, cout: int, kernel: int, relu: bool) -> list[nn.Module]:
    layers = [nn.Conv2d(cin, cout, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(cout)]
    return [*layers, nn.ReLU(inplace=True)] if relu else layers


class KeypointHead(nn.Module):
    """CPN "globalNet" (GengDavid/pytorch-cpn): feature pyramid over C5..C2, one predictor per level.

    Laterals are 1×1 conv→``width`` + BN + ReLU; the top-down path is ×2 bilinear upsample
    (align_corners) + 1×1 conv + BN, summed into the next lateral. Each predictor is 1×1 conv +
    BN + ReLU, 3×3 conv → K, bilinear resize to ``out_size``, BN(K). As in the reference only the
    finest level's prediction is used, so the three coarser predictors are kept (checkpoint
    layout and parameter count match the reference) but not evaluated.
    """

    def __init__(
        self, in_channels: Sequence[int], num_keypoints: int, out_size: int, width: int = 256
    ):
        super().__init__()
        self.laterals = nn.ModuleList(
            nn.Sequential(*_conv_bn(c, width, 1, True)) for c in in_channels
        )
        self.upsamples = nn.ModuleList(
            nn.Sequential(
                nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
                *_conv_bn(width, width, 1, False),
            )
            for _ in in_channels[1:]
        )
        self.predict = nn.ModuleList(
            nn.Sequential(
                *_conv_bn(width, width, 1, True),
                nn.Conv2d(width, num_keypoints, 3, padding=1, bias=False),
                nn.Upsample(size=(out_size, out_size), mode="bilinear", align_corners=True),
                nn.BatchNorm2d(num_keypoints),
            )
            for _ in in_channels
        )

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        """Finest-level heatmap logits ``(B, K, out_size, out_size)`` from ``[C5, C4, C3, C2, ...]``."""
        feature = self.laterals[0](features[0])
        for i in range(1, len(self.laterals)):
            feature = self.laterals[i](features[i]) + self.upsamples[i - 1](feature)
        return self.predict[-1](feature)


class DecoderBlock(nn.Module):
    """×2 bilinear upsample then [3×3 conv - BN - ReLU] × 2 (no residual, as in the reference)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            *_conv_bn(cin, cout, 3, True),
            *_conv_bn(cout, cout, 3, True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Decoder(nn.Module):
    """Reconstruction decoder: C5 of frame t + Gaussian maps at 5 scales → 3-channel map."""

    def __init__(self, in_channels: int, map_channels: int, widths: Sequence[int]):
        super().__init__()
        cins = [in_channels, *widths[:-1]]
        self.blocks = nn.ModuleList(
            DecoderBlock(c + map_channels, w) for c, w in zip(cins, widths, strict=True)
        )
        self.final = nn.Conv2d(widths[-1], 3, kernel_size=1)

    def forward(self, c5: torch.Tensor, maps: Sequence[torch.Tensor]) -> torch.Tensor:
        x = c5
        for block, m in zip(self.blocks, maps, strict=True):
            x = block(torch.cat([x, m.to(x.dtype)], dim=1))
        return self.final(x)


class BKinD(nn.Module):
    """BKinD: discover K keypoints by reconstructing the structural change between two frames.

    Defaults are the paper's CalMS21 model (K=10, 256×256, ResNet-50): 63,124,819 parameters.

    Args:
        num_keypoints: K, keypoints to discover.
        image_size: input side in pixels (square); a multiple of 32. Heatmaps are
            ``image_size/4``; the Gaussian maps are rendered at ``image_size/32 · 2^i``, i = 0..4.
        backbone: ``"resnet18"``, ``"resnet34"`` or ``"resnet50"`` (torchvision).
        decoder_channels: output widths of the 5 decoder blocks.
        head_channels: width of the keypoint head's pyramid (256 in CPN).
        gaussian_vars: variance of the Gaussians of each decoder scale, [-1, 1] units squared.
        encoder_weights: ``None`` (random init), ``"auto"`` (torchvision's ImageNet file from
            ``$KPBENCH_WEIGHTS`` or the torch hub cache, random init when absent) or a path.
    """

    def __init__(
        self,
        *,
        num_keypoints: int = 10,
        image_size: int = 256,
        backbone: str = "resnet50",
        decoder_channels: Sequence[int] = (1024, 512, 256, 128, 64),
        head_channels: int = 256,
        gaussian_vars: Sequence[float] = (0.1, 0.1, 0.01, 0.01, 0.001),
        encoder_weights: str | Path | None = None,
    ):
        super().__init__()
        if backbone not in BACKBONES:
            raise ConfigError(f"backbone: unknown {backbone!r}; valid: {', '.join(BACKBONES)}")
        if image_size < 32 or image_size % 32:
            raise ConfigError(
                f"image_size: {image_size} is not a positive multiple of 32 (e.g. 128, 256)"
            )
        if num_keypoints < 1:
            raise ConfigError(f"num_keypoints: {num_keypoints} must be at least 1")
        if len(decoder_channels) != 5 or len(gaussian_vars) != 5:
            raise ConfigError(
                "decoder_channels and gaussian_vars: each needs exactly 5 entries (one per decoder block)"
            )
        if min(gaussian_vars) <= 0:
            raise ConfigError(f"gaussian_vars: {list(gaussian_vars)} must all be > 0")
        self.num_keypoints = num_keypoints
        self.image_size = image_size
        self.gaussian_vars = tuple(float(v) for v in gaussian_vars)
        self.map_sizes = tuple(image_size // 32 * 2**i for i in range(5))

        self.encoder = ResNetEncoder(backbone)
        self.keypoint_head = KeypointHead(
            self.encoder.channels[:4], num_keypoints, image_size // 4, head_channels
        )
        self.decoder = Decoder(self.encoder.channels[0], 2 * num_keypoints, tuple(decoder_channels))
        for part in (self.keypoint_head, self.decoder):
            for m in part.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, 0.0, 0.01)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)

        path = (
            None
            if encoder_weights is None
            else find_weights(TORCHVISION_FILES[backbone], encoder_weights, key="encoder_weights")
        )
        if path is not None:
            self.encoder.load_imagenet(path)
            self.encoder_weights_source = str(path)
        elif encoder_weights is None:
            self.encoder_weights_source = "random init (no ImageNet weights requested)"
        else:
            self.encoder_weights_source = "random init (no ImageNet weights found)"

    def _keypoints(self, features: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
        return heatmaps_to_keypoints(self.keypoint_head(features))

    def detect(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Keypoints of a batch of images (encoder + keypoint head only).

        Args:
            images: ``(B, 3, H, W)`` ImageNet-normalised.

        Returns:
            ``keypoints`` ``(B, K, 2)`` in [-1, 1] (x, y); ``confidence`` ``(B, K)`` in [0, 1];
            ``covariance`` ``(B, K, 3)`` (var_x, var_y, cov) in [-1, 1] units squared;
            ``heatmaps`` ``(B, K, H/4, W/4)`` softmax maps.
        """
        return self._keypoints(self.encoder(images))

    def gaussian_maps(
        self, keypoints_tT: torch.Tensor, keypoints_t: torch.Tensor
    ) -> list[torch.Tensor]:
        """The decoder's 5 conditioning maps: frame t+T's K Gaussians then frame t's, per scale."""
        return [
            torch.cat(
                [render_gaussians(keypoints_tT, s, v), render_gaussians(keypoints_t, s, v)], dim=1
            )
            for s, v in zip(self.map_sizes, self.gaussian_vars, strict=True)
        ]

    def forward(self, frame_t: torch.Tensor, frame_tT: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruct the structural change from frame t's appearance and both frames' keypoints.

        Args:
            frame_t: ``(B, 3, H, W)`` ImageNet-normalised frame t (appearance).
            frame_tT: ``(B, 3, H, W)`` ImageNet-normalised frame t+T.

        Returns:
            ``reconstruction`` ``(B, 3, H, W)``, the predicted structure map; ``keypoints_t`` and
            ``keypoints_tT`` ``(B, K, 2)`` in [-1, 1] (x, y); ``confidence_tT`` ``(B, K)``;
            ``covariance_tT`` ``(B, K, 3)``.
        """
        features_t = self.encoder(frame_t)
        kp_t = self._keypoints(features_t)
        kp_tT = self._keypoints(self.encoder(frame_tT))
        maps = self.gaussian_maps(kp_tT["keypoints"], kp_t["keypoints"])
        return {
            "reconstruction": self.decoder(features_t[0], maps),
            "keypoints_t": kp_t["keypoints"],
            "keypoints_tT": kp_tT["keypoints"],
            "confidence_tT": kp_tT["confidence"],
            "covariance_tT": kp_tT["covariance"],
        }
