"""The plugin contract: built-ins through entry points, in-process plugins, broken plugins."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

import kpbench
from kpbench.cli import main
from kpbench.errors import PluginError
from kpbench.plugins import Registry, reset_registry
from kpbench.schema import Schema
from kpbench.specs import MethodSpec, MetricSpec, TaskSpec

BROKEN_DIST = Path(__file__).resolve().parents[1] / "fixtures" / "broken_dist"


def test_builtins_load_through_entry_points():
    reg = Registry()
    tasks = {
        "discovery2d",
        "pose2d",
        "lifting3d",
        "multiview3d",
        "alignment",
        "behavior",
        "propagation",
    }
    assert {"bkind", "calms21", "video"} | tasks <= set(reg.plugins)
    assert all(reg.plugins[n].source == "built-in" for n in {"bkind", "calms21", "video"} | tasks)
    assert set(reg.tasks()) == tasks and not reg.errors()
    assert "bkind" in reg.methods() and {"calms21", "video"} <= set(reg.datasets())
    assert ("calms21", "bkind", ["discovery2d", "propagation"]) in reg.pairs()
    assert {m.name for m in reg.metrics("discovery2d")} >= {
        "regression_error",
        "regression_error_px",
    }


def test_in_process_plugin_is_listed_and_runnable(toy_registry, toy_data, tmp_path, capsys):
    assert toy_registry.plugins["toy"].source == "in-process"
    assert main(["list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert "toymethod" in [m["name"] for m in listed["methods"]]
    assert {"dataset": "toy", "method": "toymethod", "tasks": ["discovery2d"]} in listed["pairs"]
    rc = main(
        [
            "run",
            "--method",
            "toymethod",
            "--dataset",
            "toy",
            "--data-dir",
            str(toy_data),
            "--no-mlflow",
            "--results",
            str(tmp_path / "res"),
            "--no-progress",
        ]
    )
    assert rc == 0
    records = list((tmp_path / "res" / "toy" / "toymethod").glob("*.json"))
    assert len(records) == 1 and json.loads(records[0].read_text())["status"] == "finished"


def test_broken_plugin_is_reported_and_others_still_run(monkeypatch, caplog, capsys):
    monkeypatch.syspath_prepend(str(BROKEN_DIST))
    reg = Registry()
    broken = reg.plugins["broken"]
    assert broken.source == "kpbench-broken 1.0"
    assert "a_package_that_is_not_installed" in broken.error
    assert "broken" in caplog.text
    assert "bkind" in reg.methods()  # the others are unaffected
    reset_registry(reg)
    try:
        assert main(["list", "plugins"]) == 0
        out = capsys.readouterr().out
        assert "broken" in out and "error" in out and "import failed" in out
    finally:
        reset_registry(None)
        sys.modules.pop("kpbench_broken_plugin", None)


def test_list_json_shows_what_each_plugin_provides(capsys):
    reset_registry(Registry())
    try:
        assert main(["list", "--format", "json"]) == 0
    finally:
        reset_registry(None)
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)["plugins"]}
    assert plugins["bkind"]["provides"] == {"methods": ["bkind"]}
    assert plugins["calms21"]["provides"] == {"datasets": ["calms21"]}


class TaskPlugin:
    """A task and one metric for it, in-process."""

    __name__ = "dots"

    @kpbench.hookimpl
    def kpbench_tasks(self):
        return [
            TaskSpec(
                name="dots",
                description="find the dots",
                sample=Schema("dots sample"),
                inputs=Schema("dots inputs"),
                prediction=Schema("dots prediction"),
                unit="frame",
                samples=lambda data, split: [],
                select=lambda data, options: None,
                evaluation=lambda evalset, prediction, options: {},
            )
        ]

    @kpbench.hookimpl
    def kpbench_metrics(self):
        return [MetricSpec(name="hits", task="dots", fn=len, unit="%", higher_is_better=True)]


def test_list_shows_tasks_with_their_metrics(capsys):
    reg = Registry()
    reg.register(TaskPlugin(), name="dots")
    reset_registry(reg)
    try:
        assert main(["list", "tasks", "--format", "json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert main(["list", "tasks"]) == 0
        text = capsys.readouterr().out
    finally:
        reset_registry(None)
    dots = next(t for t in listed["tasks"] if t["name"] == "dots")
    assert dots == {
        "name": "dots",
        "plugin": "dots",
        "source": "in-process",
        "description": "find the dots",
        "unit": "frame",
        "sample": [],
        "predicts": [],
        "baselines": [],
        "metrics": ["hits"],
    }
    assert reg.plugins["dots"].provides == {"tasks": ["dots"], "metrics": ["hits"]}
    assert (
        text.startswith("tasks:\n  ")
        and "dots: find the dots" in text
        and "metrics    hits" in text
    )


OTHER_PLUGIN = """
import kpbench
from kpbench.specs import DatasetSpec, MethodSpec


@kpbench.hookimpl
def kpbench_datasets():
    return [DatasetSpec(name="video", tasks=("discovery2d",), build=lambda **kw: None)]


@kpbench.hookimpl
def kpbench_methods():
    return [MethodSpec(name="othermethod", tasks=("discovery2d",), build=lambda c, **kw: None)]
"""


def fake_distribution(root: Path, module: str, entry_point: str) -> Path:
    """A distribution ``kpbench-other 1.0`` whose ``kpbench`` entry point is ``entry_point``."""
    info = root / "kpbench_other-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kpbench-other\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kpbench]\n{entry_point} = {module}\n")
    (root / f"{module}.py").write_text(OTHER_PLUGIN)
    return root


def test_second_distribution_with_a_taken_name_is_kept_and_reported(
    tmp_path, monkeypatch, caplog, capsys
):
    monkeypatch.syspath_prepend(str(fake_distribution(tmp_path, "kpbench_other_plugin", "video")))
    reg = Registry()
    try:
        other = reg.plugins["video (kpbench-other 1.0)"]
        assert other.source == "kpbench-other 1.0" and other.error is None
        assert reg.plugins["video"].source == "built-in"  # the built-in keeps its name
        assert "'video' is taken by built-in and claimed again by kpbench-other 1.0" in caplog.text
        assert "othermethod" in reg.methods()  # what only the second one offers works
        assert reg.datasets()["video"].plugin.name == "video"  # a clashing record: the first
        assert "offered by plugin 'video' (built-in) and by 'video (kpbench-other 1.0)'" in (
            caplog.text
        )
        reset_registry(reg)
        assert main(["list", "plugins"]) == 0
        assert "video (kpbench-other 1.0)  kpbench-other 1.0  ok" in capsys.readouterr().out
    finally:
        reset_registry(None)
        sys.modules.pop("kpbench_other_plugin", None)


def test_in_process_plugin_with_a_taken_name_keeps_the_first(caplog):
    reg = Registry()
    builtin = reg.plugins["bkind"]
    info = reg.register(DuplicatePlugin(), name="bkind")
    assert info.name == "bkind (in-process)" and info.error is None
    assert reg.plugins["bkind"] is builtin and reg.pm.get_plugin("bkind") is not None
    assert reg.methods()["bkind"].plugin is builtin
    assert "'bkind' is taken by built-in and claimed again by in-process" in caplog.text
    again = reg.register(MisspelledPlugin(), name="bkind")  # fails to register: the first stays
    assert again.name == "bkind (in-process)#2" and "kpbench_method" in again.error
    assert reg.plugins["bkind"] is builtin and "bkind" in reg.methods()
    assert reg.plugins["bkind (in-process)"].error is None


class RaisingPlugin:
    __name__ = "raising"

    @kpbench.hookimpl
    def kpbench_methods(self):
        raise RuntimeError("boom")


class DuplicatePlugin:
    __name__ = "dup"

    @kpbench.hookimpl
    def kpbench_methods(self):
        return [
            MethodSpec(
                name="bkind", tasks=("discovery2d",), build=lambda c, num_keypoints=None: None
            )
        ]


class MisspelledPlugin:
    __name__ = "misspelled"

    @kpbench.hookimpl
    def kpbench_method(self):  # not a hook: pluggy's check_pending rejects it
        return []


def test_failing_hook_duplicate_and_misspelled_hooks_are_contained(caplog):
    reg = Registry()
    reg.register(RaisingPlugin(), name="raising")
    reg.register(DuplicatePlugin(), name="dup")
    reg.register(MisspelledPlugin(), name="misspelled")
    methods = reg.methods()
    assert methods["bkind"].plugin.name == "bkind"  # the first one wins
    assert "offered by plugin 'bkind'" in caplog.text and "'dup'" in caplog.text
    assert "boom" in reg.plugins["raising"].error
    assert "kpbench_method" in reg.plugins["misspelled"].error
    assert {p.name for p in reg.errors()} == {"raising", "misspelled"}


def test_unknown_names_list_what_exists():
    reg = Registry()
    with pytest.raises(PluginError, match="unknown method 'nope'; available: .*bkind"):
        reg.method("nope")
    with pytest.raises(PluginError, match="unknown dataset 'nope'; available: .*calms21"):
        reg.dataset("nope")
