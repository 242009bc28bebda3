"""A BKinD smoke run killed with SIGKILL mid-epoch and resumed with ``--resume <run id>`` in a
fresh process ends with the same training history and metrics as an uninterrupted run with the
same seed (exactly: one thread on CPU is deterministic, and the checkpoint restores the model,
optimiser, scheduler, RNG states, epoch, step and running loss sums)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from kpbench.plugins import get_registry


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calms")
    get_registry().dataset("calms21").synthesize(
        out, 0, n_train=1, n_test=1, frames=24, width=64, height=64
    )
    return out


def _command(twin: Path, results: Path, *extra: str) -> list[str]:
    return [
        str(Path(sys.executable).parent / "kpbench"), "run", "--method", "bkind", "--dataset", "calms21",
        "--data-dir", str(twin), "--preset", "smoke", "--results", str(results), "--threads", "1",
        "--no-mlflow", "--no-progress", "--set", "checkpoint_every=1", "--set", "batch_size=2",
        *extra,
    ]  # fmt: skip


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _mid_epoch(results: Path) -> Path | None:
    """The run folder once its checkpoint is a mid-epoch one (after at least one step)."""
    for path in results.glob("calms21/bkind/*/checkpoint.pt"):
        try:
            state = torch.load(path, weights_only=True)
        except (OSError, RuntimeError, EOFError):  # replaced while reading: look again
            continue
        if not state.get("epoch_done", True) and state.get("step", 0) >= 1:
            return path.parent
    return None


def _record(results: Path, run_id: str | None = None) -> dict:
    (path,) = results.glob(f"calms21/bkind/{run_id or '*'}.json")
    return json.loads(path.read_text())


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(twin, tmp_path):
    whole = tmp_path / "whole"
    subprocess.run(_command(twin, whole), check=True, env=_env(), capture_output=True)
    expected = _record(whole)

    cut = tmp_path / "cut"
    proc = subprocess.Popen(_command(twin, cut), env=_env(), stderr=subprocess.DEVNULL)
    run_dir = None
    while run_dir is None and proc.poll() is None:
        run_dir = _mid_epoch(cut)
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL and run_dir is not None, "the run ended before a kill"
    assert not (cut / "calms21" / "bkind" / f"{run_dir.name}.json").exists()  # died: no record
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)

    resume = _command(twin, cut, "--resume", run_dir.name)
    subprocess.run(resume, check=True, env=_env(), capture_output=True)
    got = _record(cut, run_dir.name)
    assert got["status"] == "finished"
    assert got["notes"]["resumed_from"] == {"epoch": state["epoch"], "step": state["step"]}
    assert got["history"] == expected["history"]
    assert {k: v["value"] for k, v in got["metrics"].items()} == {
        k: v["value"] for k, v in expected["metrics"].items()
    }
    assert len(got["history"]) == 2 and got["metrics"]

    refused = subprocess.run(resume, env=_env(), capture_output=True, text=True)
    assert refused.returncode != 0 and "that run finished" in refused.stderr
