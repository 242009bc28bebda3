"""Colorization: Lab and colour clusters, the pointer loss on built cases, training that
lowers the loss on a tiny video, refusal without training video, the conformance suite on the
propagation smoke set, and the reference figures derived layer by layer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from tracker_testing import TrainVideos, blobs, context, one_thread  # noqa: F401

from kpbench.config import resolve
from kpbench.errors import DataError
from kpbench.plugins import get_registry
from kpbench.testing import check_method, check_reference
from kpbench_plugins.colorization.colour import fit_clusters, quantise, rgb_to_lab
from kpbench_plugins.colorization.losses import colorization_loss, pointer

SPEC = get_registry().method("colorization")


def config(preset="smoke", **over):
    return resolve(SPEC, preset, None, over)[0]


def test_lab_matches_opencv():
    img = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32)
    ours = rgb_to_lab(torch.from_numpy(img).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    assert np.abs(ours - cv2.cvtColor(img, cv2.COLOR_RGB2Lab)).max() < 0.5


def test_clusters_found_and_quantised_to_the_nearest():
    rng = np.random.default_rng(0)
    true = np.array([[-40.0, 10.0], [0.0, 0.0], [30.0, -50.0]])
    ab = np.concatenate([c + rng.normal(0, 1, (200, 2)) for c in true])
    centres = fit_clusters(ab, 3, seed=0)
    assert np.abs(np.sort(centres, 0) - np.sort(true, 0)).max() < 0.5
    probe = torch.tensor(true + 3.0, dtype=torch.float32).T.reshape(1, 2, 1, 3)
    idx = quantise(probe, torch.from_numpy(centres))[0, 0]
    assert [centres[i].round().tolist() for i in idx.tolist()] == np.round(true).tolist()


def _distinct(n_cells: int, h: int, w: int, scale: float = 10.0) -> torch.Tensor:
    """(1, n_cells, h, w) embeddings: each cell a different unit vector times ``scale``."""
    return (torch.eye(n_cells) * scale).reshape(1, n_cells, h, w)


def test_pointer_copies_exactly_when_target_is_the_reference():
    h, w, k = 3, 4, 5
    f = _distinct(h * w, h, w)
    labels = torch.arange(h * w).reshape(1, h, w) % k
    att = pointer(f, f[:, None], temperature=0.01)
    assert torch.allclose(att[0], torch.eye(h * w), atol=1e-6)
    same = colorization_loss(f, f[:, None], labels[:, None], labels, k, temperature=0.01)
    shuffled = labels.flatten()[torch.randperm(h * w, generator=torch.Generator().manual_seed(1))]
    wrong = colorization_loss(f, f[:, None], labels[:, None], shuffled.reshape(1, h, w), k, 0.01)
    assert same < 1e-4 and wrong > 5.0  # wrong cells get ~0 probability: -log(1e-8) clamp


def test_uninformative_features_give_the_colour_prior():
    h, w, k = 2, 2, 4
    f = torch.zeros(1, 3, h, w)
    labels = torch.tensor([[[0, 0], [0, 1]]])
    loss = colorization_loss(f, f[:, None], labels[:, None], labels, k, 1.0)
    # uniform pointer: P(0) = 3/4, P(1) = 1/4 for every target cell
    expected = -(3 * np.log(0.75) + np.log(0.25)) / 4
    assert abs(float(loss) - expected) < 1e-5


def _clips_loss(method, draw, seeds=range(3)) -> float:
    with torch.no_grad():
        return float(np.mean([
            float(method.clip_loss(draw(np.random.default_rng(s)), np.random.default_rng(s), 0.0)["loss"])
            for s in seeds
        ]))  # fmt: skip


def test_training_lowers_the_loss_on_a_tiny_video(tmp_path):
    torch.manual_seed(0)
    cfg = config(steps=40, steps_per_epoch=20, lr=1e-3, frame_gap=1, batch_size=4)
    method = SPEC.build(cfg)
    data, ctx = TrainVideos([blobs()]), context(cfg, tmp_path)
    draw = method.clip_sampler(data)
    method.prepare(draw, ctx)
    before = _clips_loss(method, draw)
    method.fit(data, ctx)
    after = _clips_loss(method, draw)
    assert after < 0.8 * before, (before, after)
    assert int(method.model.fitted) == 1


def test_refuses_without_training_video(tmp_path):
    method = SPEC.build(config())
    with pytest.raises(DataError, match="no train-split video"):
        method.fit(TrainVideos(), context(config(), tmp_path))


def test_conforms_on_the_propagation_smoke_set(tmp_path):
    report = check_method(SPEC, "propagation", tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0


def _conv(cin, cout, k, hw, bias=False):
    """(params, FLOPs) of a k×k conv producing an hw×hw map (2 FLOPs per multiply-add)."""
    return cin * cout * k * k + bias * cout, 2 * cin * cout * k * k * hw * hw


def _bn(c):
    return 2 * c, 0


def _basic(cin, cout, hw, down):
    parts = [_conv(cin, cout, 3, hw), _bn(cout), _conv(cout, cout, 3, hw), _bn(cout)]
    if down:
        parts += [_conv(cin, cout, 1, hw), _bn(cout)]
    return parts


def test_reference_figures_derived_layer_by_layer():
    """The paper's network on a 320² frame: ResNet-18 with a 1-channel stem to layer3 at stride
    1 (40² cells), then (x, y) and four 3×3 convs of 256 + BN and a 1×1 conv to 64."""
    parts = [_conv(1, 64, 7, 160), _bn(64)]  # stem, then max-pool to 80²
    parts += _basic(64, 64, 80, False) + _basic(64, 64, 80, False)
    parts += _basic(64, 128, 40, True) + _basic(128, 128, 40, False)
    parts += _basic(128, 256, 40, True) + _basic(256, 256, 40, False)  # layer3 at stride 1
    for cin in (258, 256, 256, 256):
        parts += [_conv(cin, 256, 3, 40), _bn(256)]
    parts.append(_conv(256, 64, 1, 40, bias=True))
    lab = 2 * 3 * 3 * 320 * 320  # the RGB → XYZ matrix of the grey conversion, per pixel
    params, flops = sum(p for p, _ in parts), sum(f for _, f in parts) + lab
    assert (params, flops) == (SPEC.reference["params"], SPEC.reference["flops"])
    assert check_reference(SPEC)["params"] == params
