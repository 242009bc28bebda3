"""CorrFlow: the window gather, an exact copy when target = reference, channel dropout,
scheduled sampling and the cycle on built cases, training that lowers the loss on a tiny
video, the conformance suite and the reference figures derived layer by layer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tracker_testing import TrainVideos, blobs, context, one_thread  # noqa: F401

from kpbench.config import resolve
from kpbench.errors import DataError
from kpbench.plugins import get_registry
from kpbench.testing import check_method, check_reference
from kpbench_plugins.corrflow.losses import channel_dropout, corrflow_loss
from kpbench_plugins.corrflow.window import copy_window, window, window_logits

SPEC = get_registry().method("corrflow")


def config(preset="smoke", **over):
    return resolve(SPEC, preset, None, over)[0]


def test_window_gathers_the_neighbourhood_with_zeros_outside():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    win = window(x, 1)  # (1, 1, 9, 12)
    centre = 1 * 4 + 2  # cell (y=1, x=2)
    assert win[0, 0, :, centre].tolist() == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    corner = win[0, 0, :, 0].tolist()  # cell (0, 0): only its lower-right quarter is inside
    assert corner == [0, 0, 0, 0, 0, 1, 0, 4, 5]
    logits = window_logits(torch.ones(1, 1, 3, 4), torch.ones(1, 1, 3, 4), 1)
    assert torch.isinf(logits[0, :, 0]).sum() == 5 and torch.isfinite(logits[0, :, centre]).all()


def _distinct(h: int, w: int, scale: float = 20.0) -> torch.Tensor:
    return (torch.eye(h * w) * scale).reshape(1, h * w, h, w)


def test_copy_is_exact_when_the_target_is_the_reference():
    h, w = 5, 6
    f = _distinct(h, w)
    colours = torch.randn(1, 3, h, w)
    assert torch.allclose(copy_window(f, f, colours, radius=2), colours, atol=1e-5)


def test_copy_follows_a_shift_within_the_window():
    h, w = 6, 6
    ref = _distinct(h, w)
    target = torch.roll(ref, shifts=1, dims=3)  # the content moved one cell right
    colours = torch.randn(1, 2, h, w)
    out = copy_window(target, ref, colours, radius=2)
    assert torch.allclose(out[..., 1:], colours[..., :-1], atol=1e-5)


def test_channel_dropout_zeroes_one_channel_and_rescales():
    lab = torch.ones(2, 4, 3, 5, 5)
    kept, none = channel_dropout(lab, np.random.default_rng(0), keep_prob=1.0)
    assert none == [] and torch.equal(kept, lab)
    out, drop = channel_dropout(lab, np.random.default_rng(0), keep_prob=0.0)
    assert len(drop) == 1
    assert (out[:, :, drop[0]] == 0).all()
    others = [c for c in range(3) if c != drop[0]]
    assert torch.allclose(out[:, :, others], torch.full_like(out[:, :, others], 1.5))


def test_loss_vanishes_on_a_static_clip_with_distinctive_features():
    """Features at pixel resolution (stride 1) so cell colours are the frame's own."""
    h = w = 4
    f = _distinct(h, w)
    lab = torch.rand(1, 3, h, w) * 2 - 1
    out = corrflow_loss([f, f, f], [lab, lab, lab], 1, 0.5, lambda p: False, 0.1, 20.0)
    assert float(out["reconstruction"]) < 1e-6 and float(out["cycle"]) < 1e-6


def test_scheduled_sampling_uses_the_prediction_when_truth_is_not_drawn():
    """Frame 0 → 1 copies a blur (frame 0's features are blank: a uniform window); frames 1
    and 2 are identical. Copying from frame 1's truth makes frame 2 exact; copying from the
    model's own (blurred) frame 1 repeats frame 1's error."""
    h = w = 4
    f = _distinct(h, w)
    feats = [torch.zeros_like(f), f, f]
    labs = [torch.rand(1, 3, h, w) * 2 - 1 for _ in range(2)]
    labs.append(labs[1])
    first = corrflow_loss(feats[:2], labs[:2], 1, 1.0, lambda p: True, 0.0, 20.0)["loss"]
    truth = corrflow_loss(feats, labs, 1, 1.0, lambda p: True, 0.0, 20.0)["reconstruction"]
    own = corrflow_loss(feats, labs, 1, 0.0, lambda p: False, 0.0, 20.0)["reconstruction"]
    assert float(first) > 0.1
    assert torch.isclose(truth, first, atol=1e-5) and torch.isclose(own, 2 * first, atol=1e-5)


def test_truth_probability_falls_from_start_to_end():
    method = SPEC.build(config())
    assert [round(method.truth_prob(p), 3) for p in (0, 0.5, 1)] == [0.9, 0.75, 0.6]


def _clips_loss(method, draw, seeds=range(3)) -> float:
    with torch.no_grad():
        return float(np.mean([
            float(method.clip_loss(draw(np.random.default_rng(s)), np.random.default_rng(s), 0.0)["loss"])
            for s in seeds
        ]))  # fmt: skip


def test_training_lowers_the_loss_on_a_tiny_video(tmp_path):
    torch.manual_seed(0)
    cfg = config(steps=40, steps_per_epoch=20, lr=2e-3, frame_gap=1, batch_size=4)
    method = SPEC.build(cfg)
    data = TrainVideos([blobs()])
    draw = method.clip_sampler(data)
    before = _clips_loss(method, draw)
    method.fit(data, context(cfg, tmp_path))
    after = _clips_loss(method, draw)
    assert after < 0.8 * before, (before, after)


def test_refuses_without_training_video(tmp_path):
    with pytest.raises(DataError, match="no train-split video"):
        SPEC.build(config()).fit(TrainVideos(), context(config(), tmp_path))


def test_conforms_on_the_propagation_smoke_set(tmp_path):
    report = check_method(SPEC, "propagation", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0


def _conv(cin, cout, k, hw, bias=False):
    return cin * cout * k * k + bias * cout, 2 * cin * cout * k * k * hw * hw


def _basic(cin, cout, hw, down):
    bn = (2 * cout, 0)
    parts = [_conv(cin, cout, 3, hw), bn, _conv(cout, cout, 3, hw), bn]
    return parts + ([_conv(cin, cout, 1, hw), bn] if down else [])


def reference_figures(size: int = 320) -> tuple[int, int]:
    """The reference ResNet18(3) + post_convolution on one ``size``² frame: a 7×7 stride-2 stem
    (no max-pool), stages 64/128/256/256 at strides 1/2/1/1, a 3×3 conv 256 → 64 with bias;
    plus the RGB → XYZ matrix of the Lab conversion per pixel."""
    half, quarter = size // 2, size // 4
    parts = [_conv(3, 64, 7, half), (128, 0)]
    parts += _basic(64, 64, half, False) + _basic(64, 64, half, False)
    parts += _basic(64, 128, quarter, True) + _basic(128, 128, quarter, False)
    parts += _basic(128, 256, quarter, True) + _basic(256, 256, quarter, False)
    parts += _basic(256, 256, quarter, False) + _basic(256, 256, quarter, False)
    parts.append(_conv(256, 64, 3, quarter, bias=True))
    return sum(p for p, _ in parts), sum(f for _, f in parts) + 2 * 9 * size * size


def test_reference_figures_derived_layer_by_layer():
    params, flops = reference_figures()
    assert params == 5_291_648  # the reference's log line: "Number of model parameters"
    assert (params, flops) == (SPEC.reference["params"], SPEC.reference["flops"])
    assert check_reference(SPEC)["flops"] == flops
