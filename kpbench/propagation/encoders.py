"""What a method exposes to the propagation protocol: an :class:`Encoder` of frames to features.

Every method scored by the ``propagation`` task gives the same propagator
(:func:`kpbench.propagation.propagator.propagate`) one encoder: a callable from a batch of
RGB frames to a feature map at a fixed stride. :class:`ModuleEncoder` turns any
``torch.nn.Module`` into one; :func:`resnet18_stride8` is the backbone CRW, UVC and the
colorization baseline evaluate with (the ``random_encoder`` and ``imagenet_encoder``
baselines of the task use it too).

torch is imported lazily: importing this module costs nothing.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

from kpbench.errors import ConfigError

#: ImageNet channel statistics (RGB in [0, 1]), the normalisation torchvision's weights expect.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Encoder(Protocol):
    """Frames → features, as the propagator calls it.

    Attributes:
        stride: feature cell size in input pixels (e.g. 8). The features of an ``H × W``
            input are ``ceil(H / stride) × ceil(W / stride)`` cells; cell ``(i, j)`` is centred
            on input pixel ``((j + 0.5) · stride, (i + 0.5) · stride)``. (``floor`` instead of
            ``ceil`` is accepted too, as a convolution without full padding gives.)
    """

    stride: int

    def __call__(self, frames: Any) -> Any:
        """``frames`` (B, 3, H, W) float32 RGB in [0, 1] on the encoder's device →
        features (B, C, ceil(H / stride), ceil(W / stride))."""


class ModuleEncoder:
    """An :class:`Encoder` from a ``torch.nn.Module`` that maps normalised images to features.

    The frames are normalised per channel (``(x − mean) / std``; ImageNet's by default) and
    run through ``module`` in eval mode without gradients (the module's train/eval mode is
    restored afterwards, so a method may encode between training steps).

    Args:
        module: (B, 3, H, W) normalised images → (B, C, ceil(H/stride), ceil(W/stride)).
        stride: the module's feature cell size in input pixels.
        mean, std: per-channel RGB statistics; ``mean=(0, 0, 0), std=(1, 1, 1)`` feeds [0, 1].
    """

    def __init__(self, module: Any, stride: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        if int(stride) < 1:
            raise ConfigError(f"ModuleEncoder: stride must be a positive integer, got {stride!r}")
        if len(mean) != 3 or len(std) != 3 or any(float(s) <= 0 for s in std):
            raise ConfigError(
                f"ModuleEncoder: mean and std need 3 values each (RGB), std > 0; got {mean}, {std}"
            )
        self.module, self.stride = module, int(stride)
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)

    def __repr__(self) -> str:
        return f"ModuleEncoder({type(self.module).__name__}, stride={self.stride})"

    @property
    def device(self):
        """The device of the module's first parameter (CPU for a module without any)."""
        import torch

        first = next(iter(self.module.parameters()), None)
        return first.device if first is not None else torch.device("cpu")

    def to(self, device) -> ModuleEncoder:
        """Move the module to ``device``; returns self."""
        self.module.to(device)
        return self

    def __call__(self, frames):
        import torch

        mean = torch.tensor(self.mean, dtype=frames.dtype, device=frames.device)[:, None, None]
        std = torch.tensor(self.std, dtype=frames.dtype, device=frames.device)[:, None, None]
        was_training = self.module.training
        self.module.eval()
        try:
            with torch.no_grad():
                return self.module((frames - mean) / std)
        finally:
            self.module.train(was_training)


def feature_size(height: int, width: int, stride: int) -> tuple[int, int]:
    """``(ceil(height / stride), ceil(width / stride))``: the cells an encoder must return."""
    return math.ceil(height / stride), math.ceil(width / stride)


#: The torchvision ResNet-18 parts :func:`resnet18_stride8` keeps, in order.
RESNET18_STRIDE8_PARTS = ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3")


def resnet18_stride8(weights: str | Path | None = None):
    """ResNet-18 cut after ``layer3`` (res4) with ``layer3`` at stride 1: 256 channels, stride 8.

    Exactly: torchvision's ``resnet18`` (BasicBlock, [2, 2, 2, 2]) keeping ``conv1`` (7×7,
    stride 2), ``bn1``, ``relu``, ``maxpool`` (stride 2), ``layer1`` (stride 1), ``layer2``
    (stride 2) and ``layer3`` with the stride of its first block's 3×3 conv and its 1×1
    downsample conv set from 2 to 1, so the output stride is 2·2·2 = 8; ``layer4``,
    ``avgpool`` and ``fc`` are dropped. This is CRW's test encoder (``videowalk``
    ``resnet.modify`` sets layer3/layer4 strides to 1 and the test removes ``layer4``) and the
    ResNet-18 res4 stride-8 variant UVC and the colorization baseline propagate with. A
    320 × 320 frame gives 256 × 40 × 40 features. The module is an ``nn.Sequential`` whose
    children keep torchvision's names, so a torchvision state dict loads into it by name.

    Args:
        weights: a torchvision ResNet-18 state dict file (e.g. ImageNet's
            ``resnet18-f37072fd.pth``), loaded with ``torch.load(weights_only=True)``; its
            ``layer4``/``fc`` entries are ignored. None = random initialisation (PyTorch's
            default, seeded by the caller's torch seed).

    Returns:
        The module, in eval mode, on the CPU.

    Raises:
        ConfigError: the file cannot be read, or it lacks a tensor the module needs, or a
            tensor's shape differs (not a ResNet-18 state dict).
    """
    from collections import OrderedDict

    import torch
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    for m in net.layer3.modules():
        if isinstance(m, torch.nn.Conv2d) and m.stride == (2, 2):
            m.stride = (1, 1)
    module = torch.nn.Sequential(OrderedDict((n, getattr(net, n)) for n in RESNET18_STRIDE8_PARTS))
    if weights is not None:
        from kpbench.weights import load_state_dict

        state, own = load_state_dict(weights), module.state_dict()
        missing = [k for k in own if k not in state]
        wrong = [k for k in own if k in state and state[k].shape != own[k].shape]
        if missing or wrong:
            bad = missing or wrong
            raise ConfigError(
                f"weight file {str(weights)!r} is not a torchvision ResNet-18 state dict: "
                f"{len(bad)} tensors {'missing' if missing else 'of the wrong shape'} "
                f"(e.g. {bad[0]!r}); give resnet18-f37072fd.pth or a resnet18().state_dict()"
            )
        module.load_state_dict({k: state[k] for k in own})
    return module.eval()
