"""Methods that learn an image encoder for another task score it under the propagation protocol
without training (MethodSpec.frozen_tasks): BKinD's and HRNet's encoders loaded from a checkpoint
of an earlier run, the checkpoint named by file, run folder or record, and one-line refusals."""

from __future__ import annotations

import json

import pytest
import torch

from kpbench.config import resolve
from kpbench.errors import ConfigError
from kpbench.plugins import get_registry
from kpbench.propagation.frozen import FrozenEncoderMethod, find_checkpoint
from kpbench.runner import build_method
from kpbench.specs import MethodSpec


def _build(method: str, task: str | None, **sets):
    spec = get_registry().method(method)
    config = resolve(spec, "smoke", None, sets)[0]
    return build_method(spec, config, None, 4, task=task)


def _save(tmp_path, model) -> str:
    """A checkpoint as kpbench.training.training_loop writes it (the model under "model")."""
    path = tmp_path / "run" / "checkpoint.pt"
    path.parent.mkdir()
    torch.save({"model": model.state_dict(), "epoch": 3}, path)
    return str(path)


@pytest.mark.parametrize("method", ["bkind", "hrnet", "tcc"])
def test_a_frozen_task_does_not_train_and_other_tasks_do(method):
    spec = get_registry().method(method)
    assert spec.trains and "propagation" in spec.frozen_tasks
    assert not spec.trains_for("propagation") and spec.trains_for(spec.tasks[0])
    built = _build(method, "propagation")
    assert isinstance(built, FrozenEncoderMethod) and "no checkpoint" in built.weights


def test_bkind_encoder_comes_from_its_checkpoint(tmp_path):
    torch.manual_seed(0)
    trained = _build("bkind", None)
    path = _save(tmp_path, trained.model)
    frozen = _build("bkind", "propagation", checkpoint=path)
    assert frozen.weights.startswith(path) and "tensors under 'encoder.'" in frozen.weights
    x = torch.rand(2, 3, 64, 96)
    enc = trained.model.encoder.eval()
    with torch.no_grad():
        expected = enc.layer2(enc.layer1(enc.maxpool(enc.relu(enc.bn1(enc.conv1(x))))))
    got = frozen.model.eval()(x)
    assert got.shape == (2, 128, 8, 12) and torch.allclose(got, expected)
    assert frozen.encoder().stride == 8


def test_hrnet_backbone_comes_from_its_checkpoint_at_any_frame_size(tmp_path):
    torch.manual_seed(0)
    trained = _build("hrnet", None)
    path = _save(tmp_path, trained.model)
    frozen = _build("hrnet", "propagation", checkpoint=str(tmp_path / "run"))  # the run folder
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        expected = trained.model.eval().features(x)
        assert torch.allclose(frozen.model.eval()(x), expected, atol=1e-6)
        odd = frozen.model(torch.rand(1, 3, 70, 101))  # padded to 96 × 128, cropped back
    assert odd.shape[-2:] == (18, 26) and frozen.encoder().stride == 4
    assert path.endswith("checkpoint.pt")


def test_tcc_frame_encoder_comes_from_its_checkpoint_with_its_input_scaling(tmp_path):
    torch.manual_seed(0)
    trained = _build("tcc", "alignment")
    path = _save(tmp_path, trained.model)
    frozen = _build("tcc", "propagation", checkpoint=path)
    x = torch.rand(1, 3, 64, 96)  # [0, 1] frames, as the propagator gives them
    with torch.no_grad():
        expected = trained.model.encoder.eval()(x * 2 - 1)  # TCC's [-1, 1] inputs
        got = frozen.encoder()(x)
    assert got.shape == (1, 256, 4, 6) and torch.allclose(got, expected, atol=1e-5)
    assert frozen.encoder().stride == 16 and "tensors under 'encoder.'" in frozen.weights


def test_checkpoint_by_record_and_one_line_refusals(tmp_path):
    hrnet = _build("hrnet", None)
    path = _save(tmp_path, hrnet.model)
    record = tmp_path / "run.json"
    record.write_text(json.dumps({"artifacts": {"checkpoint": "run/checkpoint.pt"}}))
    assert find_checkpoint(record) == tmp_path / "run" / "checkpoint.pt"
    (tmp_path / "bare.json").write_text(json.dumps({"artifacts": {}}))
    with pytest.raises(ConfigError, match="this run recorded no checkpoint"):
        find_checkpoint(tmp_path / "bare.json")
    with pytest.raises(ConfigError, match="no such file; give --set checkpoint=PATH"):
        find_checkpoint(tmp_path / "nowhere.pt")
    with pytest.raises(ConfigError, match="not a bkind checkpoint of this encoder") as info:
        _build("bkind", "propagation", checkpoint=path)  # an HRNet checkpoint
    assert "\n" not in str(info.value)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="cannot be read"):
        _build("hrnet", "propagation", checkpoint=str(tmp_path / "junk.pt"))


def test_frozen_tasks_must_be_tasks_of_the_method():
    with pytest.raises(ValueError, match="frozen_tasks \\['pose2d'\\] are not in its tasks"):
        MethodSpec("x", ("discovery2d",), lambda c, num_keypoints=None: None,
                   frozen_tasks=("pose2d",))  # fmt: skip
