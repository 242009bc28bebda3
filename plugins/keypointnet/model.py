"""OrientNet and KeypointNet: dilated 3×3 convolution stacks with spatial-softmax heads.

As the reference (tensorflow/models ``research/keypointnet/main.py``: ``dilated_cnn``,
``orientation_network``, ``keypoint_network``):

* **Backbone**: 3×3 convolutions at full resolution ("same" padding) with dilations
  ``[1, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1]``, each followed by batch norm and LeakyReLU(0.1).
  slim's ``conv2d`` with ``normalizer_fn=batch_norm`` has no bias and slim's ``batch_norm``
  learns a shift but no scale (``center=True, scale=False``): :class:`BatchNormShift`.
* **OrientNet**: that backbone at ``num_filters / 2`` on RGB, a 3×3 head (with bias) of 2
  channels, each a spatial softmax → expected NDC position: where the object's +x and −x axis
  ends project. The flag ``x₊ > x₋`` (a 4th input channel of the keypoint net) tells which
  way the object faces.
* **KeypointNet**: the backbone at ``num_filters`` on RGB + flag, two 3×3 heads of K
  channels: ``conv_xy`` → spatial softmax ``p_k`` → ``(u, v)_k = Σ p_k · grid``, and
  ``conv_z`` → ``z_k = depth_bias + Σ p_k · z_map_k``.

Images are (B, 3, S, S) floats in [0, 1]; NDC has x right and y down (see
:mod:`kpbench_plugins.keypointnet.geometry`). The expectations are element-wise sums, so
``torch.utils.flop_counter`` counts the convolutions only.
"""

from __future__ import annotations

import torch
from torch import nn

#: The reference's dilation rates, one per backbone layer.
DILATIONS = (1, 1, 2, 4, 8, 16, 1, 2, 4, 8, 16, 1)


class BatchNormShift(nn.Module):
    """Batch norm with a learned shift and no scale (slim's ``batch_norm`` default)."""

    def __init__(self, channels: int, momentum: float = 0.001, eps: float = 1e-3):
        super().__init__()
        # slim: decay 0.999 (PyTorch momentum 0.001), epsilon 0.001
        self.norm = nn.BatchNorm2d(channels, eps=eps, momentum=momentum, affine=False)
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x) + self.bias[:, None, None]


def backbone(inputs: int, width: int, dilations, bn_momentum: float) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, rate in enumerate(dilations):
        layers += [
            nn.Conv2d(inputs if i == 0 else width, width, 3, padding=rate, dilation=rate,
                      bias=False),
            BatchNormShift(width, bn_momentum),
            nn.LeakyReLU(0.1),
        ]  # fmt: skip
    return nn.Sequential(*layers)


def ndc_grid(h: int, w: int, device=None, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(H, W) NDC x (right) and y (down) of the pixel centres."""
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) / (h / 2) - 1
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) / (w / 2) - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return gx, gy


def spatial_softmax(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, C, H, W) logits → probability maps (B, C, H, W) and expected NDC (B, C, 2)."""
    b, c, h, w = logits.shape
    prob = torch.softmax(logits.flatten(2), -1).view(b, c, h, w)
    gx, gy = ndc_grid(h, w, logits.device, logits.dtype)
    uv = torch.stack([(prob * gx).sum((2, 3)), (prob * gy).sum((2, 3))], -1)
    return prob, uv


class OrientNet(nn.Module):
    """RGB → NDC of the projected object-space points (+1, 0, 0) and (−1, 0, 0): (B, 2, 2)."""

    def __init__(self, width: int, dilations=DILATIONS, bn_momentum: float = 0.001):
        super().__init__()
        self.features = backbone(3, width, dilations, bn_momentum)
        self.head = nn.Conv2d(width, 2, 3, padding=1)

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        return spatial_softmax(self.head(self.features(rgb)))[1]


class KeypointNet(nn.Module):
    """The two networks of the paper; :meth:`forward` runs one view (one image per row)."""

    def __init__(self, num_keypoints: int = 10, num_filters: int = 64, dilations=DILATIONS,
                 depth_bias: float = 30.0, bn_momentum: float = 0.001):  # fmt: skip
        super().__init__()
        self.orient = OrientNet(num_filters // 2, dilations, bn_momentum)
        self.features = backbone(4, num_filters, dilations, bn_momentum)
        self.conv_xy = nn.Conv2d(num_filters, num_keypoints, 3, padding=1)
        self.conv_z = nn.Conv2d(num_filters, num_keypoints, 3, padding=1)
        self.register_buffer("depth_bias", torch.tensor(float(depth_bias)))

    def forward(self, rgb: torch.Tensor, flag_gt: torch.Tensor | None = None,
                anneal: float = 1.0) -> dict:  # fmt: skip
        """One view per row: ``rgb`` (B, 3, S, S) in [0, 1]. The orientation flag fed to the
        keypoint net is OrientNet's own (``x₊ > x₋``) when ``flag_gt`` is None, else (training)
        ``round(anneal · flag_gt + (1 − anneal) · own)``, as the reference anneals it.

        Returns:
            ``uv`` (B, K, 2) NDC, ``z`` (B, K) depth, ``prob`` (B, K, S, S), ``orient``
            (B, 2, 2) NDC of +x / −x, ``flag`` (B,) the flag fed.
        """
        orient = self.orient(rgb)
        flag = (orient[:, 0, 0] > orient[:, 1, 0]).to(rgb.dtype).detach()
        if flag_gt is not None:
            flag = torch.round(anneal * flag_gt.to(rgb.dtype) + (1.0 - anneal) * flag)
        tiled = flag[:, None, None, None].expand(-1, 1, *rgb.shape[2:])
        net = self.features(torch.cat([rgb, tiled], 1))
        prob, uv = spatial_softmax(self.conv_xy(net))
        z = self.depth_bias + (prob * self.conv_z(net)).sum((2, 3))
        return {"uv": uv, "z": z, "prob": prob, "orient": orient, "flag": flag}
