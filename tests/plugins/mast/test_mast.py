"""MAST: the dilation rule, the memory read-out (one softmax over all frames' windows), the
two-step ROI finding a match beyond the plain window, training that lowers the loss on a
tiny video, configuration errors, the conformance suite and the reference figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tracker_testing import TrainVideos, blobs, context, one_thread  # noqa: F401

from kpbench.config import resolve
from kpbench.errors import ConfigError, DataError
from kpbench.plugins import get_registry
from kpbench.testing import check_method, check_reference
from kpbench_plugins.mast.memory import dilation, read_memory, roi_offsets

SPEC = get_registry().method("mast")


def config(preset="smoke", **over):
    return resolve(SPEC, preset, None, over)[0]


def _distinct(h: int, w: int, scale: float = 30.0) -> torch.Tensor:
    return (torch.eye(h * w) * scale).reshape(1, h * w, h, w)


def test_dilation_grows_with_the_gap_up_to_its_cap():
    assert [dilation(g, 15) for g in (2, 15, 16, 29, 30, 45, 200)] == [0, 0, 2, 2, 3, 4, 4]


def test_read_out_shapes_and_one_softmax_over_all_memory():
    b, c, h, w = 2, 6, 5, 7
    target = torch.randn(b, c, h, w)
    memory = [torch.randn(b, c, h, w) for _ in range(3)]
    colours = [torch.full((b, 1, h, w), float(v)) for v in (1, 2, 3)]
    out, rois = read_memory(target, memory, colours, [2, 20, 40], 2, 3, 15)
    assert out.shape == (b, 1, h, w)
    assert rois[0] is None and rois[1].shape == (b, h, w, 2) and rois[2].shape == (b, h, w, 2)
    assert (out > 1).all() and (out < 3).all()  # a convex mix of the three frames' colours
    same, _ = read_memory(target, memory[:1], colours[:1], [2], 2, 3, 15)
    assert torch.allclose(same, colours[0])


def test_roi_finds_a_match_beyond_the_window():
    """The long-term frame holds the target's content 4 cells to the left: out of reach of a
    radius-1 window, found by the coarse search (dilated 2) and then read exactly."""
    h, w, shift = 6, 12, 4
    ref = _distinct(h, w)
    target = torch.zeros_like(ref)
    target[..., shift:] = ref[..., :-shift]  # target cell x shows ref cell x - shift
    colours = torch.randn(1, 2, h, w)
    off = roi_offsets(target, ref, radius=3, dil=2)
    assert torch.allclose(
        off[0, :, shift:, 0], torch.full((h, w - shift), -float(shift)), atol=1e-3
    )
    assert torch.allclose(off[0, :, shift:, 1], torch.zeros(h, w - shift), atol=1e-3)
    far, rois = read_memory(target, [ref], [colours], [40], 1, 3, 15, max_dilation=2)
    near, _ = read_memory(target, [ref], [colours], [5], 1, 3, 15)
    want = colours[..., :-shift]
    assert rois[0] is not None and torch.allclose(far[..., shift:], want, atol=1e-3)
    assert not torch.allclose(near[..., shift:], want, atol=0.1)


def _clips_loss(method, draw, seeds=range(3)) -> float:
    with torch.no_grad():
        return float(np.mean([
            float(method.clip_loss(draw(np.random.default_rng(s)), np.random.default_rng(s), 0.0)["loss"])
            for s in seeds
        ]))  # fmt: skip


def test_training_lowers_the_loss_on_a_tiny_video(tmp_path):
    torch.manual_seed(0)
    cfg = config(steps=40, steps_per_epoch=20, lr=2e-3, batch_size=4)
    method = SPEC.build(cfg)
    data = TrainVideos([blobs()])
    draw = method.clip_sampler(data)
    before = _clips_loss(method, draw)
    method.fit(data, context(cfg, tmp_path))
    after = _clips_loss(method, draw)
    assert after < 0.8 * before, (before, after)


def test_configuration_errors_are_one_line():
    with pytest.raises(ConfigError, match="memory_frames"):
        SPEC.build(config(memory_frames=[4]))
    with pytest.raises(ConfigError, match="gap_probs"):
        SPEC.build(config(gaps=[1, 2, 3]))


def test_refuses_without_training_video(tmp_path):
    with pytest.raises(DataError, match="no train-split video"):
        SPEC.build(config()).fit(TrainVideos(), context(config(), tmp_path))


def test_conforms_on_the_propagation_smoke_set(tmp_path):
    report = check_method(SPEC, "propagation", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0


def test_reference_figures_are_corrflows_network():
    """MAST's reference model is CorrFlow's encoder (ResNet18(3) + post_convolution):
    the same figures, derived layer by layer in tests/plugins/corrflow."""
    corrflow = get_registry().method("corrflow").reference
    assert (SPEC.reference["params"], SPEC.reference["flops"]) == (
        corrflow["params"],
        corrflow["flops"],
    )
    assert check_reference(SPEC)["params"] == 5_291_648
