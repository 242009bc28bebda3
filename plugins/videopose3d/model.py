"""VideoPose3D's temporal convolution network, in its two interchangeable forms.

Pavllo, Feichtenhofer, Grangier, Auli, "3D human pose estimation in video with temporal
convolutions and semi-supervised training", CVPR 2019 (arXiv:1811.11742); reference code
``facebookresearch/VideoPose3D`` ``common/model.py``.

* ``expand_conv``: Conv1d(J·F → C, width w₀, no bias) + BN + ReLU + dropout over the frames;
* one residual block per further width wᵢ: Conv1d(C, C, wᵢ, dilation ∏ w<ᵢ) + BN + ReLU + drop,
  Conv1d 1×1 + BN + ReLU + drop, plus the input cropped to the output's frames (valid
  convolutions; a causal model crops from the past side);
* ``shrink``: Conv1d(C → outputs, 1×1, with bias).

The **sequence** form (dilations) maps T input frames to T − RF + 1 outputs; the
**single-frame** form (strides equal to the widths) maps exactly RF frames to one output without
computing unused intermediate frames. Parameter names are the reference's in both forms, so
weights move between them (and reference checkpoints' ``model_pos`` load).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class TemporalModel(nn.Module):
    """Temporal convolutions over per-frame features.

    Args:
        inputs: features per frame (joints × coordinates, e.g. 17 × 2).
        outputs: outputs per frame (joints × 3 for lifting, classes for behaviour).
        filter_widths: odd convolution widths; their product is the receptive field.
        causal: use only past frames.
        dropout: dropout probability.
        channels: convolution channels.
        single_frame: the strided form (input exactly one receptive field, one output frame).
    """

    def __init__(
        self,
        inputs: int,
        outputs: int,
        filter_widths: Sequence[int] = (3, 3, 3),
        causal: bool = False,
        dropout: float = 0.25,
        channels: int = 1024,
        single_frame: bool = False,
    ):
        super().__init__()
        widths = [int(w) for w in filter_widths]
        if not widths or any(w % 2 == 0 or w < 1 for w in widths):
            raise ValueError(f"filter_widths {widths}: odd widths only, e.g. [3, 3, 3]")
        self.widths, self.causal, self.single_frame = widths, bool(causal), bool(single_frame)
        self.outputs = outputs
        self.drop = nn.Dropout(dropout)
        self.relu = nn.ReLU(inplace=True)
        first = widths[0]
        self.expand_conv = nn.Conv1d(
            inputs, channels, first, stride=first if single_frame else 1, bias=False
        )
        self.expand_bn = nn.BatchNorm1d(channels, momentum=0.1)
        convs, bns = [], []
        self.pads, self.shifts = [first // 2], [first // 2 if causal else 0]
        dilation = first
        for w in widths[1:]:
            self.pads.append((w - 1) * dilation // 2)
            step = 1 if single_frame else dilation
            self.shifts.append(w // 2 * step if causal else 0)
            convs.append(
                nn.Conv1d(channels, channels, w, stride=w, bias=False)
                if single_frame
                else nn.Conv1d(channels, channels, w, dilation=dilation, bias=False)
            )
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            convs.append(nn.Conv1d(channels, channels, 1, bias=False))
            bns.append(nn.BatchNorm1d(channels, momentum=0.1))
            dilation *= w
        self.layers_conv = nn.ModuleList(convs)
        self.layers_bn = nn.ModuleList(bns)
        self.shrink = nn.Conv1d(channels, outputs, 1)

    @property
    def receptive_field(self) -> int:
        """Frames of input one output frame sees: ``1 + 2 Σ pads`` (27, 81, 243 for 3-wide)."""
        return 1 + 2 * sum(self.pads)

    @property
    def causal_shift(self) -> int:
        """Frames the output lags behind the input window's centre (0 unless causal)."""
        if not self.causal:
            return 0
        shift, dilation = self.widths[0] // 2, self.widths[0]
        for w in self.widths[1:]:
            shift += (w // 2) * dilation
            dilation *= w
        return shift

    def set_bn_momentum(self, momentum: float) -> None:
        """Set every BatchNorm's momentum (the paper decays it from 0.1 to 0.001)."""
        for bn in [self.expand_bn, *self.layers_bn]:
            bn.momentum = momentum

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, inputs)`` → ``(B, T − RF + 1, outputs)`` (single-frame form: T = RF → 1)."""
        x = x.transpose(1, 2)
        x = self.drop(self.relu(self.expand_bn(self.expand_conv(x))))
        for i, w in enumerate(self.widths[1:]):
            if self.single_frame:
                res = x[:, :, self.shifts[i + 1] + w // 2 :: w]
            else:
                pad, shift = self.pads[i + 1], self.shifts[i + 1]
                res = x[:, :, pad + shift : x.shape[2] - pad + shift]
            x = self.drop(self.relu(self.layers_bn[2 * i](self.layers_conv[2 * i](x))))
            x = res + self.drop(
                self.relu(self.layers_bn[2 * i + 1](self.layers_conv[2 * i + 1](x)))
            )
        return self.shrink(x).transpose(1, 2)
