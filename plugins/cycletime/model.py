"""CycleTime's network (reference ``models/videos/model_simple.py``, ``inflated_resnet.py``).

* encoder: ResNet-50 through ``layer3`` (res4) with ``layer3`` at stride 1 (stride 8, 1024
  channels). The reference inflates it to 3D with temporal kernels of size 1
  (``inflate_conv(time_dim=1)``), which is the 2D network applied frame by frame (same
  weights, same outputs); it is applied per frame here. Then ``afterconv1`` (a 1×1×1 conv
  1024 → 512 without bias) and ReLU: the features; the tracker and the propagator
  L2-normalise them per cell. ``backbone: resnet18`` (256 channels) sizes the same design for
  CPU runs.
* tracker head: the affinity of the query patch's cells with the frame's cells, softmaxed
  over the frame's cells (temperature 512^-1/2), is a volume with one channel per frame cell
  on the patch's grid; Conv 4×4 (→128), LeakyReLU 0.1, Conv 4×4 (→64), LeakyReLU, flattened,
  Linear → (tx, ty, θ): a rotation by θ, scaled by patch/frame (1/3) and shifted by (tx, ty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

BACKBONES = {"resnet50": 1024, "resnet18": 256}


def _trunk(backbone: str) -> nn.Sequential:
    net = getattr(torchvision.models, backbone)(weights=None)
    for m in net.layer3.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            m.stride = (1, 1)
    parts = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3")
    return nn.Sequential(*(getattr(net, n) for n in parts))


class CycleTimeNet(nn.Module):
    """``forward(x)``: the features ``(B, 512, H/8, W/8)`` of normalised frames;
    ``theta(query, frame)``: the tracker's affine transform of a patch into a frame."""

    def __init__(self, backbone: str = "resnet50", dim: int = 512, patch_cells: int = 10,
                 frame_cells: int = 30, temperature: float = 512**-0.5):  # fmt: skip
        super().__init__()
        if backbone not in BACKBONES:
            raise ValueError(f"backbone {backbone!r}: expected one of {', '.join(BACKBONES)}")
        if patch_cells < 7:
            raise ValueError(
                f"the tracker head needs a patch of at least 7 cells, got {patch_cells}"
            )
        self.encoder = _trunk(backbone)
        self.afterconv1 = nn.Conv2d(BACKBONES[backbone], dim, 1, bias=False)
        self.conv3 = nn.Conv2d(frame_cells * frame_cells, 128, 4, bias=False)
        self.conv4 = nn.Conv2d(128, 64, 4, bias=False)
        self.linear = nn.Linear(64 * (patch_cells - 6) ** 2, 3)
        self.scale = patch_cells / frame_cells
        self.temperature = float(temperature)
        for conv in (self.afterconv1, self.conv3, self.conv4):
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        nn.init.normal_(self.linear.weight, 0, 0.01)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.afterconv1(self.encoder(x)))

    def affinity(self, query: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """Unit query ``(B, C, p, p)`` × unit frame ``(B, C, H, W)`` → ``(B, H·W, p, p)``, a
        softmax over the frame's cells for each query cell."""
        a = torch.einsum("bcn,bcm->bmn", frame.flatten(2), query.flatten(2)) / self.temperature
        return F.softmax(a, dim=1).view(len(a), -1, *query.shape[-2:])

    def theta(self, query: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
        """The ``(B, 2, 3)`` affine transform (normalised coordinates) placing the patch."""
        h = F.leaky_relu(self.conv3(self.affinity(query, frame)), 0.1)
        h = F.leaky_relu(self.conv4(h), 0.1)
        tx, ty, rot = self.linear(h.flatten(1)).unbind(1)
        cos, sin = torch.cos(rot) * self.scale, torch.sin(rot) * self.scale
        return torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)


def sample(features: torch.Tensor, theta: torch.Tensor, cells: int) -> torch.Tensor:
    """The ``cells × cells`` patch of ``features`` under ``theta`` (bilinear; the reference's
    spatial transformer ``GeometricTnfAffine``)."""
    grid = F.affine_grid(theta, (len(features), features.shape[1], cells, cells),
                         align_corners=False)  # fmt: skip
    return F.grid_sample(features, grid, align_corners=False)
