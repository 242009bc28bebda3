"""The example distribution under ``examples/`` works as an installed plugin, and a broken copy of
it is reported by name without taking the others down.

``examples/kpbench-nearest-pose`` is copied into ``tmp_path/site`` with a ``.dist-info`` whose
``entry_points.txt`` is its ``pyproject.toml``'s ``[project.entry-points.kpbench]`` table, and put
on ``sys.path``, where ``importlib.metadata`` finds it as an installed distribution (as
``test_external_plugin.py`` does with ``tests/fixtures/counting_dist``). CI also installs the
example for real and runs it through the CLI (``.ci/run``).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

from kpbench.cli import main
from kpbench.plugins import Registry, reset_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "kpbench-nearest-pose"
PACKAGE = "kpbench_nearest_pose"


def _project(pyproject: Path) -> tuple[str, str, list[str]]:
    """``(name, version, entry-point lines)`` of the example's ``pyproject.toml``."""
    text = pyproject.read_text()
    name = re.search(r'^name = "([^"]+)"', text, re.M).group(1)
    version = re.search(r'^version = "([^"]+)"', text, re.M).group(1)
    table = text.split("[project.entry-points.kpbench]\n", 1)[1].split("\n[", 1)[0]
    return name, version, [line for line in table.splitlines() if "=" in line]


def install(site: Path, package: str, dist: str, version: str, entry_points: list[str]) -> None:
    """Copy the example's package into ``site`` as ``package``, with a dist-info for ``dist``."""
    shutil.copytree(EXAMPLE / PACKAGE, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text("[kpbench]\n" + "\n".join(entry_points) + "\n")


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on ``sys.path`` holding the example as an installed distribution."""
    site = tmp_path / "site"
    dist, version, entry_points = _project(EXAMPLE / "pyproject.toml")
    assert entry_points == [f'nearest_pose = "{PACKAGE}.plugin"']
    install(site, PACKAGE, dist, version, [e.replace('"', "") for e in entry_points])
    monkeypatch.syspath_prepend(str(site))
    try:
        yield site
    finally:
        reset_registry(None)
        for name in [m for m in sys.modules if m.split(".")[0].startswith(PACKAGE)]:
            sys.modules.pop(name)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """A small synthetic ``video`` twin (pose2d labels), made once."""
    out = tmp_path_factory.mktemp("clips")
    assert main(["data", "synth", "video", "--out", str(out), "--set", "frames=60",
                 "--set", "width=96", "--set", "height=96"]) == 0  # fmt: skip
    return out


def _listed(capsys) -> dict:
    assert main(["list", "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _smoke_run(clips: Path, results: Path, capsys) -> dict:
    args = ["run", "--method", "nearest_pose", "--dataset", "video", "--data-dir", str(clips),
            "--preset", "smoke", "--no-mlflow", "--no-progress", "--device", "cpu",
            "--results", str(results)]  # fmt: skip
    code = main(args)
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert "pck@0.1 ↑" in out.out and "baseline mean_pose" in out.out
    (path,) = (results / "video" / "nearest_pose").glob("*.json")
    return json.loads(path.read_text())


def test_example_is_listed_and_runs(site, clips, tmp_path, capsys):
    reset_registry(Registry())
    listed = _listed(capsys)
    plugin = next(p for p in listed["plugins"] if p["name"] == "nearest_pose")
    assert plugin["status"] == "ok" and plugin["source"] == "kpbench-nearest-pose 0.1.0"
    assert plugin["provides"] == {"methods": ["nearest_pose"]}
    assert {"dataset": "video", "method": "nearest_pose", "tasks": ["pose2d"]} in listed["pairs"]
    record = _smoke_run(clips, tmp_path / "results", capsys)
    assert record["status"] == "finished" and record["task"] == "pose2d"
    assert record["trains"] is True and record["params"] == 0
    assert record["notes"]["memory_crops"] > 0
    assert record["flops"]["per_sample"] == 2 * 32 * 32 * record["notes"]["memory_crops"]
    assert 0 <= record["metrics"]["pck@0.2"]["value"] <= 100
    assert record["metrics"]["rmse_px"]["unit"] == "px"
    assert "train_step_median" in record["timing"]
    assert main(["compare", str(tmp_path / "results")]) == 0
    assert "nearest_pose" in capsys.readouterr().out


def _broken_copy(site: Path, package: str, dist: str, breakage) -> None:
    install(site, package, dist, "0.1.0", [f"{package} = {package}.plugin"])
    plugin = site / package / "plugin.py"
    plugin.write_text(breakage(plugin.read_text()))


def test_broken_copies_are_reported_and_the_others_still_run(site, clips, tmp_path, capsys):
    hook = "def kpbench_methods():\n"
    _broken_copy(site, f"{PACKAGE}_hook", "kpbench-nearest-pose-hook",
                 lambda src: src.replace(hook, hook + '    raise RuntimeError("broken on purpose")\n'))  # fmt: skip
    _broken_copy(site, f"{PACKAGE}_import", "kpbench-nearest-pose-import",
                 lambda src: src.replace("import cv2\n", "import a_module_that_is_not_installed\n"))  # fmt: skip
    reset_registry(Registry())
    listed = _listed(capsys)
    plugins = {p["name"]: p for p in listed["plugins"]}
    hook_broken, import_broken = plugins[f"{PACKAGE}_hook"], plugins[f"{PACKAGE}_import"]
    assert hook_broken["status"] == "error" and "broken on purpose" in hook_broken["error"]
    assert hook_broken["source"] == "kpbench-nearest-pose-hook 0.1.0"
    assert import_broken["status"] == "error"
    assert "a_module_that_is_not_installed" in import_broken["error"]
    assert plugins["nearest_pose"]["status"] == "ok"  # the intact example, and the built-ins
    assert all(plugins[n]["status"] == "ok" for n in ("pose2d", "video", "hrnet", "bkind"))
    methods = {m["name"]: m for m in listed["methods"]}
    assert methods["nearest_pose"]["source"] == "kpbench-nearest-pose 0.1.0"
    assert {"hrnet", "bkind", "videopose3d"} <= set(methods)
    assert main(["list", "plugins"]) == 0
    text = capsys.readouterr().out
    assert f"{PACKAGE}_hook" in text and f"{PACKAGE}_import" in text and "error" in text
    record = _smoke_run(clips, tmp_path / "results", capsys)
    assert record["status"] == "finished" and record["metrics"]["pck@0.1"]["value"] is not None
