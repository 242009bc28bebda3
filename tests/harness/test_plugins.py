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
from kpbench.specs import MethodSpec

BROKEN_DIST = Path(__file__).resolve().parents[1] / "fixtures" / "broken_dist"


def test_builtins_load_through_entry_points():
    reg = Registry()
    assert {"bkind", "calms21", "video", "discovery_metrics"} <= set(reg.plugins)
    assert all(reg.plugins[n].source == "built-in" for n in ("bkind", "calms21", "video"))
    assert "bkind" in reg.methods() and {"calms21", "video"} <= set(reg.datasets())
    assert ("calms21", "bkind", ["discovery2d"]) in reg.pairs()
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


def test_every_hookspec_is_documented():
    from kpbench import hookspecs

    doc = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()
    names = [n for n in dir(hookspecs) if n.startswith("kpbench_")]
    assert names
    for name in names:
        assert getattr(hookspecs, name).__doc__.strip()
        assert f"{name}()" in doc, f"{name} is not documented in docs/plugins.md"
