"""Data-parallel training: ``kpbench run --devices 2`` (torchrun, gloo on CPU, rendezvous on
127.0.0.1) trains BKinD at smoke size like one process with the same effective batch.

Setup: a tiny CalMS21 twin with 14 training pairs, one step per epoch, two epochs (curriculum 1:
epoch 1 adds the equivariance and separation terms, whose quarter-turn rotations are not
random). One process takes all 14 pairs in one batch of
14; two processes take 7 each in a batch of 7 (the DistributedSampler's shard), and DDP
averages their gradients, which is the gradient of the mean loss over all 14 pairs. Both start
from the same seeded weights, and the record's epoch losses are averaged over the ranks. The
only difference left is BatchNorm: each rank normalises with the statistics of its own 7
samples instead of all 14. Tolerance: 2 % relative on each epoch's loss, for that BatchNorm
effect (measured: 1.2 % on the final epoch, 0.2474 vs 0.2444 with the equivariance term on);
float rounding alone would be ~1e-6.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kpbench.distributed import launch_command, strip_devices
from kpbench.plugins import get_registry

TOLERANCE = 0.02  # relative; see the module docstring


@pytest.fixture(scope="module")
def calms_twin(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calms")
    get_registry().dataset("calms21").synthesize(
        out, 0, n_train=2, n_test=1, frames=24, width=64, height=64
    )
    return out


def bkind(data: Path, results: Path, batch: int, devices: int) -> dict:
    argv = [
        "run", "--method", "bkind", "--dataset", "calms21", "--data-dir", str(data),
        "--preset", "smoke", "--device", "cpu", "--threads", "1", "--no-mlflow",
        "--no-progress", "--results", str(results), "--run-id", f"ddp{devices}",
        "--set", f"batch_size={batch}", "--set", "steps_per_epoch=1", "--set", "epochs=2",
        "--set", "curriculum=1", "--set", "export_max_frames=4", "--set", "overlay_frames=2",
        "--devices", str(devices),
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "kpbench.cli", *argv], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = list((results / "calms21" / "bkind").glob("*.json"))
    assert len(records) == 1  # rank 0 alone writes the record
    return json.loads(records[0].read_text())


def test_two_processes_match_one_with_the_same_effective_batch(calms_twin, tmp_path):
    one = bkind(calms_twin, tmp_path / "one", batch=14, devices=1)
    two = bkind(calms_twin, tmp_path / "two", batch=7, devices=2)
    assert one["notes"]["training_pairs"] == 14  # one full batch per step on 1 and on 2 ranks
    assert (one["env"]["world_size"], two["env"]["world_size"]) == (1, 2)
    assert two["status"] == "finished" and two["run_id"] == "ddp2" and two["metrics"]
    assert [h["epoch"] for h in two["history"]] == [0, 1]
    for a, b in zip(one["history"], two["history"]):
        assert set(a) == set(b) and "loss" in a  # a trained epoch logs its losses
        assert b["loss"] == pytest.approx(a["loss"], rel=TOLERANCE)
    print(
        f"final loss 1 proc × batch 14: {one['history'][-1]['loss']:.6f}, "
        f"2 procs × batch 7: {two['history'][-1]['loss']:.6f}; fit "
        f"{one['notes']['fit_seconds']} s vs {two['notes']['fit_seconds']} s"
    )


def test_the_launch_command_drops_devices_and_stays_on_loopback():
    argv = strip_devices(["run", "--devices", "2", "--method", "m", "--devices=3", "--seed", "1"])
    assert argv == ["run", "--method", "m", "--seed", "1"]
    cmd = launch_command(argv, 2)
    assert cmd[1:4] == ["-m", "torch.distributed.run", "--standalone"]
    assert "--nproc-per-node=2" in cmd and "--max-restarts=0" in cmd
    assert "--local-addr=127.0.0.1" in cmd and cmd[-6:-5] == ["kpbench.cli"]
