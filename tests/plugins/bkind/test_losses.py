"""BKinD losses on hand-built inputs: closed forms, toy detectors, and the curriculum."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn

from kpbench import weights
from kpbench.errors import ConfigError, DataError
from kpbench_plugins.bkind import losses as L
from kpbench_plugins.bkind.model import IMAGENET_MEAN, IMAGENET_STD, BKinD, render_gaussians

SMALL = {
    "backbone": "resnet18",
    "image_size": 64,
    "decoder_channels": (32, 16, 16, 16, 16),
    "head_channels": 16,
}


def normalise(img01: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (img01 - mean) / std


def blob_image(centres, size=32) -> torch.Tensor:
    """(B, 3, size, size) normalised images, black with a bright 3×3 square at each (x, y) pixel."""
    img = torch.zeros(len(centres), 3, size, size)
    for b, (x, y) in enumerate(centres):
        img[b, :, y - 1 : y + 2, x - 1 : x + 2] = 1.0
    return normalise(img)


class CentroidDetector(nn.Module):
    """Keypoint = brightness-weighted centroid in [-1, 1]: rotating the image rotates the keypoint."""

    def detect(self, images):
        w = images[:, :1] - images[:, :1].amin(dim=(2, 3), keepdim=True)
        h, wd = w.shape[-2:]
        ys, xs = torch.linspace(-1, 1, h), torch.linspace(-1, 1, wd)
        total = w.sum((2, 3))
        x = (w.sum(2) * xs).sum(-1) / total
        y = (w.sum(3) * ys).sum(-1) / total
        return {"keypoints": torch.stack([x, y], -1)}  # (B, 1, 2)


class FixedDetector(nn.Module):
    """Ignores the image: not rotation-equivariant."""

    def detect(self, images):
        return {"keypoints": torch.tensor([[[0.5, -0.3]]]).expand(len(images), 1, 2)}


# -- separation ----------------------------------------------------------------------------------
def test_separation_two_points_closed_form():
    for d in (0.0, 0.05, 0.1, 0.3):
        kp = torch.tensor([[[0.0, 0.0], [d, 0.0]]])
        want = 0.05 * math.exp(-(d**2) / (2 * 0.08**2)) / 2  # mean over the 4 (i, j), diagonal 0
        assert L.separation_loss(kp).item() == pytest.approx(want, rel=1e-6)


def test_separation_falls_as_points_move_apart_and_has_finite_gradient():
    values = [
        L.separation_loss(torch.tensor([[[-s, 0.0], [s, 0.1], [0.0, s]]])).item()
        for s in (0.0, 0.05, 0.1, 0.2, 0.5)
    ]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))
    kp = torch.zeros(2, 4, 2, requires_grad=True)
    L.separation_loss(kp).backward()
    assert torch.isfinite(kp.grad).all()
    assert L.separation_loss(torch.zeros(1, 3, 2), sigma=0.1, weight=1.0).item() == pytest.approx(
        6 / 9
    )


# -- rotation equivariance ---------------------------------------------------------------------
def test_rot90_matches_tf_rotate_and_the_reference_affine_rotation():
    torch.manual_seed(0)
    img = torch.rand(2, 3, 16, 16)
    maps = torch.rand(2, 5, 16, 16)
    for k, deg in zip(L.QUARTER_TURNS, (90, 180, -90), strict=True):
        torch.testing.assert_close(torch.rot90(img, k, dims=(-2, -1)), TF.rotate(img, deg))
        # reference rotation_loss.rot_img: affine_grid with theta [[c, -s, 0], [s, c, 0]]
        a = math.radians(deg)
        theta = torch.tensor(
            [[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]
        ).expand(2, 2, 3)
        ref = F.grid_sample(
            maps, F.affine_grid(theta, list(maps.shape), align_corners=False), align_corners=False
        )
        torch.testing.assert_close(torch.rot90(maps, k, dims=(-2, -1)), ref, atol=1e-5, rtol=0)


def test_equivariance_is_zero_for_an_equivariant_detector():
    frames = blob_image([(8, 5), (20, 25)])
    det = CentroidDetector()
    kp = det.detect(frames)["keypoints"]
    loss, rotated = L.rotation_equivariance_loss(det, frames, kp)
    assert loss.item() == pytest.approx(0.0, abs=1e-8)
    assert len(rotated) == 3
    # 90° counter-clockwise on screen maps (x, y) to (y, -x); 180° to (-x, -y); -90° to (-y, x)
    x, y = kp[..., 0], kp[..., 1]
    for got, want in zip(rotated, [(y, -x), (-x, -y), (-y, x)], strict=True):
        torch.testing.assert_close(got, torch.stack(want, -1), atol=1e-5, rtol=0)


def test_equivariance_is_positive_for_a_fixed_detector_and_its_target_is_detached():
    frames = blob_image([(8, 5)])
    kp = torch.tensor([[[0.5, -0.3]]], requires_grad=True)
    loss, _ = L.rotation_equivariance_loss(FixedDetector(), frames, kp)
    assert loss.item() > 0.1
    assert not loss.requires_grad  # only the (constant) detections could carry a gradient
    with pytest.raises(DataError, match="square"):
        L.rotation_equivariance_loss(FixedDetector(), torch.zeros(1, 3, 16, 32), kp)


def test_equivariance_term_equals_the_hand_computed_mean():
    frames = blob_image([(8, 5)])
    kp = torch.tensor([[[0.5, -0.3]]])
    loss, _ = L.rotation_equivariance_loss(FixedDetector(), frames, kp, size=16)
    g = render_gaussians(kp, 16, 0.001)
    want = sum(F.mse_loss(g, torch.rot90(g, k, dims=(-2, -1))) for k in (1, 2, -1)) / 3
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


# -- SSIM structure target -------------------------------------------------------------------------
def test_ssim_target_is_zero_for_identical_frames_and_local_where_they_differ():
    torch.manual_seed(0)
    a = torch.rand(2, 3, 48, 48) * 0.5 + 0.25
    b = a.clone()
    b[:, :, 30:38, 30:38] = torch.rand(2, 3, 8, 8)
    target = L.ssim_structure_target(normalise(a), normalise(a))
    assert tuple(target.shape) == (2, 3, 48, 48)
    assert torch.count_nonzero(target) == 0
    s = L.ssim_structure_target(normalise(a), normalise(b))
    torch.testing.assert_close(s[:, 0], s[:, 2])
    assert s[:, :, 30:38, 30:38].min() > 0.05
    assert s[:, :, :12, :12].abs().max() < 1e-6  # far from the change: nothing


def test_ssim_target_matches_an_independent_scipy_computation():
    from scipy.ndimage import correlate

    torch.manual_seed(1)
    a, b = torch.rand(1, 3, 24, 24), torch.rand(1, 3, 24, 24)
    got = L.ssim_structure_target(normalise(a), normalise(b))[0, 0].double().numpy()

    def window(sigma):
        g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * sigma**2))
        g /= g.sum()
        return np.outer(g, g)

    def blur(img, w):  # 'valid' correlation
        return correlate(img, w, mode="constant")[5:-5, 5:-5]

    w = window(1.5)
    cs = []
    for c in range(3):
        x = np.pad(a[0, c].double().numpy(), 10, mode="edge")
        y = np.pad(b[0, c].double().numpy(), 10, mode="edge")
        mx, my = blur(x, w), blur(y, w)
        vx, vy, cxy = blur(x * x, w) - mx**2, blur(y * y, w) - my**2, blur(x * y, w) - mx * my
        cs.append((2 * cxy + 0.03**2) / (vx + vy + 0.03**2))
    want = blur(1 - np.mean(cs, axis=0), window(1.0))
    np.testing.assert_allclose(got, want, atol=2e-4)


# -- perceptual loss -------------------------------------------------------------------------------
@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    return tmp_path


def test_perceptual_without_vgg_weights_is_pixel_only(no_weights):
    loss = L.PerceptualLoss()
    assert loss.source == "pixel MSE only (no VGG-19 weights found)"
    assert L.PerceptualLoss(mode="pixel").source == "pixel MSE only (pixel mode)"
    a, b = torch.zeros(1, 3, 8, 8), torch.full((1, 3, 8, 8), 0.5)
    assert loss(a, a).item() == 0.0
    m = 0.25
    assert loss(a, b).item() == pytest.approx(m / (0.99 * 100 + 0.01 * m))
    with pytest.raises(ConfigError, match="vgg19-dcbb9e9d.pth"):
        L.PerceptualLoss(mode="vgg19")
    with pytest.raises(ConfigError, match="valid: auto, vgg19, pixel"):
        L.PerceptualLoss(mode="lpips")


@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A torchvision-format VGG-19 state dict (random values; only ``features.*`` is needed)."""
    import torchvision

    torch.manual_seed(0)
    features = torchvision.models.vgg19().features
    path = tmp_path_factory.mktemp("vgg") / weights.TORCHVISION_FILES["vgg19"]
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)
    return path


def test_perceptual_with_vgg_weights(vgg_file, no_weights, monkeypatch):
    monkeypatch.setenv(weights.ENV_VAR, str(vgg_file.parent))
    loss = L.PerceptualLoss()
    assert loss.source == f"vgg19 ImageNet ({vgg_file})"
    assert not any(p.requires_grad for p in loss.parameters())
    torch.manual_seed(0)
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32, requires_grad=True)
    assert loss(a, a).item() == 0.0
    value = loss(b, a)
    value.backward()
    assert value.item() > L.PerceptualLoss(mode="pixel")(b, a).item()
    assert b.grad.abs().sum() > 0

    # The 6th weight goes with relu5_2 (features[31]): switch every other term off.
    only5 = L.PerceptualLoss(mode="vgg19", weights=vgg_file, perc_weight=(1e30,) * 5 + (2.0,))
    with torch.no_grad():
        fa, fb = only5.features(a), only5.features(b)
        m = (fa - fb).square().mean()
        assert only5(b, a).item() == pytest.approx((m / (0.99 * 2.0 + 0.01 * m)).item(), rel=1e-5)


# -- total loss and curriculum ------------------------------------------------------------------
def test_bkind_loss_respects_the_curriculum():
    torch.manual_seed(0)
    model = BKinD(num_keypoints=3, **SMALL)
    a, b = torch.randn(2, 3, 64, 64), torch.randn(2, 3, 64, 64)

    total, parts = L.bkind_loss(model, a, b, epoch=3, curriculum=4)
    assert set(parts) == {"reconstruction", "equivariance", "separation"}
    assert parts["equivariance"].item() == 0.0 and parts["separation"].item() == 0.0
    assert total.item() == pytest.approx(parts["reconstruction"].item()) and total.item() > 0

    total, parts = L.bkind_loss(model, a, b, epoch=4, curriculum=4)
    assert parts["equivariance"].item() > 0 and parts["separation"].item() > 0
    assert total.item() == pytest.approx(sum(p.item() for p in parts.values()), rel=1e-6)
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
