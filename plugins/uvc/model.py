"""UVC's network (reference ``libs/autoencoder.py`` ``encoder_res18``, ``model.py``
``track_match_comb``).

The grey encoder is ResNet-18 with ``layer3`` and ``layer4`` at stride 1 (stride 8),
``uselayer=4`` in training (512 channels). The input is the frame's Lab lightness alone, in
[0, 1] over three channels, ImageNet-normalised. Evaluation takes ``layer3`` (256 channels,
:func:`kpbench.propagation.encoders.resnet18_stride8`), as CRW's harness evaluates UVC's
encoder (``load_uvc_model`` then ``--remove-layers layer4``).

The reference also transports the features of a pretrained, frozen colour autoencoder
(``encoder3``/``decoder3``, weights outside the paper); here the Lab pixels themselves are
transported, each feature cell carrying its 8 × 8 pixels (:mod:`kpbench_plugins.uvc.colour`),
so the colour target is exact and nothing is pretrained.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from kpbench.propagation.encoders import IMAGENET_MEAN, IMAGENET_STD, resnet18_stride8
from kpbench_plugins.uvc.colour import rgb_to_lab


class UVCNet(nn.Module):
    """``features(lab, layer)``: grey features of Lab frames; ``forward(rgb)``: the
    evaluation features ``(B, 256, H/8, W/8)`` of RGB frames in [0, 1]."""

    def __init__(self):
        super().__init__()
        self.encoder = resnet18_stride8().train()
        self.layer4 = torchvision.models.resnet18(weights=None).layer4
        for m in self.layer4.modules():
            if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
                m.stride = (1, 1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD)[:, None, None], persistent=False)

    def features(self, lab: torch.Tensor, layer: str = "layer4") -> torch.Tensor:
        """``(B, 3, H, W)`` Lab in [-1, 1] → ``(B, C, H/8, W/8)`` from its lightness."""
        grey = ((lab[:, :1] + 1) / 2).expand(-1, 3, -1, -1)
        x = self.encoder((grey - self.mean) / self.std)
        return self.layer4(x) if layer == "layer4" else x

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return self.features(rgb_to_lab(rgb), "layer3")
