"""The command line as a user meets it: fast help, JSON output, one clear line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kpbench.cli import main
from kpbench_plugins.bkind.plugin import REFERENCE


def test_help_imports_no_heavy_module():
    code = (
        "import sys; from kpbench.cli import build_parser; build_parser().format_help(); "
        "from kpbench.plugins import get_registry; get_registry().methods(); "
        "print(sorted(m for m in ('torch', 'mlflow', 'cv2', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_help_runs_as_a_command():
    out = subprocess.run(
        [sys.executable, "-m", "kpbench.cli", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "run" in out.stdout and "compare" in out.stdout


def test_list_json_has_sources_and_pairs(capsys):
    assert main(["list", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    bkind = next(m for m in data["methods"] if m["name"] == "bkind")
    assert bkind["tasks"] == ["discovery2d", "propagation"] and bkind["source"] == "built-in"
    assert any(p["dataset"] == "calms21" and p["method"] == "bkind" for p in data["pairs"])
    assert any(m["name"] == "regression_error" and m["unit"] == "%" for m in data["metrics"])


def test_info_json_describes_the_paper_model(capsys):
    assert main(["info", "bkind", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["method"] == "bkind" and info["tasks"] == ["discovery2d", "propagation"]
    assert info["flops_sample"] == "frame" and info["trains"]
    assert info["config"]["backbone"] == "resnet50" and info["config"]["image_size"] == 256
    assert info["params"] == REFERENCE["params"]
    assert info["flops_per_sample"] == REFERENCE["flops"]


def test_info_with_a_preset(capsys):
    assert (
        main(["info", "bkind", "--preset", "smoke", "--set", "num_keypoints=4", "--format", "json"])
        == 0
    )
    info = json.loads(capsys.readouterr().out)
    assert info["config"]["num_keypoints"] == 4 and info["config"]["image_size"] == 64
    assert info["params"] < REFERENCE["params"]


def _error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kpbench: error: "), err
    assert "Traceback" not in err
    return lines[0]


def test_unknown_method_and_dataset(capsys, tmp_path):
    assert "unknown method 'nope'; available:" in _error(
        capsys, ["run", "--method", "nope", "--dataset", "calms21"]
    )
    assert "unknown dataset 'nope'; available:" in _error(
        capsys, ["run", "--method", "bkind", "--dataset", "nope"]
    )


def test_missing_data_folder(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("KPBENCH_DATA", raising=False)
    line = _error(
        capsys,
        [
            "run",
            "--method",
            "bkind",
            "--dataset",
            "calms21",
            "--data-dir",
            str(tmp_path / "absent"),
            "--no-mlflow",
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert str(tmp_path / "absent") in line and "kpbench data synth calms21" in line
    assert not (tmp_path / "r").exists()


def test_malformed_calms21_json(capsys, tmp_path):
    bad = tmp_path / "calms"
    bad.mkdir()
    (bad / "calms21_task1_train.json").write_text(
        json.dumps(
            {
                "annotator-id_0": {
                    "task1/train/mouse001_task1_annotator1": {
                        "keypoints": [[[1, 2]]],
                        "metadata": {"vocab": {"other": 0}},
                    }
                }
            }
        )
    )
    line = _error(
        capsys,
        [
            "run",
            "--method",
            "bkind",
            "--dataset",
            "calms21",
            "--data-dir",
            str(bad),
            "--no-mlflow",
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert "calms21_task1_train.json" in line and "mouse001" in line


def test_video_that_cannot_be_opened(capsys, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    line = _error(
        capsys,
        [
            "run",
            "--method",
            "bkind",
            "--dataset",
            "video",
            "--data-dir",
            str(clips),
            "--no-mlflow",
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert "broken.mp4" in line


def test_bad_set_and_bad_preset(capsys):
    assert "unknown key 'nope'" in _error(capsys, ["info", "bkind", "--set", "nope=1"])
    assert "unknown preset 'huge'" in _error(capsys, ["info", "bkind", "--preset", "huge"])


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_list_sections(capsys, fmt):
    assert main(["list", "methods", "--format", fmt]) == 0
    assert "bkind" in capsys.readouterr().out
