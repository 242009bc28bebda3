"""UVC: box tracking of a translated patch, the matching and its regularisers on built cases,
Lab as OpenCV computes it, training on a tiny video, conformance and the reference figures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tracker_testing import TrainVideos, context, one_thread  # noqa: F401

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.propagation.clips import ClipSampler
from kpbench.testing import check_method, check_reference
from kpbench_plugins.uvc import losses as L
from kpbench_plugins.uvc.colour import rgb_to_lab

SPEC = get_registry().method("uvc")


def config(**over):
    return resolve(SPEC, "smoke", None, over)[0]


def tiny_videos(videos: int = 2) -> list[np.ndarray]:
    """Train videos: a textured background, two coloured squares drifting across it."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(videos):
        bg = np.kron(rng.integers(0, 255, (6, 6, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        frames = np.repeat(bg[None], 24, 0)
        for t in range(24):
            frames[t, 6 + t // 2 : 16 + t // 2, 4 + t : 14 + t] = (255, 40, 40)
            frames[t, 28:38, 30 - t : 40 - t] = (40, 40, 255)
        out.append(frames)
    return out


def test_box_tracking_finds_a_translated_patch():
    g = torch.Generator().manual_seed(0)
    frame1 = F.normalize(torch.randn(2, 32, 16, 16, generator=g), dim=1)
    shifts = [(3, -2), (-4, 5)]  # (dx, dy) in cells
    frame2 = torch.stack([torch.roll(f, (dy, dx), (1, 2)) for f, (dx, dy) in zip(frame1, shifts)])
    # a 6 x 6 patch of frame 1 around cells (5..10, 4..9): its centre in [-1, 1] coordinates
    patch = frame1[:, :, 4:10, 5:11]
    centre1 = torch.tensor([(5 + 3) / 16 * 2 - 1, (4 + 3) / 16 * 2 - 1])
    centre, coords = L.localise(patch, frame2, temp=50.0)
    expected = centre1 + torch.tensor([[dx, dy] for dx, dy in shifts]) / 16 * 2
    torch.testing.assert_close(centre, expected, atol=1e-4, rtol=0)
    # the box crops frame 2 to exactly the patch
    cropped = L.crop(frame2, centre, (6, 6), (6, 6))
    torch.testing.assert_close(cropped, patch, atol=1e-4, rtol=0)
    assert coords.shape == (2, 36, 2)


def test_the_box_stays_inside_the_frame():
    g = torch.Generator().manual_seed(1)
    frame = F.normalize(torch.randn(1, 8, 12, 12, generator=g), dim=1)
    patch = frame[:, :, :4, :4]  # a corner patch: its box centre is the corner's
    centre, _ = L.localise(patch, frame, temp=50.0)
    torch.testing.assert_close(
        centre, torch.tensor([[-1 + 4 / 12, -1 + 4 / 12]]), atol=1e-3, rtol=0
    )
    corner = frame[:, :, :1, :1].expand(-1, -1, 4, 4)  # all cells alike the corner cell
    centre, _ = L.localise(corner, frame, temp=50.0)
    assert (centre.abs() <= 1 - 4 / 12 + 1e-6).all()


def test_colour_copied_by_a_true_match_reconstructs_the_frame():
    g = torch.Generator().manual_seed(2)
    lab1 = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    perm = torch.randperm(16, generator=g)
    cells = F.pixel_unshuffle(lab1, 8).flatten(2)[:, :, perm]  # frame 2: frame 1's cells moved
    lab2 = F.pixel_shuffle(cells.view(2, 192, 4, 4), 8)
    true = torch.zeros(2, 16, 16)
    true[:, perm, torch.arange(16)] = 100.0  # cell perm[j] of frame 1 is cell j of frame 2
    assert L.colour_losses(true, lab1, lab2, 8).item() < 1e-5
    uniform = torch.zeros(2, 16, 16)
    assert L.colour_losses(uniform, lab1, lab2, 8).item() > 1.0
    # a and b weigh 10 times L
    err = torch.zeros(1, 3, 8, 8)
    err[:, 1] = 0.5
    assert L.weighted_l1(err, torch.zeros_like(err)).item() == pytest.approx(5.0)


def test_concentration_is_least_for_a_rigid_match_and_the_cycle_vanishes():
    h = w = 8
    idx = torch.arange(h * w).view(h, w)
    shifted = torch.roll(idx, (1, 2), (0, 1)).flatten()  # target j comes from source shifted[j]
    rigid = torch.full((1, h * w, h * w), -1e4)
    rigid[0, shifted, torch.arange(h * w)] = 0.0
    # a wrap-around shift keeps windows together except where it wraps: use interior windows
    assert L.coordinate_cycle(rigid, h, w).item() < 1e-6
    ident = torch.full((1, h * w, h * w), -1e4)
    ident[0, torch.arange(h * w), torch.arange(h * w)] = 0.0
    # a rigid match keeps each 4 x 4 window's sources as spread as the window itself: per axis
    # the variance of 4 cells 2/8 apart, 0.25² · 1.25, from either side
    rigid_spread = 2 * 0.25**2 * 1.25
    assert L.concentration(ident, h, w, 4).item() == pytest.approx(rigid_spread, rel=1e-5)
    g = torch.Generator().manual_seed(3)
    scattered = torch.randn(1, h * w, h * w, generator=g) * 50
    assert L.concentration(scattered, h, w, 4).item() > 2 * rigid_spread
    assert L.coordinate_cycle(scattered, h, w).item() > 0.05


def test_lab_is_opencvs():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    ref = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2LAB)  # L 0..100, a, b
    ref = (
        np.stack([ref[..., 0] * 255 / 100, ref[..., 1] + 128, ref[..., 2] + 128], -1) - 128
    ) / 128
    ours = rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1).float() / 255).permute(1, 2, 0)
    # within 0.6 of one 8-bit level (OpenCV approximates the gamma and cube root by splines)
    np.testing.assert_allclose(ours.numpy(), ref, atol=5e-3)


def test_training_steps_reduce_the_loss_on_a_tiny_video():
    torch.manual_seed(0)
    method = SPEC.build(config(patch_size=16, full_size=32, steps=100), None)
    sampler = ClipSampler(TrainVideos(tiny_videos()), "uvc", 2, 2, 32)
    rng = np.random.default_rng(0)
    batch = method.views(sampler.batch(rng, 2, True), rng, False)
    before = method.loss(*batch)["loss"].item()
    for _ in range(10):
        method.train_step(batch)
    assert method.loss(*batch)["loss"].item() < 0.8 * before


def test_fit_warms_up_then_localises(tmp_path):
    cfg = config(steps=3, warmup_steps=1, steps_per_epoch=3)
    method = SPEC.build(cfg, None)
    seen = []
    loss = method.loss
    method.loss = lambda first, second, warm: (
        seen.append((warm, second.shape[-1])) or loss(first, second, warm)
    )
    method.fit(TrainVideos(tiny_videos()), context(cfg, tmp_path))
    assert seen == [(True, 16), (False, 32), (False, 32)]  # warm-up: two patches; then whole frame


def test_conforms_on_the_smoke_set(tmp_path):
    report = check_method(SPEC, "propagation", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0


def test_reference_figures_are_the_paper_model():
    figures = check_reference(SPEC)
    assert figures["params"] == 11_176_512  # ResNet-18 conv1..layer4, layer3/4 at stride 1
    # CRW's count of the layer3 encoder at 320² plus the RGB → XYZ matrix on 320² pixels
    assert figures["flops"] == 10_757_734_400 + 2 * 9 * 320 * 320


def test_the_encoder_sees_lightness_only():
    method = SPEC.build(config(), None)
    method.model.eval()
    lab = torch.rand(1, 3, 32, 32) * 2 - 1
    no_chroma = torch.cat([lab[:, :1], torch.zeros_like(lab[:, 1:])], 1)
    with torch.no_grad():
        torch.testing.assert_close(method.model.features(lab, "layer3"),
                                   method.model.features(no_chroma, "layer3"))  # fmt: skip
    enc = method.encoder()
    assert enc(torch.rand(1, 3, 32, 40)).shape == (1, 256, 4, 5) and enc.stride == 8
