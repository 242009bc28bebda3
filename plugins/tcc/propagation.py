"""TCC's frame encoder scored under the ``propagation`` protocol, without training.

The features are the encoder's output, the embedder's input: the ResNet cut at ``layer3``
(stride 16; 1024 channels for ResNet-50, 256 for ResNet-18), fed frames scaled to [−1, 1] as
TCC trains it. A run loads the encoder of a TCC checkpoint written by an earlier pixel
``alignment`` run (``--set checkpoint=PATH``: the ``checkpoint.pt``, its run folder or its
record; same ``backbone``); without one, the encoder has the weights TCC starts from
(``pretrained``: ImageNet when found, else random), and ``notes.encoder_weights`` says so.
"""

from __future__ import annotations

from kpbench.propagation.frozen import FrozenEncoderMethod, load_encoder_state
from kpbench.weights import TORCHVISION_FILES, find_weights

#: The features' cell size in input pixels.
STRIDE = 16
#: (x − 0.5) / 0.5: TCC's inputs are scaled to [−1, 1].
UNIT_TO_SIGNED = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


def build_propagation(config: dict) -> FrozenEncoderMethod:
    """The encoder of ``config["checkpoint"]``, else TCC's initial one (see module docs)."""
    from kpbench_plugins.tcc.model import FrameEncoder, load_imagenet

    encoder = FrameEncoder(config["backbone"])
    if config.get("checkpoint"):
        weights = load_encoder_state(encoder, config["checkpoint"], "encoder.", "tcc")
    else:
        choice = config["pretrained"]
        path = None if choice in (None, False, "none") else find_weights(
            TORCHVISION_FILES[config["backbone"]], choice, key="pretrained"
        )  # fmt: skip
        if path is not None:
            load_imagenet(encoder, path)
        weights = "no checkpoint (set checkpoint=PATH to score a trained TCC): " + (
            f"TCC's initial encoder, ImageNet weights {path}" if path else "random init"
        )
    mean, std = UNIT_TO_SIGNED
    return FrozenEncoderMethod(encoder, STRIDE, weights, mean=mean, std=std)
