"""A sweep cell preempted on Slurm is requeued and resumes from its checkpoint (issue #14).

Slurm preempts (or nears the time limit) with USR2; submitit catches it in the array task,
calls ``CellJob.checkpoint`` and requeues the task, and the requeued task runs the cell with
``kpbench run --resume <cell id>``. submitit's LocalExecutor delivers the same signal and
requeues the same way without a Slurm controller (Slurm itself holds a requeued job ~2 min), so
the whole path runs here: the interrupted ``kpbench run`` dies mid-training, the second one
continues from its last checkpoint and finishes."""

from __future__ import annotations

import json
import signal
import time

import psutil
import pytest
from sweep_testing import install_toy, toy_data, write_suite

from kpbench.sweep import cell as cells
from kpbench.sweep.slurm import CellJob
from kpbench.sweep.suite import load_suite


@pytest.fixture
def env(tmp_path, monkeypatch):
    site = install_toy(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", str(site))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_preempted_cell_is_requeued_and_resumes_from_its_checkpoint(env):
    submitit = pytest.importorskip("submitit")
    data = toy_data(env / "toy")
    # long enough to be caught mid-training: many short epochs, a checkpoint after each
    suite_file = write_suite(env / "suite.yaml", data, [0], failing=False, sets=[["epochs=800"]])
    suite = load_suite(suite_file)
    [cell] = suite.cells
    run = {**suite.run, "mlflow": False}
    ex = submitit.LocalExecutor(folder=env / "submitit")
    ex.update_parameters(timeout_min=30)
    job = ex.submit(CellJob(suite.results, run), cell)
    checkpoint = cell.record_path(suite.results).with_suffix("") / "checkpoint.pt"
    while not checkpoint.is_file():
        assert not job.done(), job.stderr()
        time.sleep(0.2)
    # USR2 to the array task's process, as Slurm's --signal delivers it before preemption or the
    # time limit (submitit's local controller itself only forwards SIGTERM)
    [task] = [
        p for p in psutil.Process(job._process.pid).children() if "_submit" in " ".join(p.cmdline())
    ]
    task.send_signal(signal.SIGUSR2)
    outcome = job.result()
    assert outcome == {"cell": cell.id, "status": "finished", "error": None}
    record = json.loads(cell.record_path(suite.results).read_text())
    assert record["status"] == "finished" and record["run_id"] == cell.id
    assert record["notes"]["resumed_from"]["epoch"] >= 1  # continued, not restarted
    log = cells.log_path(cell, suite.results).read_text()
    assert f"--resume {cell.id}" in log
