"""HRNet for top-down pose estimation: the network and its pretrained-weight loader.

Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation", CVPR 2019
(https://arxiv.org/abs/1902.09212); reference code ``leoxiaobin/deep-high-resolution-net.pytorch``
(``lib/models/pose_hrnet.py``, ``experiments/coco/hrnet/w{32,48}_*.yaml``).

Module and parameter names are those of the reference ``PoseHighResolutionNet``, so its state
dicts (COCO-trained ``pose_hrnet_w32_256x192.pth`` etc.) load with ``strict=True``, and the
ImageNet backbone files of ``HRNet-Image-Classification`` load with :func:`load_pretrained`.

Layout (``width`` = C; all feature maps at 1/4, 1/8, 1/16, 1/32 of the input):

* stem: two 3×3 stride-2 convs to 64 channels (BN, ReLU): the network runs at 1/4 resolution;
* stage 1 (``layer1``): 4 Bottlenecks, 64 → 256 channels;
* stages 2/3/4: 1/4/3 modules with 2/3/4 branches of C·(1, 2, 4, 8) channels, 4 BasicBlocks per
  branch, then multi-resolution fusion; ``transition{1,2,3}`` adapt widths and open a new branch;
* the last module of stage 4 fuses only into the highest-resolution branch; ``final_layer`` is a
  1×1 conv to K heatmaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from kpbench.errors import ConfigError
from kpbench.weights import load_state_dict

#: File names of the ImageNet-pretrained backbones (HRNet-Image-Classification), by width.
IMAGENET_FILES: dict[int, str] = {32: "hrnet_w32-36af842e.pth", 48: "hrnet_w48-8ef0771d.pth"}

#: (modules, branches) of stages 2, 3 and 4; every branch holds 4 BasicBlocks.
STAGES: tuple[tuple[int, int], ...] = ((1, 2), (4, 3), (3, 4))
BLOCKS_PER_BRANCH = 4


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class BasicBlock(nn.Module):
    """Two 3×3 conv-BN pairs with an identity shortcut (same width in and out)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = _conv3x3(channels, channels)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = _conv3x3(channels, channels)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 wide) conv-BN; a 1×1 conv-BN shortcut when the width changes."""

    expansion = 4

    def __init__(self, cin: int, planes: int):
        super().__init__()
        cout = planes * self.expansion
        self.conv1 = nn.Conv2d(cin, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, cout, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, kernel_size=1, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


def _fuse_path(channels: Sequence[int], src: int, dst: int) -> nn.Module:
    """The path from branch ``src`` to branch ``dst`` (a higher index is a lower resolution).

    Up (src > dst): 1×1 conv + BN to the target width, then nearest upsampling.
    Down (src < dst): one stride-2 3×3 conv + BN per halving; all but the last keep the source
    width and end in ReLU, the last maps to the target width without ReLU.
    Same branch: identity (``None`` in the reference; neither holds parameters).
    """
    if src == dst:
        return nn.Identity()
    if src > dst:
        return nn.Sequential(
            nn.Conv2d(channels[src], channels[dst], 1, 1, 0, bias=False),
            nn.BatchNorm2d(channels[dst]),
            nn.Upsample(scale_factor=2 ** (src - dst), mode="nearest"),
        )
    steps = dst - src
    return nn.Sequential(
        *(
            _conv_bn(
                channels[src],
                channels[dst] if k == steps - 1 else channels[src],
                3,
                2,
                relu=k < steps - 1,
            )
            for k in range(steps)
        )
    )


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks, then every output branch sums all inputs and ReLUs.

    ``fuse_layers[dst][src]`` maps branch ``src`` to branch ``dst``; with ``all_outputs=False``
    only the highest-resolution output (``dst = 0``) is built and returned.
    """

    def __init__(self, channels: Sequence[int], all_outputs: bool = True):
        super().__init__()
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c) for _ in range(BLOCKS_PER_BRANCH))) for c in channels
        )
        n_out = len(channels) if all_outputs else 1
        self.fuse_layers = nn.ModuleList(
            nn.ModuleList(_fuse_path(channels, src, dst) for src in range(len(channels)))
            for dst in range(n_out)
        )
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        out = []
        for paths in self.fuse_layers:
            y = paths[0](xs[0])
            for src in range(1, len(xs)):
                y = y + paths[src](xs[src])
            out.append(self.relu(y))
        return out


class HRNet(nn.Module):
    """HRNet-W``width`` pose network: ``(B, 3, H, W)`` → ``(B, K, H/4, W/4)`` heatmaps.

    H and W must be multiples of 32 (four resolutions, each half the previous one, must align in
    the fusion). Sizes of the reference: W32 28,536,113 and W48 63,595,745 parameters at K=17.

    Args:
        width: channels of the highest-resolution branch (32 and 48 are the published ones).
        num_keypoints: K, the number of heatmaps.
    """

    def __init__(self, width: int = 32, num_keypoints: int = 17):
        super().__init__()
        if width < 1 or num_keypoints < 1:
            raise ValueError(f"HRNet: width {width} and num_keypoints {num_keypoints} must be >= 1")
        self.width = width
        self.num_keypoints = num_keypoints
        self.conv1 = _conv3x3(3, 64, stride=2)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = _conv3x3(64, 64, stride=2)
        self.bn2 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(*(Bottleneck(64 if i == 0 else 256, 64) for i in range(4)))

        previous = [256]
        for s, (n_modules, n_branches) in enumerate(STAGES, start=2):
            channels = [width * 2**b for b in range(n_branches)]
            setattr(self, f"transition{s - 1}", self._transition(previous, channels))
            last_stage = s == 1 + len(STAGES)
            modules = (
                HighResolutionModule(channels, all_outputs=not (last_stage and m == n_modules - 1))
                for m in range(n_modules)
            )
            setattr(self, f"stage{s}", nn.Sequential(*modules))
            previous = channels
        self.final_layer = nn.Conv2d(width, num_keypoints, kernel_size=1, stride=1, padding=0)
        self.init_weights()

    @staticmethod
    def _transition(cin: Sequence[int], cout: Sequence[int]) -> nn.ModuleList:
        """Existing branches: 3×3 conv-BN-ReLU where the width changes (else identity); the new
        branch: a stride-2 3×3 conv-BN-ReLU from the lowest-resolution previous branch."""
        layers: list[nn.Module] = []
        for i, c in enumerate(cout):
            if i < len(cin):
                layers.append(nn.Identity() if cin[i] == c else _conv_bn(cin[i], c, 3, 1, True))
            else:  # the reference allows several halvings here; HRNet only ever adds one branch
                layers.append(nn.Sequential(_conv_bn(cin[-1], c, 3, 2, True)))
        return nn.ModuleList(layers)

    def init_weights(self) -> None:
        """The reference's init: conv weights N(0, 0.001), conv biases 0, BN weight 1, bias 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.001)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The highest-resolution branch after the last stage (stride 4, ``width`` channels)."""
        h, w = x.shape[-2:]
        if h % 32 or w % 32:
            raise ValueError(f"HRNet: input size {h}x{w} is not a multiple of 32 in both sides")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for s in range(2, 2 + len(STAGES)):
            transition = getattr(self, f"transition{s - 1}")
            xs = [t(xs[i] if i < len(xs) else xs[-1]) for i, t in enumerate(transition)]
            xs = getattr(self, f"stage{s}")(xs)
        return xs[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.features(x))


def load_pretrained(model: HRNet, path: str | Path) -> dict:
    """Load the tensors of a state dict file that fit ``model`` (``weights_only=True``).

    Keys are matched after stripping a ``module.`` prefix (DataParallel checkpoints). Keys the
    model lacks are skipped (ImageNet classification files also hold ``incre_modules``,
    ``downsamp_modules``, a classification ``final_layer.*`` and ``classifier``), and so is
    ``final_layer`` when its K differs; a backbone tensor of the wrong shape is an error.

    Returns:
        ``{"source": str(path), "loaded": n, "of": len(model.state_dict()), "skipped": m}``
        with ``m`` the file's keys that were not used.

    Raises:
        ConfigError: the file cannot be read, shares no key with the model, or holds a backbone
            tensor of another shape (e.g. a file of another width).
    """
    state = load_state_dict(path)
    state = {k.removeprefix("module."): v for k, v in state.items()}
    own = model.state_dict()
    use: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key not in own:
            continue
        if value.shape == own[key].shape:
            use[key] = value
        elif not key.startswith("final_layer."):
            raise ConfigError(_shape_error(model, path, key, value, own[key], state))
    if not use:
        raise ConfigError(
            f"weight file {str(path)!r} shares no tensor name with HRNet-W{model.width} "
            f"(e.g. {next(iter(state))!r}); give an HRNet pose or ImageNet backbone file, "
            f"e.g. {IMAGENET_FILES.get(model.width, IMAGENET_FILES[32])}"
        )
    model.load_state_dict(use, strict=False)
    return {
        "source": str(path),
        "loaded": len(use),
        "of": len(own),
        "skipped": len(state) - len(use),
    }


def _shape_error(model: HRNet, path, key: str, got: torch.Tensor, want: torch.Tensor, state) -> str:
    probe = state.get("transition1.0.0.weight")
    file_width = int(probe.shape[0]) if probe is not None and probe.ndim == 4 else None
    hint = (
        f"is it an HRNet-W{file_width} file? " if file_width and file_width != model.width else ""
    )
    need = IMAGENET_FILES.get(model.width)
    fix = f"width {model.width} needs {need}" if need else f"give an HRNet-W{model.width} file"
    return (
        f"weight file {str(path)!r} does not fit HRNet-W{model.width}: {key} has shape "
        f"{tuple(got.shape)}, the model wants {tuple(want.shape)}; {hint}{fix}"
    )
