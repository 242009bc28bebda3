"""Propagation baselines and the ResNet-18 stride-8 encoder: shapes, seeding, ImageNet weights
from a file the test writes (and their absence, with the reason), one run through
``evaluate`` as the runner calls it."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from kpbench.errors import ConfigError
from kpbench.propagation.encoders import ModuleEncoder, resnet18_stride8
from kpbench.propagation.method import PropagationMethod
from kpbench.propagation.propagator import propagate, settings_from
from kpbench.tasks import propagation as task
from kpbench.tasks import propagation_baselines as pb

SPEC = task.kpbench_tasks()[0]
NAME = "resnet18-f37072fd.pth"


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """An empty $KPBENCH_WEIGHTS and torch hub cache."""
    monkeypatch.setenv("KPBENCH_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setattr("torch.hub.get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path


def _imagenet_like(folder, seed=3):
    """A full torchvision resnet18 state dict (random, seeded) saved under ImageNet's name."""
    import torchvision

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / NAME
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def test_resnet18_stride8_is_the_res4_cut_at_stride_8():
    net = resnet18_stride8()
    assert [n for n, _ in net.named_children()][-1] == "layer3" and not net.training
    with torch.no_grad():
        assert tuple(net(torch.zeros(1, 3, 320, 320)).shape) == (1, 256, 40, 40)
        assert tuple(net(torch.zeros(1, 3, 250, 321)).shape) == (1, 256, 32, 41)  # ceil


def test_resnet18_stride8_loads_torchvision_weights_by_name(tmp_path):
    path = _imagenet_like(tmp_path)
    state = torch.load(path, weights_only=True)
    net = resnet18_stride8(path)
    assert torch.equal(net.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    assert net.layer3[0].conv1.stride == (1, 1) and net.layer3[0].downsample[0].stride == (1, 1)


def test_a_wrong_weight_file_is_one_line(tmp_path):
    torch.save(torch.nn.Linear(2, 2).state_dict(), tmp_path / "linear.pth")
    with pytest.raises(ConfigError, match="not a torchvision ResNet-18 state dict: .* missing"):
        resnet18_stride8(tmp_path / "linear.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="could not be read by torch.load"):
        resnet18_stride8(tmp_path / "junk.pth")


def test_random_encoder_is_seeded_and_shaped():
    ev = task.smoke(0)
    a = pb.baseline_random_encoder(ev, None, 0)
    SPEC.prediction.validate(a, "random_encoder", dims=ev.dims)
    assert not np.isnan(a["keypoints"]).any()
    np.testing.assert_array_equal(
        a["keypoints"], pb.baseline_random_encoder(ev, None, 0)["keypoints"]
    )
    first = np.cumsum([0, *ev.truth["lengths"][:-1]])
    np.testing.assert_allclose(a["keypoints"][first[0]], ev.inputs[0]["first_keypoints"])


def test_imagenet_encoder_uses_the_file_found_and_the_task_settings(no_hub):
    path = _imagenet_like(no_hub / "weights")
    info = pb.imagenet_choice("auto")
    assert info == {"imagenet_weights": str(path)}
    ev = task.smoke(0)
    ev.info.update(info)
    got = pb.baseline_imagenet_encoder(ev, None, 0)
    SPEC.prediction.validate(got, "imagenet_encoder", dims=ev.dims)
    x = ev.inputs[1]
    enc = ModuleEncoder(resnet18_stride8(path), 8)
    alone = propagate(enc, x["frames"], x["start"], x["num_frames"], x["first_keypoints"],
                      x["first_visibility"], settings_from(x["protocol"]))  # fmt: skip
    lo = ev.truth["lengths"][0]
    np.testing.assert_allclose(got["keypoints"][lo : lo + x["num_frames"]], alone, atol=1e-6)


def test_imagenet_encoder_without_weights_is_none_and_says_why(no_hub):
    info = pb.imagenet_choice(None)
    assert "no resnet18-f37072fd.pth" in info["imagenet_encoder_skipped"]
    assert "task.imagenet_weights" in info["imagenet_encoder_skipped"]
    ev = task.smoke(0)
    ev.info.update(info)
    assert pb.baseline_imagenet_encoder(ev, None, 0) is None
    hub = _imagenet_like(no_hub / "hub" / "checkpoints")
    assert pb.imagenet_choice("auto") == {"imagenet_weights": str(hub)}


class _Conv(PropagationMethod):
    def __init__(self):
        torch.manual_seed(0)
        self.model = torch.nn.Conv2d(3, 16, 8, stride=8)

    def encoder(self):
        return ModuleEncoder(self.model, 8, mean=(0.5,) * 3, std=(0.25,) * 3)


def test_a_run_scores_the_method_and_baselines_and_writes_the_plot(tmp_path, no_hub):
    """Through :func:`kpbench.evaluation.evaluate`, as the runner calls it."""
    from kpbench.evaluation import evaluate
    from kpbench.plugins import Registry

    ev = task.smoke(0)
    ev.info.update(pb.imagenet_choice("auto"))
    artifacts, notes = {}, {}
    ctx = SimpleNamespace(
        run_dir=tmp_path, is_main=True, add_artifact=artifacts.__setitem__,
        note=notes.__setitem__, device=torch.device("cpu"),
        progress=lambda it, total=None, desc="": iter(it),
    )  # fmt: skip
    method = _Conv()
    exporters = Registry().exporters("propagation")
    out = evaluate(SPEC, ev, method, dict(SPEC.options), task.kpbench_metrics(), ctx, 0, exporters)
    assert not notes and artifacts["pck_plot"] == tmp_path / "pck_over_time.png"
    assert (tmp_path / "pck_over_time.png").read_bytes()[:4] == b"\x89PNG"
    assert set(out["baselines"]) == {"held_still", "random_encoder"}  # no ImageNet file
    assert 0 <= out["metrics"]["pck@0.2"]["value"] <= 100
    assert "per_frame" in out["metrics"]["pck@0.1"]["breakdown"]
    assert "imagenet_encoder_skipped" in out["evaluation"]["selection"]
