"""TCC end to end with the smoke preset: through the CLI on the actions twin (pixels), and
through the runner on the CMU walks (keypoints only: the pose variant)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kpbench.runner import RunOptions, run

CMU = Path(__file__).resolve().parents[4] / "shared" / "data" / "cmu_mocap_131"


def _kpbench(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "kpbench.cli", *args], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_cli_run_on_the_actions_twin(tmp_path):
    data, results = tmp_path / "actions", tmp_path / "results"
    _kpbench("data", "synth", "actions", "--out", str(data), "--set", "videos=3",
             "--set", "min_frames=24", "--set", "max_frames=30", "--set", "width=32",
             "--set", "height=32")  # fmt: skip
    _kpbench("run", "--method", "tcc", "--dataset", "actions", "--data-dir", str(data),
             "--preset", "smoke", "--device", "cpu", "--no-mlflow", "--results", str(results))  # fmt: skip
    (path,) = (results / "actions" / "tcc").glob("*.json")
    rec = json.loads(path.read_text())
    assert rec["status"] == "finished", rec.get("error")
    assert rec["notes"]["input"] == "frames" and rec["notes"]["pretrained"].startswith("none")
    assert set(rec["notes"]["train_sequences"]) == {"pour", "pen_rotate"}
    assert len(rec["history"]) == 2 and "kendalls_tau" in rec["metrics"]
    assert {"raw", "untrained"} <= set(rec["baselines"])
    assert rec["flops"]["per_sample"] > 0 and rec["timing"]["train_step_median"]["value"] > 0


@pytest.mark.skipif(not CMU.is_dir(), reason="shared/data/cmu_mocap_131 not present")
def test_walks_run_through_the_pose_variant(tmp_path):
    rec = run(
        RunOptions(method="tcc", dataset="mocap", data_dir=CMU, preset="smoke",
                   results_dir=tmp_path, mlflow=False, progress=False, task="alignment")
    )  # fmt: skip
    assert rec["status"] == "finished", rec.get("error")
    assert rec["notes"]["input"] == "keypoints"
    assert 0 < rec["notes"]["params_for_input"] != rec["params"]  # rebuilt for 17 joints
    assert rec["notes"]["train_sequences"]["walk"] > 0
    assert rec["metrics"] or rec["notes"].get("metrics_unavailable")
