"""BKinD networks: the reference's size pinned exactly, block shapes, soft-argmax, weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from kpbench import weights
from kpbench.errors import ConfigError
from kpbench_plugins.bkind.model import (
    BKinD,
    heatmaps_to_keypoints,
    render_gaussians,
)
from kpbench_plugins.bkind.plugin import REFERENCE

SMALL = {
    "backbone": "resnet18",
    "image_size": 128,
    "decoder_channels": (64, 32, 32, 16, 16),
    "head_channels": 32,
}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def paper_meta() -> BKinD:
    """The paper's CalMS21 model (K=10, 256², ResNet-50) on the meta device: no memory, no compute."""
    with torch.device("meta"):
        return BKinD()


def flops(model: BKinD, size: int, device: str) -> int:
    x = torch.zeros(1, 3, size, size, device=device)
    with FlopCounterMode(display=False) as counter:
        model(x, x)
    return counter.get_total_flops()


def test_paper_config_parameter_counts_match_the_reference(paper_meta):
    """Per block (the whole model's count and inference FLOPs: tests/harness/test_reference.py)."""
    assert count(paper_meta) == REFERENCE["params"]
    for block, n in REFERENCE["params_by_block"].items():
        assert count(getattr(paper_meta, block)) == n, block


def test_paper_config_block_shapes(paper_meta):
    x = torch.zeros(2, 3, 256, 256, device="meta")
    feats = paper_meta.encoder(x)
    assert [tuple(f.shape[1:]) for f in feats] == [
        (2048, 8, 8),
        (1024, 16, 16),
        (512, 32, 32),
        (256, 64, 64),
        (64, 128, 128),
    ]
    assert tuple(paper_meta.keypoint_head(feats).shape) == (2, 10, 64, 64)
    kp = torch.zeros(2, 10, 2, device="meta")
    maps = paper_meta.gaussian_maps(kp, kp)
    assert [tuple(m.shape[1:]) for m in maps] == [(20, s, s) for s in (8, 16, 32, 64, 128)]

    shapes = []
    hooks = [
        b.register_forward_hook(lambda m, i, o: shapes.append(tuple(o.shape[1:])))
        for b in paper_meta.decoder.blocks
    ]
    out = paper_meta(x, x)
    for h in hooks:
        h.remove()
    assert shapes == [(1024, 16, 16), (512, 32, 32), (256, 64, 64), (128, 128, 128), (64, 256, 256)]
    assert tuple(out["reconstruction"].shape) == (2, 3, 256, 256)
    assert tuple(out["keypoints_t"].shape) == tuple(out["keypoints_tT"].shape) == (2, 10, 2)
    assert tuple(out["confidence_tT"].shape) == (2, 10)
    assert tuple(out["covariance_tT"].shape) == (2, 10, 3)
    det = paper_meta.detect(x)
    assert tuple(det["heatmaps"].shape) == (2, 10, 64, 64)


def test_paper_config_training_flops_per_frame_pair(paper_meta):
    """The training forward on a (t, t+T) pair; inference FLOPs are pinned by the generic test."""
    assert flops(paper_meta, 256, "meta") == REFERENCE["flops_train_pair"]


def test_meta_flop_count_equals_a_real_run():
    torch.manual_seed(0)
    model = BKinD(**SMALL).eval()
    with torch.device("meta"):
        meta = BKinD(**SMALL)
    with torch.no_grad():
        assert flops(meta, 128, "meta") == flops(model, 128, "cpu") > 0


def test_small_config_builds_runs_and_backpropagates():
    torch.manual_seed(0)
    model = BKinD(num_keypoints=4, **SMALL)
    assert [tuple(f.shape[1:]) for f in model.encoder(torch.zeros(1, 3, 128, 128))] == [
        (512, 4, 4),
        (256, 8, 8),
        (128, 16, 16),
        (64, 32, 32),
        (64, 64, 64),
    ]
    a, b = torch.randn(2, 3, 128, 128), torch.randn(2, 3, 128, 128)
    out = model(a, b)
    assert tuple(out["reconstruction"].shape) == (2, 3, 128, 128)
    assert torch.isfinite(out["reconstruction"]).all()
    assert out["keypoints_tT"].abs().max() <= 1
    out["reconstruction"].square().mean().backward()
    for part in (model.encoder, model.keypoint_head.laterals, model.decoder):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())

    model.eval()
    with torch.no_grad():
        det = model.detect(a)
    assert tuple(det["heatmaps"].shape) == (2, 4, 32, 32)
    torch.testing.assert_close(det["heatmaps"].sum((2, 3)), torch.ones(2, 4))
    assert ((det["confidence"] > 0) & (det["confidence"] <= 1)).all()
    assert (det["covariance"][..., :2] > 0).all()


def test_convs_outside_the_encoder_start_at_std_001():
    torch.manual_seed(0)
    model = BKinD(**SMALL)
    w = torch.cat(
        [m.weight.flatten() for m in model.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    )
    assert abs(w.std().item() - 0.01) < 5e-4
    w = torch.cat(
        [
            m.weight.flatten()
            for m in model.keypoint_head.modules()
            if isinstance(m, torch.nn.Conv2d)
        ]
    )
    assert abs(w.std().item() - 0.01) < 5e-4


def test_soft_argmax_of_a_peak_and_of_two_pixels():
    h, w = 5, 9
    logits = torch.full((1, 2, h, w), -1e4)
    logits[0, 0, 1, 6] = 0.0  # one peak at row 1, column 6
    logits[0, 1, 0, 0] = logits[0, 1, 4, 8] = 0.0  # two equal peaks at opposite corners
    out = heatmaps_to_keypoints(logits)
    x6, y1 = torch.linspace(-1, 1, w)[6].item(), torch.linspace(-1, 1, h)[1].item()
    torch.testing.assert_close(out["keypoints"][0, 0], torch.tensor([x6, y1]))
    assert out["confidence"][0, 0].item() == pytest.approx(1.0)
    torch.testing.assert_close(out["covariance"][0, 0], torch.tensor([1e-6, 1e-6, 0.0]))
    # (-1,-1) and (1,1) with probability 1/2 each: mean 0, var_x = var_y = cov = 1.
    torch.testing.assert_close(out["keypoints"][0, 1], torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(out["covariance"][0, 1], torch.ones(3))
    assert out["confidence"][0, 1].item() == pytest.approx(0.5)


def test_render_gaussians_peak_value_and_position():
    kp = torch.tensor([[[-1.0, -1.0], [1.0, 0.0]]])
    maps = render_gaussians(kp, (5, 7), 0.01)
    assert tuple(maps.shape) == (1, 2, 5, 7)
    peak = 1 / math.sqrt(2 * math.pi * 0.01)
    assert maps[0, 0, 0, 0].item() == pytest.approx(peak, rel=1e-6)
    assert maps[0, 1, 2, 6].item() == pytest.approx(peak, rel=1e-6)
    # one grid step in x is 2/6: value exp(-(1/3)² / 0.02) · peak
    assert maps[0, 1, 2, 5].item() == pytest.approx(peak * math.exp(-(1 / 9) / 0.02), rel=1e-5)


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)


def test_encoder_weights_explicit_auto_and_absent(tmp_path, monkeypatch, no_hub):
    import torchvision

    torch.manual_seed(1)
    imagenet = torchvision.models.resnet18().state_dict()  # includes fc.*, like the real file
    folder = tmp_path / "w"
    folder.mkdir()
    path = folder / weights.TORCHVISION_FILES["resnet18"]
    torch.save(imagenet, path)

    model = BKinD(**SMALL, encoder_weights=path)
    assert model.encoder_weights_source == str(path)
    for k, v in model.encoder.state_dict().items():
        assert torch.equal(v, imagenet[k])

    assert (
        BKinD(**SMALL, encoder_weights="auto").encoder_weights_source
        == "random init (no ImageNet weights found)"
    )
    monkeypatch.setenv(weights.ENV_VAR, str(folder))
    auto = BKinD(**SMALL, encoder_weights="auto")
    assert auto.encoder_weights_source == str(path)
    assert torch.equal(auto.encoder.conv1.weight, imagenet["conv1.weight"])
    assert BKinD(**SMALL).encoder_weights_source == "random init (no ImageNet weights requested)"


def test_encoder_weights_errors(tmp_path):
    import torchvision

    with pytest.raises(ConfigError, match="encoder_weights: .*does not exist"):
        BKinD(**SMALL, encoder_weights=tmp_path / "nope.pth")
    wrong = tmp_path / "r34.pth"
    torch.save(torchvision.models.resnet34().state_dict(), wrong)
    with pytest.raises(ConfigError, match="does not fit this ResNet"):
        BKinD(**SMALL, encoder_weights=wrong)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"backbone": "vgg16"}, "backbone"),
        ({"image_size": 100}, "image_size"),
        ({"num_keypoints": 0}, "num_keypoints"),
        ({"decoder_channels": (64, 32)}, "decoder_channels"),
        ({"gaussian_vars": (0.1, 0.1, 0.01, 0.01, 0.0)}, "gaussian_vars"),
    ],
)
def test_bad_config_is_a_config_error(kwargs, key):
    with pytest.raises(ConfigError, match=key):
        BKinD(**{**SMALL, **kwargs})
