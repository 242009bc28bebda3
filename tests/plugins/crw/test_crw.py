"""CRW: the walk on built cases, the patch grid, training on a tiny video, conformance and the
reference figures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from tracker_testing import TrainVideos, context, one_thread  # noqa: F401

from kpbench.config import resolve
from kpbench.errors import DataError
from kpbench.plugins import get_registry
from kpbench.propagation.clips import ClipSampler
from kpbench.testing import check_method, check_reference
from kpbench_plugins.crw.augment import grid_boxes, patch_grid
from kpbench_plugins.crw.losses import palindrome_walks, walk_loss

SPEC = get_registry().method("crw")


def _nodes(frames: list[torch.Tensor]) -> torch.Tensor:
    """Per-frame node embeddings ``(N, C)`` → ``(1, C, T, N)``."""
    return torch.stack([F.normalize(f, dim=-1).T for f in frames], 1)[None]


def test_walk_on_identical_frames_with_distinctive_patches_returns_home():
    nodes = torch.eye(16)  # 16 orthogonal patch embeddings
    loss, diag = walk_loss(_nodes([nodes] * 5), temperature=0.01)
    assert loss.item() < 1e-6 and diag["acc"] == 1.0


def test_walk_among_look_alike_or_unrelated_patches_gets_lost():
    n = 16
    same = torch.ones(n, 8)  # every patch alike: the walk is uniform
    loss, _ = walk_loss(_nodes([same] * 4), temperature=0.07)
    assert loss.item() == pytest.approx(math.log(n), rel=1e-5)
    g = torch.Generator().manual_seed(0)
    unrelated = [torch.randn(n, 64, generator=g) for _ in range(4)]  # shuffled content
    lost, diag = walk_loss(_nodes(unrelated), temperature=0.07)
    home, _ = walk_loss(_nodes([unrelated[0]] * 4), temperature=0.07)
    assert lost.item() > 0.5 * math.log(n) and lost.item() > home.item() + 1.0
    assert diag["acc"] < 0.5


def test_palindromes_are_stochastic_one_per_horizon_from_two():
    g = torch.Generator().manual_seed(1)
    nodes = F.normalize(torch.randn(2, 8, 5, 6, generator=g), dim=1)
    walks = palindrome_walks(nodes, 0.1, edge_drop=0.1, generator=g)
    assert len(walks) == 3  # k = 2, 3, 4 for 5 frames (the reference skips k = 1)
    for w in walks:
        assert w.shape == (2, 6, 6)
        torch.testing.assert_close(w.sum(-1), torch.ones(2, 6))
    assert len(palindrome_walks(nodes[:, :, :2], 0.1)) == 1  # two frames: the one round trip


def test_edge_dropout_removes_edges_before_the_softmax():
    nodes = _nodes([torch.eye(4)] * 2)
    (kept,) = palindrome_walks(nodes, 0.01, edge_drop=0.0)
    (dropped,) = palindrome_walks(nodes, 0.01, edge_drop=0.999999,
                                  generator=torch.Generator().manual_seed(0))  # fmt: skip
    torch.testing.assert_close(kept, torch.eye(4)[None], atol=1e-6, rtol=0)
    torch.testing.assert_close(dropped, torch.full((1, 4, 4), 0.25))  # all -1e20: uniform


def test_patch_grid_is_the_reference_grid():
    assert len(grid_boxes(256, 64, 32)) == 49  # 7 x 7 patches of 64 px every 32 px
    ramp = torch.arange(40.0)  # a linear image: resampling it is exact
    clips = (ramp[None, :] + 2 * ramp[:, None]).expand(2, 3, 3, 40, 40)
    plain = patch_grid(clips, np.random.default_rng(0), 32, 16, 0.5, augment=False)
    assert plain.shape == (2, 3, 9, 3, 16, 16)
    centre = (torch.arange(32.0) + 0.5) * 40 / 32 - 0.5  # where each resized pixel samples
    frame = centre[None, :] + 2 * centre[:, None]
    # patches row-major every 8 px (away from the border, where samples are clamped)
    torch.testing.assert_close(plain[0, 0, 0, 0, 2:, 2:], frame[2:16, 2:16])
    torch.testing.assert_close(plain[1, 2, 4, 1], frame[8:24, 8:24])
    jittered = patch_grid(clips, np.random.default_rng(0), 32, 16, 0.5)
    assert jittered.shape == plain.shape and not torch.allclose(jittered, plain)


def moving_squares(n: int = 24, size: int = 48, seed: int = 0) -> np.ndarray:
    """A textured background with two coloured squares drifting across it."""
    rng = np.random.default_rng(seed)
    bg = np.kron(rng.integers(0, 255, (size // 8, size // 8, 3)), np.ones((8, 8, 1)))
    frames = np.repeat(bg[None], n, 0).astype(np.uint8)
    for t in range(n):
        for k, colour in enumerate(((255, 40, 40), (40, 40, 255))):
            x, y = 4 + t + 10 * k, 6 + 18 * k + t // 2
            frames[t, y : y + 10, x : x + 10] = colour
    return frames


def config(**over):
    return resolve(SPEC, "smoke", None, over)[0]


def test_training_steps_reduce_the_walk_loss_on_a_tiny_video():
    torch.manual_seed(0)
    method = SPEC.build(config(edge_dropout=0.0, clip_len=4, lr=1e-3), None)
    sampler = ClipSampler(TrainVideos([moving_squares(seed=i) for i in range(2)]), "crw", 4, 2, 32)
    rng = np.random.default_rng(0)
    batch = method.views(sampler.batch(rng, 2), rng)
    before = method.loss(batch)[0].item()
    for _ in range(8):
        method.train_step(batch)
    after = method.loss(batch)[0].item()
    assert after < 0.8 * before


def test_fit_trains_on_the_train_videos_and_refuses_without_them(tmp_path):
    cfg = config()
    method = SPEC.build(cfg, None)
    ctx = context(cfg, tmp_path)
    method.fit(TrainVideos([moving_squares(seed=i) for i in range(2)]), ctx)
    saved = torch.load(ctx.checkpoint_path, weights_only=True)
    assert saved["epoch"] == 1 and [h["epoch"] for h in ctx.history] == [0, 1]  # 2 steps, 1 each
    assert all(np.isfinite(h["loss"]) for h in ctx.history)
    with pytest.raises(DataError, match="no train-split video"):
        method.fit(TrainVideos(), ctx)


def test_conforms_on_the_smoke_set(tmp_path):
    report = check_method(SPEC, "propagation", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0
    assert set(report["metrics"]) >= {"pck@0.1", "pck@0.2"}


def test_reference_figures_are_the_paper_model():
    figures = check_reference(SPEC)
    # ResNet-18 conv1..layer4 (layer3/4 at stride 1) 11,176,512 + Linear(512, 128) 65,664
    assert figures["params"] == 11_176_512 + 512 * 128 + 128
    # the evaluation encoder at 320²: conv1..layer3 at stride 8, 40 × 40 × 256 features
    assert figures["flops"] == 10_757_734_400


def test_evaluation_features_are_layer3_at_stride_8():
    method = SPEC.build(config(), None)
    feats = method.encoder()(torch.rand(1, 3, 64, 48))
    assert feats.shape == (1, 256, 8, 6) and method.encoder().stride == 8
