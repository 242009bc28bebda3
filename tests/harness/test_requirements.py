"""MethodSpec.requires: checked before a run, one line naming what is missing."""

from __future__ import annotations

import pytest
import torch

from kpbench import requirements
from kpbench.errors import IncompatibleError
from kpbench.plugins import get_registry
from kpbench.specs import MethodSpec

CPU = {"cuda": False, "memory_gib": 8.0, "gpu_memory_gib": None}
GPU = {"cuda": True, "memory_gib": 64.0, "gpu_memory_gib": 16.0}


def test_nothing_required_passes_anywhere():
    requirements.check("m", {}, torch.device("cpu"), CPU)


@pytest.mark.parametrize(
    ("requires", "have", "message"),
    [
        ({"gpu": True}, CPU, "needs a CUDA GPU"),
        ({"min_memory_gib": 16}, CPU, "needs 16 GiB of memory .* has 8.0 GiB"),
        ({"min_gpu_memory_gib": 40}, GPU, "needs 40 GiB of GPU memory .* has 16.0 GiB"),
    ],
)
def test_a_missing_need_is_refused_with_one_line(requires, have, message):
    with pytest.raises(IncompatibleError, match=message) as info:
        requirements.check("big", requires, torch.device("cuda" if have["cuda"] else "cpu"), have)
    assert "method big" in str(info.value) and "\n" not in str(info.value)


def test_needs_that_are_met_pass():
    requirements.check("big", {"gpu": True, "min_gpu_memory_gib": 8, "min_memory_gib": 32},
                       torch.device("cuda"), GPU)  # fmt: skip
    requirements.check("m", {"min_gpu_memory_gib": 40}, torch.device("cpu"), CPU)  # CPU: n/a


@pytest.mark.parametrize("bad", [{"gpus": 2}, {"gpu": "yes"}, {"min_memory_gib": "4G"}])
def test_unknown_or_mistyped_keys_are_a_plugin_error(bad):
    with pytest.raises(ValueError, match="method m"):
        MethodSpec(name="m", tasks=("pose2d",), build=lambda c, num_keypoints=None: None,
                   requires=bad)  # fmt: skip


def test_this_machine_is_measured():
    have = requirements.machine(torch.device("cpu"))
    assert have["cuda"] is False and have["memory_gib"] > 0.5


def test_a_run_is_refused_before_data_is_read(tmp_path, monkeypatch):
    from kpbench.runner import RunOptions, run

    spec = get_registry().method("hrnet")
    assert spec.requires == {"min_memory_gib": 4}  # a built-in declares what it needs
    monkeypatch.setattr(requirements, "machine", lambda device: {**CPU, "memory_gib": 1.0})
    with pytest.raises(IncompatibleError, match="method hrnet needs 4 GiB"):
        run(RunOptions(method="hrnet", dataset="video", data_dir=tmp_path / "absent",
                       preset="smoke", results_dir=tmp_path, mlflow=False, progress=False))  # fmt: skip
