"""CorrFlow's (and MAST's) encoder: a ResNet-18 variant at stride 4 giving 64-d features.

As the reference ``models/submodule.py``/``corrflow.py``: a 7 × 7 stride-2 stem (conv, BN,
ReLU; no max-pool), four stages of two basic residual blocks with 64, 128, 256, 256 channels
and strides 1, 2, 1, 1, then a 3 × 3 conv (with bias) from 256 to 64 channels. The input is
a 3-channel image; CorrFlow and MAST feed Lab scaled to about [-1, 1] (channel dropout in
training). Output stride 4: a 256² frame gives 64 × 64 cells.
"""

from __future__ import annotations

import torch
from torch import nn

from kpbench_plugins.colorization.colour import normalised_lab

STRIDE = 4


class Block(nn.Module):
    """Basic residual block: two 3 × 3 convs with BN, a 1 × 1 projection when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout),
        )  # fmt: skip
        self.skip = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ResNet18Stride4(nn.Module):
    """Image ``(B, 3, H, W)`` → features ``(B, out, ⌈H/4⌉, ⌈W/4⌉)``.

    Args:
        widths: channels of the four stages (the reference: 64, 128, 256, 256).
        out: channels after the final 3 × 3 conv (the reference: 64).
    """

    def __init__(self, widths=(64, 128, 256, 256), out: int = 64):
        super().__init__()
        w = [int(c) for c in widths]
        self.stem = nn.Sequential(nn.Conv2d(3, w[0], 7, 2, 3, bias=False), nn.BatchNorm2d(w[0]),
                                  nn.ReLU(True))  # fmt: skip
        stages, cin = [], w[0]
        for cout, stride in zip(w, (1, 2, 1, 1)):
            stages.append(nn.Sequential(Block(cin, cout, stride), Block(cout, cout)))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.post = nn.Conv2d(cin, int(out), 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.stages(self.stem(x)))


class LabEncoder(nn.Module):
    """The propagator's view: RGB in [0, 1] → normalised Lab → features (no dropout)."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.net(normalised_lab(rgb))
