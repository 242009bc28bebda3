"""BKinD's image encoder scored under the ``propagation`` protocol, without training.

The features are the ResNet's ``layer2`` output (C3, stride 8, 512 channels for ResNet-50): the
stride the propagation papers use. A run loads the encoder of a BKinD checkpoint written by an
earlier ``discovery2d`` run (``--set checkpoint=PATH``: the ``checkpoint.pt``, its run folder
or its record; same ``backbone``); without one, the encoder has the weights BKinD starts from
(``encoder_weights``: ImageNet when found, else random), and ``notes.encoder_weights`` says so.
"""

from __future__ import annotations

from torch import nn

from kpbench.propagation.frozen import FrozenEncoderMethod, load_encoder_state
from kpbench.weights import TORCHVISION_FILES, find_weights

#: The C3 features' cell size in input pixels.
STRIDE = 8


class StrideEightFeatures(nn.Module):
    """A BKinD ``ResNetEncoder`` cut after ``layer2``: normalised images → C3 features."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    def forward(self, x):
        e = self.encoder
        return e.layer2(e.layer1(e.maxpool(e.relu(e.bn1(e.conv1(x))))))


def build_propagation(config: dict) -> FrozenEncoderMethod:
    """The encoder of ``config["checkpoint"]``, else BKinD's initial encoder (see module docs)."""
    from kpbench_plugins.bkind.model import ResNetEncoder

    encoder = ResNetEncoder(config["backbone"])
    if config.get("checkpoint"):
        weights = load_encoder_state(encoder, config["checkpoint"], "encoder.", "bkind")
    else:
        choice = config["encoder_weights"]
        path = None if choice is None else find_weights(
            TORCHVISION_FILES[config["backbone"]], choice, key="encoder_weights"
        )  # fmt: skip
        if path is not None:
            encoder.load_imagenet(path)
        weights = "no checkpoint (set checkpoint=PATH to score a trained BKinD): " + (
            f"BKinD's initial encoder, ImageNet weights {path}" if path else "random init"
        )
    return FrozenEncoderMethod(StrideEightFeatures(encoder), STRIDE, weights)
