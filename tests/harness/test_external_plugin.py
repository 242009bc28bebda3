"""A plugin distribution from outside the repo adds a whole new task, end to end.

``tests/fixtures/counting_dist`` is a package ``kpbench_counting`` with a
``kpbench_counting-0.1.dist-info`` (METADATA, ``entry_points.txt`` in the ``kpbench`` group):
the ``counting`` task, a dataset with a synthetic twin, two methods and a metric. It is copied
into ``tmp_path`` and put on ``sys.path``, where ``importlib.metadata`` finds it as an
installed distribution; the CLI then lists, describes, synthesises, runs and compares it, and
the conformance suite checks every record it offers.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from kpbench import testing
from kpbench.cli import main
from kpbench.plugins import Registry, reset_registry

DIST = Path(__file__).resolve().parents[1] / "fixtures" / "counting_dist"
SOURCE = "kpbench-counting 0.1"


@pytest.fixture
def counting(tmp_path, monkeypatch):
    """A fresh process registry that found ``kpbench-counting 0.1`` through its entry point."""
    site = tmp_path / "site"
    shutil.copytree(DIST, site, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.syspath_prepend(str(site))
    reg = Registry()
    reset_registry(reg)
    try:
        yield reg
    finally:
        reset_registry(None)
        for name in [m for m in sys.modules if m.split(".")[0] == "kpbench_counting"]:
            sys.modules.pop(name)


def _out(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


def test_listed_with_the_distribution_as_source(counting, capsys):
    info = counting.plugins["counting"]
    assert "counting" not in [p.name for p in counting.errors()]  # collects: fills provides
    assert info.source == SOURCE and info.error is None
    assert info.provides == {
        "tasks": ["counting"],
        "datasets": ["counting"],
        "methods": ["blobcount", "countnet"],
        "metrics": ["count_mae"],
    }
    assert main(["list", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    task = next(t for t in listed["tasks"] if t["name"] == "counting")
    assert task["source"] == SOURCE and task["metrics"] == ["count_mae"]
    for kind, name in (("datasets", "counting"), ("methods", "blobcount"), ("methods", "countnet")):
        assert next(r for r in listed[kind] if r["name"] == name)["source"] == SOURCE
    metric = next(m for m in listed["metrics"] if m["name"] == "count_mae")
    assert metric == {**metric, "task": "counting", "unit": "objects", "higher_is_better": False}
    assert {"dataset": "counting", "method": "countnet", "tasks": ["counting"]} in listed["pairs"]
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    assert "counting" in text and SOURCE in text and "count_mae" in text
    assert main(["info", "counting"]) == 0
    text = capsys.readouterr().out
    assert "count the bright blobs" in text and f"({SOURCE})" in text
    assert "count_mae [objects]" in text and "mean_count" in text and "countnet" in text


def test_synth_run_twice_and_compare(counting, tmp_path, capsys):
    data, results = tmp_path / "D", tmp_path / "R"
    assert main(["data", "synth", "counting", "--out", str(data)]) == 0
    assert (data / "labels.csv").is_file()
    common = ["--dataset", "counting", "--data-dir", str(data), "--preset", "smoke"]
    common += ["--no-mlflow", "--no-progress", "--results", str(results), "--device", "cpu"]
    for method, seed in (("countnet", 0), ("countnet", 1), ("blobcount", 0)):
        assert main(["run", "--method", method, *common, "--seed", str(seed)]) == 0, _out(capsys)
        out = capsys.readouterr().out
        assert "count_mae ↓" in out and "baseline mean_count: count_mae" in out
    records = sorted((results / "counting").glob("*/*.json"))
    assert len(records) == 3
    for path in records:
        record = json.loads(path.read_text())
        assert record["status"] == "finished" and record["task"] == "counting"
        assert record["metrics"]["count_mae"]["unit"] == "objects"
        assert "per_true_count" in record["metrics"]["count_mae"]["breakdown"]
        assert "count_mae" in record["baselines"]["mean_count"]
    blob = next(json.loads(p.read_text()) for p in records if p.parent.name == "blobcount")
    assert blob["metrics"]["count_mae"]["value"] == 0.0  # separate blobs are counted exactly
    assert main(["compare", str(results)]) == 0
    table = capsys.readouterr().out
    assert "countnet" in table and "blobcount" in table and "count_mae" in table


def test_conformance_suite_on_the_external_plugin(counting, tmp_path):
    for method in ("blobcount", "countnet"):
        spec = counting.method(method)
        report = testing.check_method(spec, "counting", registry=counting, tmp_dir=tmp_path)
        assert report["metrics"]["count_mae"]["error"] is None
        assert testing.check_reference(spec)["params"] == spec.reference["params"]
    plugin = sys.modules["kpbench_counting.plugin"]
    metric = counting.metrics("counting")[0]
    assert testing.check_metric(metric, registry=counting, perfect=plugin.perfect) == 0.0
    dataset = counting.dataset("counting")
    twin = dataset.synthesize(tmp_path / "twin", 0, n_train=4, n_test=3)
    assert testing.check_dataset(dataset, twin, registry=counting) == {
        "counting": {"train": 4, "test": 3}
    }
    report = testing.check_dataset_errors(
        dataset, tmp_path / "errors", registry=counting, synth_options={"n_train": 4}
    )
    assert "labels.csv" in report["file"] and "video" not in report
