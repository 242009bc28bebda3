"""The colorization network: grey frames → 64-d pointer embeddings at stride 8.

Vondrick et al. run a ResNet-18 on each grey 256 × 256 frame (32 × 32 output, stride 8),
concatenate each cell's position (x, y in [-1, 1]) and finish with a 3D-convolutional head
over the four frames of a clip, giving 64-d embeddings. kpbench evaluates every method by
encoding one frame at a time (the shared propagator), so the head here is the same five
layers as 2D convolutions (3 × 3, 256 channels, BN + ReLU; a 1 × 1 to 64 last): what the
paper's head does per frame, without mixing time. The trunk is the harness's
:func:`~kpbench.propagation.encoders.resnet18_stride8` with a one-channel first conv.
"""

from __future__ import annotations

import torch
from torch import nn

from kpbench.propagation.encoders import resnet18_stride8
from kpbench_plugins.colorization.colour import rgb_to_lab

STRIDE = 8


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class ColorizationNet(nn.Module):
    """Grey image ``(B, 1, H, W)`` (L / 50 − 1) → embeddings ``(B, D, ⌈H/8⌉, ⌈W/8⌉)``.

    Args:
        width: channels of the head's hidden layers.
        embedding: output channels D.
        head_layers: conv layers of the head (the last is the 1 × 1 to D).
        coords: concatenate each cell's (x, y) in [-1, 1] before the head.
    """

    def __init__(self, width: int = 256, embedding: int = 64, head_layers: int = 5,
                 coords: bool = True):  # fmt: skip
        super().__init__()
        self.trunk = resnet18_stride8()
        self.trunk.conv1 = nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)
        self.coords = bool(coords)
        cin, layers = 256 + 2 * self.coords, []
        for _ in range(head_layers - 1):
            layers += _block(cin, width)
            cin = width
        layers.append(nn.Conv2d(cin, embedding, 1))
        self.head = nn.Sequential(*layers)

    def forward(self, grey: torch.Tensor) -> torch.Tensor:
        x = self.trunk(grey)
        if self.coords:
            b, _, h, w = x.shape
            ys = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype)
            xs = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype)
            grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), 0).expand(b, 2, h, w)
            x = torch.cat([x, grid], 1)
        return self.head(x)


def grey_input(rgb: torch.Tensor) -> torch.Tensor:
    """``(..., 3, H, W)`` RGB in [0, 1] → ``(..., 1, H, W)`` lightness L / 50 − 1."""
    return rgb_to_lab(rgb)[..., :1, :, :] / 50 - 1


class GreyEncoder(nn.Module):
    """The propagator's view of the network: RGB in [0, 1] → embeddings (grey inside)."""

    def __init__(self, net: ColorizationNet):
        super().__init__()
        self.net = net

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(grey_input(rgb))
