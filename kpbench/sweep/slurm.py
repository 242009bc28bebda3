"""The Slurm executor: every cell one task of a single submitit job array.

Resources come from the suite's ``slurm:`` block (``--max-parallel`` sets the array's ``%N``
cap). Slurm sends USR2 ``signal_delay_s`` before the time limit (and on preemption); the job is
a submitit ``Checkpointable``, so submitit requeues it and the requeued task resumes the cell
from its last checkpoint (``kpbench run --resume <cell id>``). With ``run.devices`` N > 1 the
array task runs N Slurm tasks (``srun``), one data-parallel rank each.

States come from the results folder (each cell's ``.done`` file and record) and ``squeue``,
never ``sacct``, which fails on clusters without an accounting database.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import submitit

from kpbench.errors import ConfigError
from kpbench.sweep import cell as cells_
from kpbench.sweep.suite import Cell
from kpbench.sweep.table import LiveTable

POLL_S = 2.0
GONE_POLLS = 3  # polls a task may be missing from squeue before it counts as ended


class CellJob(submitit.helpers.Checkpointable):
    """What each array task runs (pickled by submitit). On USR2 (time limit, preemption)
    submitit calls :meth:`checkpoint`, which resubmits the same cell; the requeued task then
    finds the cell's checkpoint and runs it with ``--resume``."""

    def __init__(self, results: Path, run: dict):
        self.results, self.run = Path(results), run

    def __call__(self, cell: Cell) -> dict:
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # one DDP rank per Slurm task: RANK, WORLD_SIZE, MASTER_ADDR, ...
            submitit.helpers.TorchDistributedEnvironment().export()
        return cells_.run_cell(cell, self.results, self.run, write=env.global_rank == 0)


def executor(results: Path, run: dict, slurm: dict, max_parallel: int | None):
    """A submitit ``SlurmExecutor`` with the suite's resources."""
    if shutil.which("sbatch") is None:
        raise ConfigError("--executor slurm: sbatch is not on PATH; run on a Slurm login node")
    ex = submitit.SlurmExecutor(folder=cells_.sweep_dir(results) / "slurm" / "%j")
    devices = int(run.get("devices", 1))
    params = {
        "time": int(slurm["time_min"]),
        "ntasks_per_node": devices,
        "cpus_per_task": int(slurm["cpus_per_task"] or run["threads"]),
        "mem": f"{slurm['mem_gb']}G",
        "signal_delay_s": int(slurm["signal_delay_s"]),
        "array_parallelism": int(max_parallel or slurm["max_parallel"] or 256),
        "job_name": "kpbench-sweep",
    }
    if slurm["partition"]:
        params["partition"] = slurm["partition"]
    if slurm["gpus_per_node"]:
        params["gpus_per_node"] = int(slurm["gpus_per_node"])
    ex.update_parameters(**params)
    return ex


def squeue_states(job_ids: list[str]) -> dict[str, str] | None:
    """``{"<array>_<task>": "RUNNING" | "PENDING" | ...}`` of queued tasks; None if squeue fails."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return dict(line.split()[:2] for line in out.stdout.splitlines() if len(line.split()) >= 2)


def run_slurm(
    cells: list[Cell],
    results: Path,
    run: dict,
    slurm: dict,
    table: LiveTable,
    max_parallel: int | None,
) -> None:
    """Submit ``cells`` as one job array and follow them until every one has an outcome."""
    ex = executor(results, run, slurm, max_parallel)
    task_run = {**run, "devices": 1}  # ranks come from srun, not torchrun
    jobs = ex.map_array(CellJob(results, task_run), cells)
    pending = {job.job_id: (job, cell) for job, cell in zip(jobs, cells)}
    missing: dict[str, int] = {}
    while pending:
        time.sleep(POLL_S)
        queued = squeue_states(list(pending))
        for job_id, (job, cell) in list(pending.items()):
            path = cells_.done_path(cell, results)
            if path.is_file():
                outcome = cells_.read_done(path)
                table.set(cell.id, outcome["status"], outcome["error"])
                del pending[job_id]
            elif queued is not None and job_id in queued:
                missing.pop(job_id, None)
                table.set(cell.id, "running" if queued[job_id] == "RUNNING" else "queued")
            elif queued is not None or job.done():
                missing[job_id] = missing.get(job_id, 0) + 1
                if missing[job_id] >= GONE_POLLS and not path.is_file():
                    log = job.paths.stderr
                    table.set(
                        cell.id,
                        "failed",
                        f"Slurm job {job_id} ended without an outcome (log: {log})",
                    )
                    del pending[job_id]
