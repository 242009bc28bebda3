"""kpbench.weights: search order, loading, and the one-line errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kpbench import weights
from kpbench.errors import ConfigError


@pytest.fixture
def no_hub(tmp_path, monkeypatch):
    """An empty torch hub cache and no $KPBENCH_WEIGHTS, whatever this machine has."""
    hub = tmp_path / "hub"
    (hub / "checkpoints").mkdir(parents=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(weights.ENV_VAR, raising=False)
    return hub


def small_state() -> dict:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).state_dict()


def test_found_in_env_folder_and_loaded_with_equal_values(tmp_path, monkeypatch, no_hub):
    folder = tmp_path / "weights"
    folder.mkdir()
    state = small_state()
    torch.save(state, folder / "net-123.pth")
    monkeypatch.setenv(weights.ENV_VAR, str(folder))

    path = weights.find_weights("net-123.pth")
    assert path == folder / "net-123.pth"
    assert weights.find_weights("net-123.pth", "auto") == path
    loaded = weights.load_state_dict(path)
    assert loaded.keys() == state.keys()
    for k, v in state.items():
        assert torch.equal(loaded[k], v)
        assert loaded[k].device.type == "cpu"


def test_env_folder_wins_over_hub_cache_which_is_used_otherwise(tmp_path, monkeypatch, no_hub):
    torch.save(small_state(), no_hub / "checkpoints" / "net.pth")
    assert weights.find_weights("net.pth") == no_hub / "checkpoints" / "net.pth"

    folder = tmp_path / "mine"
    folder.mkdir()
    torch.save(small_state(), folder / "net.pth")
    monkeypatch.setenv(weights.ENV_VAR, str(folder))
    assert weights.find_weights("net.pth") == folder / "net.pth"


def test_not_found_returns_none(tmp_path, monkeypatch, no_hub):
    monkeypatch.setenv(weights.ENV_VAR, str(tmp_path))
    assert weights.find_weights("absent-0000.pth") is None


def test_explicit_path_is_used_and_must_exist(tmp_path, no_hub):
    path = tmp_path / "any name.pt"
    torch.save(small_state(), path)
    assert weights.find_weights("other.pth", path) == path
    assert weights.find_weights("other.pth", str(path)) == path

    with pytest.raises(ConfigError, match=r"encoder_weights: .*missing\.pth.* does not exist"):
        weights.find_weights("other.pth", tmp_path / "missing.pth", key="encoder_weights")


def test_wrapped_checkpoint_is_unwrapped(tmp_path):
    state = small_state()
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "ckpt.pth")
    loaded = weights.load_state_dict(tmp_path / "ckpt.pth")
    assert loaded.keys() == state.keys()


def test_not_a_state_dict_is_a_config_error(tmp_path):
    torch.save({"lr": 0.1, "name": "x"}, tmp_path / "cfg.pth")
    with pytest.raises(ConfigError, match=r"cfg\.pth.*does not hold a state dict"):
        weights.load_state_dict(tmp_path / "cfg.pth")

    (tmp_path / "text.pth").write_text("not a torch file")
    with pytest.raises(ConfigError, match=r"text\.pth.*could not be read"):
        weights.load_state_dict(tmp_path / "text.pth")


def test_torchvision_file_names_match_the_installed_torchvision():
    from torchvision.models import (
        ResNet18_Weights,
        ResNet34_Weights,
        ResNet50_Weights,
        VGG19_Weights,
    )

    urls = {
        "resnet18": ResNet18_Weights.IMAGENET1K_V1.url,
        "resnet34": ResNet34_Weights.IMAGENET1K_V1.url,
        "resnet50": ResNet50_Weights.IMAGENET1K_V1.url,
        "vgg19": VGG19_Weights.IMAGENET1K_V1.url,
    }
    assert {k: u.rsplit("/", 1)[1] for k, u in urls.items()} == weights.TORCHVISION_FILES
