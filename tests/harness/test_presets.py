"""Run presets are plugins (kpbench_presets): the three built-in layers, a plugin's shared preset
that fixes the protocol for every method, a method's own preset, and isolation."""

from __future__ import annotations

import pytest

from kpbench import hookimpl
from kpbench.cli import main
from kpbench.cli.info import describe
from kpbench.config import resolve
from kpbench.errors import ConfigError
from kpbench.evaluation import task_options
from kpbench.presets import layer_and_settings
from kpbench.runner import RunOptions, run
from kpbench.specs import PresetSpec


class LabPresets:
    """A lab's evaluation protocol: discovery2d scored on 10 test frames, at smoke size."""

    @hookimpl
    def kpbench_presets(self):
        return [
            PresetSpec(
                "lab_eval",
                "our protocol",
                base="smoke",
                settings={"task.max_test_frames": 10, "task.max_fit_frames": 12},
            )
        ]


class BrokenPresets:
    @hookimpl
    def kpbench_presets(self):
        raise RuntimeError("cannot read our lab's protocol file")


@pytest.fixture
def lab(toy_registry):
    toy_registry.register(LabPresets(), name="lab")
    return toy_registry


def test_builtin_layers_are_offered_through_the_hook(toy_registry):
    presets = toy_registry.presets()
    assert {"smoke", "default", "paper"} <= set(presets)
    assert presets["smoke"].plugin.name == "presets" and presets["paper"].spec.base is None


def test_a_shared_preset_uses_its_base_layer_and_adds_its_settings(lab):
    method, task = lab.method("toymethod"), lab.task("discovery2d")
    layer, settings = layer_and_settings(lab, "lab_eval", method)
    assert layer == "smoke" and settings == {"task.max_test_frames": 10, "task.max_fit_frames": 12}
    config, data_options, overrides = resolve(method, layer, None, {}, settings)
    assert config["epochs"] == 2 and data_options == {}  # toymethod's smoke layer
    options = task_options(task, layer, overrides)
    assert options["max_test_frames"] == 10 and options["max_fit_frames"] == 12
    # --set still wins over the shared preset
    _, _, overrides = resolve(method, layer, None, {"task.max_test_frames": 4}, settings)
    assert task_options(task, layer, overrides)["max_test_frames"] == 4


def test_a_run_under_a_shared_preset_records_its_name_and_protocol(lab, toy_data, tmp_path):
    rec = run(
        RunOptions(
            method="toymethod",
            dataset="toy",
            data_dir=toy_data,
            preset="lab_eval",
            results_dir=tmp_path / "res",
            mlflow=False,
            progress=False,
        ),  # fmt: skip
        lab,
    )
    assert rec["status"] == "finished" and rec["preset"] == "lab_eval"
    assert rec["config"]["epochs"] == 2
    assert rec["evaluation"]["options"]["max_test_frames"] == 10
    assert describe("toymethod", preset="lab_eval")["config"]["epochs"] == 2


def test_a_method_keeps_its_own_presets_and_unknown_names_list_both(lab):
    method = lab.method("toymethod")
    assert layer_and_settings(lab, None, method) == (None, {})
    with pytest.raises(ConfigError, match="unknown preset 'fast' for method toymethod; presets: "
                       "default, lab_eval, paper, smoke"):  # fmt: skip
        layer_and_settings(lab, "fast", method)


def test_a_preset_spec_refuses_method_keys_and_unknown_bases():
    with pytest.raises(ValueError, match="settings \\['epochs'\\] are not data.KEY or task.KEY"):
        PresetSpec("fast", base="smoke", settings={"epochs": 1})
    with pytest.raises(ValueError, match="base 'tiny' is not one of"):
        PresetSpec("fast", base="tiny")
    with pytest.raises(ValueError, match="give base= one of smoke, default, paper"):
        PresetSpec("fast")


def test_a_raising_hook_is_reported_by_name_and_the_rest_still_work(lab, capsys):
    lab.register(BrokenPresets(), name="broken_presets")
    assert {"smoke", "lab_eval"} <= set(lab.presets())
    assert (
        "cannot read our lab's protocol file"
        in {p.name: p.error for p in lab.errors()}["broken_presets"]
    )
    assert main(["list", "presets"]) == 0
    out = capsys.readouterr().out
    assert "lab_eval  smoke" in out and "task.max_test_frames=10" in out
    with pytest.raises(ConfigError, match="plugins that failed to load: broken_presets"):
        layer_and_settings(lab, "fast", lab.method("toymethod"))
