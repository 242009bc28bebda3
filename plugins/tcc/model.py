"""TCC's networks: a per-frame encoder and an embedder over each frame's k context frames.

* :class:`FrameEncoder`: torchvision's ResNet-50 through ``layer3[2]`` (1024 channels, stride
  16: 14 × 14 at 224²), the PyTorch counterpart of the reference's Keras ResNet50-v2 cut at
  ``conv4_block3_out`` (the third block of the fourth stage, also 1024 × 14 × 14); or ResNet-18
  through ``layer3`` (256 channels, stride 16) for CPU runs. Module names are torchvision's, so
  its ImageNet files load as they are.
* :class:`ConvEmbedder`: the reference's "conv" embedder: the k context frames' feature maps
  as a (k, h, w) volume, 2 × [Conv3d 3×3×3 ('same' padding, with bias as Keras), BN, ReLU],
  global 3D max-pool, 2 × [dropout, FC, ReLU], linear to the embedding (128-d), no L2
  normalisation.
* :class:`KeypointEncoder` / :class:`KeypointEmbedder`: the pose-input variant: per frame, an
  MLP over the centred, scaled keypoints and their visibility; over the k context frames,
  2 × [Conv1d 3 ('same'), BN, ReLU], max over time, then the same FC head.

Neither embedder sees where a frame is in its sequence: every layer is translation-equivariant
in time or pools over the context, so the embedding depends on the k frames' content only.
"""

from __future__ import annotations

import torch
from torch import nn

#: Backbones: torchvision constructor, layer3 blocks kept, output channels.
BACKBONES = {"resnet50": ("resnet50", 3, 1024), "resnet18": ("resnet18", 2, 256)}


class FrameEncoder(nn.Module):
    """ResNet stem + layer1..layer3 (the first ``blocks`` blocks): ``(M, 3, H, W)`` → ``(M, C,
    H/16, W/16)``."""

    def __init__(self, backbone: str = "resnet50"):
        super().__init__()
        import torchvision

        if backbone not in BACKBONES:
            raise ValueError(f"backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
        ctor, blocks, self.channels = BACKBONES[backbone]
        net = getattr(torchvision.models, ctor)(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2 = net.layer1, net.layer2
        self.layer3 = net.layer3[:blocks]
        self.name = backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer3(self.layer2(self.layer1(x)))


class KeypointEncoder(nn.Module):
    """``(M, 3J)`` (x, y, visible per joint) → ``(M, hidden)``: 2 × [Linear, BN, ReLU]."""

    def __init__(self, joints: int, hidden: int = 512):
        super().__init__()
        self.joints, self.channels = int(joints), int(hidden)
        self.net = nn.Sequential(
            nn.Linear(3 * self.joints, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def fc_head(channels: int, fc: int, layers: int, dropout: float, out: int) -> nn.Sequential:
    """``layers`` × [dropout, Linear, ReLU], then the linear embedding layer."""
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [nn.Dropout(dropout), nn.Linear(channels, fc), nn.ReLU(inplace=True)]
        channels = fc
    return nn.Sequential(*mods, nn.Linear(channels, out))


def _conv_stack(conv, bn, channels: int, width: int, layers: int) -> nn.Sequential:
    mods: list[nn.Module] = []
    for _ in range(layers):
        mods += [conv(channels, width, 3, padding=1), bn(width), nn.ReLU(inplace=True)]
        channels = width
    return nn.Sequential(*mods)


class ConvEmbedder(nn.Module):
    """``(B, k, C, h, w)`` context feature maps → ``(B, D)``."""

    def __init__(self, channels, width=512, conv_layers=2, fc=512, fc_layers=2, dropout=0.1,
                 out=128):  # fmt: skip
        super().__init__()
        self.convs = _conv_stack(nn.Conv3d, nn.BatchNorm3d, channels, width, conv_layers)
        self.head = fc_head(width if conv_layers else channels, fc, fc_layers, dropout, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x.transpose(1, 2))  # (B, C, k, h, w)
        return self.head(torch.amax(x, dim=(2, 3, 4)))


class KeypointEmbedder(nn.Module):
    """``(B, k, C)`` context frame features → ``(B, D)``."""

    def __init__(self, channels, width=512, conv_layers=2, fc=512, fc_layers=2, dropout=0.1,
                 out=128):  # fmt: skip
        super().__init__()
        self.convs = _conv_stack(nn.Conv1d, nn.BatchNorm1d, channels, width, conv_layers)
        self.head = fc_head(width if conv_layers else channels, fc, fc_layers, dropout, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x.transpose(1, 2))  # (B, C, k)
        return self.head(torch.amax(x, dim=2))


class TCCNet(nn.Module):
    """Encoder + embedder. ``forward`` takes ``(B, k, ...)`` (each frame with its context
    frames, oldest first) and gives ``(B, D)``; :meth:`encode` and :meth:`embed` split the two
    so a whole sequence is encoded once and each frame's context gathered from it."""

    def __init__(self, encoder: nn.Module, embedder: nn.Module):
        super().__init__()
        self.encoder, self.embedder = encoder, embedder

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return self.embedder(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, k = x.shape[:2]
        features = self.encode(x.flatten(0, 1))
        return self.embed(features.unflatten(0, (b, k)))


def build_net(config: dict, kind: str, joints: int | None = None) -> TCCNet:
    """The network for ``kind`` ``"frames"`` (pixels) or ``"keypoints"`` (``joints`` joints)."""
    head = dict(
        width=int(config["embedder_channels"]), conv_layers=int(config["embedder_conv_layers"]),
        fc=int(config["fc_channels"]), fc_layers=int(config["fc_layers"]),
        dropout=float(config["dropout"]), out=int(config["embedding_size"]),
    )  # fmt: skip
    if kind == "frames":
        encoder = FrameEncoder(config["backbone"])
        return TCCNet(encoder, ConvEmbedder(encoder.channels, **head))
    encoder = KeypointEncoder(int(joints or 1), int(config["keypoint_channels"]))
    return TCCNet(encoder, KeypointEmbedder(encoder.channels, **head))


def load_imagenet(encoder: FrameEncoder, path) -> dict:
    """Load the tensors of a torchvision ResNet ImageNet file that the cut network has
    (``weights_only=True``); ``layer3`` blocks past the cut, ``layer4`` and ``fc`` are skipped.

    Returns:
        ``{"source", "loaded", "of", "skipped"}``.

    Raises:
        ConfigError: the file cannot be read, shares no tensor name with the cut network, or
            holds one of another shape (e.g. a ResNet-18 file for ResNet-50).
    """
    from kpbench.errors import ConfigError
    from kpbench.weights import load_state_dict

    state = {k.removeprefix("module."): v for k, v in load_state_dict(path).items()}
    own = encoder.state_dict()
    use = {k: v for k, v in state.items() if k in own}
    if not use:
        raise ConfigError(
            f"weight file {str(path)!r} shares no tensor name with torchvision's {encoder.name} "
            f"(e.g. {next(iter(state))!r}); give a torchvision {encoder.name} ImageNet file"
        )
    bad = next((k for k, v in use.items() if v.shape != own[k].shape), None)
    if bad is not None:
        raise ConfigError(
            f"weight file {str(path)!r}: {bad} is {tuple(use[bad].shape)}, {encoder.name} has "
            f"{tuple(own[bad].shape)}; the file is for another network (backbone: {encoder.name})"
        )
    encoder.load_state_dict(use, strict=False)
    return {
        "source": str(path),
        "loaded": len(use),
        "of": len(own),
        "skipped": len(state) - len(use),
    }
