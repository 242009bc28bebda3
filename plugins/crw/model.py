"""CRW's network (reference ``code/model.py``, ``code/resnet.py``, ``utils.make_encoder``).

* ``encoder``: :func:`kpbench.propagation.encoders.resnet18_stride8` (ResNet-18 through
  ``layer3`` at stride 8, 256 channels): the reference's test encoder (``--remove-layers
  layer4``), and what the propagator evaluates.
* ``layer4``: ResNet-18's ``layer4`` at stride 1 (512 channels), used in training only: the
  reference trains with ``remove_layers=[]`` (``resnet.modify`` sets layer3 and layer4 to
  stride 1) and drops layer4 at test.
* every padded convolution pads by reflection (the reference's ``scratch`` model,
  ``modify(padding='reflect')``).
* ``head``: a node's embedding is the mean of its patch's feature map through a linear layer
  512 → 128 (``--head-depth 0``), L2-normalised.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from kpbench.propagation.encoders import resnet18_stride8


def _layer4_stride1() -> nn.Module:
    layer4 = torchvision.models.resnet18(weights=None).layer4
    for m in layer4.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            m.stride = (1, 1)
    return layer4


class CRWNet(nn.Module):
    """``nodes(patches)`` embeds patches for the walk; ``forward(x)`` is the evaluation
    feature map ``(B, 256, H/8, W/8)`` of normalised frames."""

    def __init__(self, embed_dim: int = 128, padding: str = "reflect"):
        super().__init__()
        self.encoder = resnet18_stride8().train()
        self.layer4 = _layer4_stride1()
        self.head = nn.Linear(512, embed_dim)
        if padding != "zeros":
            for m in self.modules():
                if isinstance(m, nn.Conv2d) and sum(m.padding) > 0:
                    m.padding_mode = padding

    def nodes(self, patches: torch.Tensor) -> torch.Tensor:
        """``(B, T, N, 3, P, P)`` normalised patches → ``(B, C, T, N)`` unit node embeddings."""
        b, t, n = patches.shape[:3]
        maps = self.layer4(self.encoder(patches.flatten(0, 2)))
        feats = F.normalize(self.head(maps.mean((-2, -1))), dim=-1)
        return feats.view(b, t, n, -1).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)
