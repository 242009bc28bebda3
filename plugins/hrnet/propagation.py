"""HRNet's backbone scored under the ``propagation`` protocol, without training.

The features are the highest-resolution branch after the last stage (stride 4, ``width``
channels), the input of the heatmap head. A run loads the backbone of an HRNet checkpoint
written by an earlier ``pose2d`` run (``--set checkpoint=PATH``: the ``checkpoint.pt``, its run
folder or its record; same ``width``; the heatmap head is not used); without one, the backbone
has the weights HRNet starts from (``pretrained``: ImageNet when found, else random), and
``notes.encoder_weights`` says so. Frames are padded at the right and bottom to a multiple of
32 (HRNet's input rule) and the features cropped back to ``ceil(H / 4) × ceil(W / 4)``.
"""

from __future__ import annotations

import math

from torch import nn

from kpbench.propagation.frozen import FrozenEncoderMethod, load_encoder_state

STRIDE = 4


class HighResolutionFeatures(nn.Module):
    """An HRNet without its heatmap head: normalised images of any size → stride-4 features."""

    def __init__(self, net: nn.Module):
        super().__init__()
        net.final_layer = nn.Identity()
        self.net = net

    def forward(self, x):
        h, w = x.shape[-2:]
        padded = nn.functional.pad(x, (0, -w % 32, 0, -h % 32))
        return self.net.features(padded)[..., : math.ceil(h / STRIDE), : math.ceil(w / STRIDE)]


def build_propagation(config: dict) -> FrozenEncoderMethod:
    """The backbone of ``config["checkpoint"]``, else HRNet's initial one (see module docs)."""
    from kpbench_plugins.hrnet.method import HRNetMethod
    from kpbench_plugins.hrnet.model import HRNet

    if config.get("checkpoint"):
        features = HighResolutionFeatures(HRNet(width=int(config["width"]), num_keypoints=1))
        weights = load_encoder_state(features.net, config["checkpoint"], "", "hrnet")
    else:
        initial = HRNetMethod(config, 1)  # loads `pretrained` as a pose2d run would
        features = HighResolutionFeatures(initial.model)
        weights = (
            "no checkpoint (set checkpoint=PATH to score a trained HRNet): HRNet's initial "
            f"backbone, {initial.pretrained}"
        )
    return FrozenEncoderMethod(features, STRIDE, weights)
