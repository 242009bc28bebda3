"""``kpbench new-plugin``: each kind's distribution is installable, conformant and runs.

The generated folder is turned into an installed distribution without pip, as
``test_external_plugin.py`` does: its package and a ``kpbench_NAME-0.1.0.dist-info`` (METADATA,
``entry_points.txt`` read from the generated ``pyproject.toml``) in a folder on the path, where
``importlib.metadata`` finds its entry point. The generated tests then run in a subprocess
(``pytest`` on the generated folder), and the generated method runs through the CLI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

from kpbench.cli import main
from kpbench.plugins import Registry, reset_registry


def new_plugin(tmp_path: Path, name: str, *args: str) -> Path:
    assert main(["new-plugin", name, "--out", str(tmp_path / "gen"), *args]) == 0
    return tmp_path / "gen" / name


def install(folder: Path, site: Path) -> str:
    """Put the generated distribution on ``site`` as if pip had installed it; its source label."""
    project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
    (package,) = tomllib.loads((folder / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]
    shutil.copytree(folder / package, site / package)
    info = site / f"{package}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    points = project["entry-points"]["kpbench"]
    (info / "entry_points.txt").write_text(
        "[kpbench]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )
    return f"{project['name']} {project['version']}"


def run_generated_tests(folder: Path, site: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    return proc.stdout


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """``installed(folder)``: the distribution on ``sys.path`` and a fresh process registry."""
    site, names = tmp_path / "site", []

    def put(folder: Path) -> tuple[Registry, str]:
        source = install(folder, site)
        names.append(f"kpbench_{folder.name}")
        monkeypatch.syspath_prepend(str(site))
        reg = Registry()
        reset_registry(reg)
        return reg, source

    try:
        yield put
    finally:
        reset_registry(None)
        for name in [m for m in sys.modules if m.split(".")[0] in names]:
            sys.modules.pop(name)


@pytest.mark.parametrize(
    "name,args,provides,tests",
    [
        ("tinypose", [], {"methods": ["tinypose"]}, 2),
        ("tinydisc", ["--task", "discovery2d"], {"methods": ["tinydisc"]}, 2),
        ("dots", ["--kind", "dataset"], {"datasets": ["dots"]}, 2),
        ("mne", ["--kind", "metric"], {"metrics": ["mne"]}, 2),
        (
            "heading",
            ["--kind", "task"],
            {
                "tasks": ["heading"],
                "datasets": ["heading"],
                "methods": ["heading"],
                "metrics": ["angular_error", "within_15deg"],
            },
            4,
        ),  # fmt: skip
    ],
)
def test_generated_distribution_installs_and_passes_its_tests(
    tmp_path, installed, name, args, provides, tests
):
    folder = new_plugin(tmp_path, name, *args)
    package = f"kpbench_{name}"
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == [
        "README.md", f"{package}/__init__.py", f"{package}/plugin.py", "pyproject.toml",
        "tests/test_plugin.py",
    ]  # fmt: skip
    readme = (folder / "README.md").read_text()
    assert "pip install -e ." in readme and "kpbench list" in readme and "pytest" in readme
    reg, source = installed(folder)
    assert name not in [p.name for p in reg.errors()]  # collects: fills provides
    info = reg.plugins[name]
    assert (info.source, info.error) == (source, None)
    assert {k: v for k, v in info.provides.items() if v} == provides
    out = run_generated_tests(folder, tmp_path / "site")
    assert f"{tests} passed" in out


def test_generated_method_runs_and_compares_through_the_cli(tmp_path, installed, capsys):
    folder = new_plugin(tmp_path, "tinypose")
    installed(folder)
    data, results = tmp_path / "video", tmp_path / "results"
    synth = ["--set", "frames=40", "--set", "width=64", "--set", "height=64"]
    assert main(["data", "synth", "video", "--out", str(data), *synth]) == 0
    run = ["run", "--method", "tinypose", "--dataset", "video", "--data-dir", str(data)]
    run += ["--preset", "smoke", "--no-mlflow", "--no-progress", "--results", str(results)]
    assert main([*run, "--device", "cpu"]) == 0, capsys.readouterr()
    (path,) = results.glob("video/tinypose/*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "finished" and record["task"] == "pose2d"
    assert record["metrics"]["pck@0.1"]["value"] is not None and len(record["history"]) == 5
    assert record["params"] > 0 and record["flops"]["per_sample"] > 0
    capsys.readouterr()
    assert main(["compare", str(results)]) == 0
    assert "tinypose" in capsys.readouterr().out


def test_generated_task_runs_on_its_twin_and_compares_through_the_cli(tmp_path, installed, capsys):
    folder = new_plugin(tmp_path, "heading", "--kind", "task")
    reg, _ = installed(folder)
    assert ("heading", "heading", ["heading"]) in reg.pairs()
    data, results = tmp_path / "twin", tmp_path / "results"
    assert main(["data", "synth", "heading", "--out", str(data), "--set", "n_train=48"]) == 0
    run = ["run", "--method", "heading", "--dataset", "heading", "--data-dir", str(data)]
    run += ["--preset", "smoke", "--no-mlflow", "--no-progress", "--results", str(results)]
    assert main([*run, "--device", "cpu"]) == 0, capsys.readouterr()
    (path,) = results.glob("heading/heading/*.json")
    record = json.loads(path.read_text())
    assert record["status"] == "finished" and record["task"] == "heading"
    assert record["data"]["images"] == {"train": 48, "test": 40}
    assert record["data"]["skipped_images"] == {}
    error = record["metrics"]["angular_error"]
    assert error["unit"] == "deg" and 0 <= error["value"] <= 180
    assert set(error["breakdown"]["per_quadrant"]) <= {"0-90deg", "90-180deg", "180-270deg",
                                                       "270-360deg"}  # fmt: skip
    assert record["baselines"]["mean_heading"]["angular_error"] > 0
    capsys.readouterr()
    assert main(["compare", str(results)]) == 0
    out = capsys.readouterr().out
    assert "angular_error" in out and "baseline:mean_heading" in out


def test_refusals_are_one_line(tmp_path, capsys):
    cases = [
        (["new-plugin", "My-Net"], "plugin name 'My-Net': use 1 to 40 lowercase letters"),
        (["new-plugin", "x", "--task", "lifting3d"], "supported tasks: pose2d, discovery2d"),
        (["new-plugin", "x", "--kind", "metric", "--task", "behavior"], "supported tasks: pose2d"),
        (["new-plugin", "x", "--kind", "task", "--task", "pose2d"], "leave --task out"),
    ]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    cases.append((["new-plugin", "taken", "--out", str(tmp_path)], "exists and is not empty"))
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert (tmp_path / "taken" / "keep.txt").read_text() == "mine"
    assert not (tmp_path / "x").exists() and not Path("x").exists()
