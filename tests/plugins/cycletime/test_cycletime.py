"""CycleTime: the grid loss, a static video tracked exactly through every cycle, the tracker
head, training on a tiny video, conformance and the reference figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tracker_testing import TrainVideos, context, one_thread  # noqa: F401

from kpbench.config import resolve
from kpbench.errors import ConfigError, DataError
from kpbench.plugins import get_registry
from kpbench.propagation.clips import ClipSampler
from kpbench.testing import check_method, check_reference
from kpbench_plugins.cycletime.losses import cycle_losses, grid_loss, track
from kpbench_plugins.cycletime.model import sample

SPEC = get_registry().method("cycletime")


def config(**over):
    return resolve(SPEC, "smoke", None, over)[0]


def placement(cx, cy, scale):
    return torch.tensor([[[scale, 0.0, cx], [0.0, scale, cy]]])


def test_grid_loss_is_the_squared_shift_of_the_grid():
    theta = placement(0.2, -0.1, 0.5)
    assert grid_loss(theta, theta).item() == 0.0
    shifted = placement(0.2 + 0.3, -0.1 - 0.4, 0.5)
    assert grid_loss(shifted, theta).item() == pytest.approx(0.3**2 + 0.4**2, rel=1e-6)


def soft_argmax_tracker(cells: int, frame_cells: int, sharp: float = 200.0, drift: float = 0.0):
    """A tracker from the affinity alone: each query cell's soft-argmax position in the frame,
    their mean the patch centre (a known-good ``locate`` to test the cycles with)."""
    ys = (torch.arange(frame_cells) + 0.5) / frame_cells * 2 - 1
    y, x = torch.meshgrid(ys, ys, indexing="ij")
    pos = torch.stack([x.flatten(), y.flatten()], -1)

    def locate(query, frame):
        a = torch.einsum("bcn,bcm->bnm", query.flatten(2), frame.flatten(2)) * sharp
        centre = (F.softmax(a, -1) @ pos).mean(1) + drift
        s = torch.full_like(centre[:, 0], cells / frame_cells)
        zero = torch.zeros_like(s)
        return torch.stack([torch.stack([s, zero, centre[:, 0]], 1),
                            torch.stack([zero, s, centre[:, 1]], 1)], 1)  # fmt: skip

    return locate


def test_a_static_video_is_tracked_exactly_through_every_cycle():
    g = torch.Generator().manual_seed(0)
    frame = F.normalize(torch.randn(2, 16, 12, 12, generator=g), dim=1)
    clip = frame[:, None].expand(-1, 4, -1, -1, -1)  # a static video: 4 identical frames
    theta = torch.cat([placement(-1 / 3, 1 / 3, 4 / 12), placement(1 / 6, -1 / 2, 4 / 12)])
    patch = sample(frame, theta, 4)  # 4 x 4 cells, aligned with the frame's cells
    locate = soft_argmax_tracker(4, 12)
    out = cycle_losses(locate, patch, clip, frame, theta)
    assert out["long"].item() < 1e-8 and out["skip"].item() < 1e-8
    assert out["similarity"].item() == pytest.approx(-1.0, abs=1e-5)
    thetas, q = track(locate, F.normalize(patch, dim=1), list(clip.unbind(1)), 4)
    assert len(thetas) == 4 and torch.allclose(thetas[-1], theta, atol=1e-5)
    # a tracker that drifts by 0.05 in x and y per step lands at least that far off: the grid
    # loss is at least 2 · 0.05², weighted λ = 0.1 (skip) and 0.2 λ (long)
    drifting = cycle_losses(soft_argmax_tracker(4, 12, drift=0.05), patch, clip, frame, theta)
    assert drifting["skip"].item() >= 0.99 * 0.1 * 2 * 0.05**2
    assert drifting["long"].item() >= 0.99 * 0.02 * 2 * 0.05**2


def test_the_tracker_head_makes_a_scaled_rotation():
    method = SPEC.build(config(), None)
    net = method.model
    q, f = torch.rand(3, 32, 7, 7), torch.rand(3, 32, 10, 10)
    theta = net.theta(F.normalize(q, dim=1), F.normalize(f, dim=1))
    a = theta[:, :, :2]
    torch.testing.assert_close(a @ a.transpose(1, 2), torch.eye(2).expand(3, 2, 2) * net.scale**2)
    assert net.scale == pytest.approx(56 / 80)
    with pytest.raises(ConfigError, match="at least 7"):
        SPEC.build(config(patch_size=48), None)


def tiny_videos(videos: int = 2) -> list[np.ndarray]:
    """Train videos: a textured background, a coloured square drifting across it."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(videos):
        bg = np.kron(rng.integers(0, 255, (10, 10, 3)), np.ones((8, 8, 1))).astype(np.uint8)
        frames = np.repeat(bg[None], 16, 0)
        for t in range(16):
            frames[t, 10 + t : 30 + t, 8 + 2 * t : 28 + 2 * t] = (255, 40, 40)
        out.append(frames)
    return out


def test_training_steps_reduce_the_loss_on_a_tiny_video():
    torch.manual_seed(0)
    method = SPEC.build(config(), None)
    sampler = ClipSampler(TrainVideos(tiny_videos()), "cycletime", method._length(), 1, 80)
    rng = np.random.default_rng(0)
    batch = method.views(method._keep(sampler.batch(rng, 2)), rng)
    before = method.loss(*batch)["loss"].item()
    for _ in range(8):
        method.train_step(batch)
    assert method.loss(*batch)["loss"].item() < before - 0.05


def test_fit_trains_and_refuses_without_videos(tmp_path):
    cfg = config()
    method = SPEC.build(cfg, None)
    ctx = context(cfg, tmp_path)
    method.fit(TrainVideos(tiny_videos()), ctx)
    assert set(method._last) == {"similarity", "skip", "long", "loss"}
    with pytest.raises(DataError, match="no train-split video"):
        method.fit(TrainVideos(), ctx)


def test_conforms_on_the_smoke_set(tmp_path):
    report = check_method(SPEC, "propagation", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0


def test_reference_figures_are_the_paper_model():
    figures = check_reference(SPEC)
    resnet50_res4 = 8_543_296  # conv1 .. layer3 (the inflated 1 x k x k kernels hold as many)
    head = 1024 * 512 + 900 * 128 * 16 + 128 * 64 * 16 + (64 * 4 * 4 * 3 + 3)
    assert figures["params"] == resnet50_res4 + head
    assert figures["flops"] == 31_729_254_400  # 320² through res4 (stride 8) and afterconv1
