"""One cell of a sweep: its state in the results folder, its command, and running it.

Every executor (local, Slurm, Ray) runs a cell the same way: ``python -m kpbench.cli run ...
--run-id <cell id>`` in its own process, output in ``<results>/.sweep/logs/<cell id>.log``,
and the outcome in ``<results>/.sweep/state/<cell id>.done`` (JSON; written atomically), so
the driver reads every cell's fate from the results folder, with no scheduler database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kpbench.results import write_json
from kpbench.sweep.suite import Cell

FINISHED, RESUME, NEW = "finished", "resume", "new"


def read_record(cell: Cell, results: Path) -> dict | None:
    try:
        return json.loads(cell.record_path(results).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def state(cell: Cell, results: Path) -> str:
    """``finished`` (record says so), ``resume`` (a checkpoint waits) or ``new`` (nothing run yet)."""
    record = read_record(cell, results)
    if record and record.get("status") == "finished":
        return FINISHED
    if (cell.record_path(results).with_suffix("") / "checkpoint.pt").is_file():
        return RESUME
    return NEW


def sweep_dir(results: Path) -> Path:
    return Path(results) / ".sweep"


def done_path(cell: Cell, results: Path) -> Path:
    return sweep_dir(results) / "state" / f"{cell.id}.done"


def log_path(cell: Cell, results: Path) -> Path:
    return sweep_dir(results) / "logs" / f"{cell.id}.log"


def command(cell: Cell, results: Path, run: dict, resume: bool) -> list[str]:
    """The ``kpbench run`` argv of ``cell`` (``run``: the suite's ``run:`` options)."""
    argv = [sys.executable, "-m", "kpbench.cli", "run", "--method", cell.method]
    argv += ["--dataset", cell.dataset, "--preset", cell.preset, "--seed", str(cell.seed)]
    argv += ["--results", str(results), "--no-progress", "--threads", str(run["threads"])]
    argv += ["--resume", cell.id] if resume else ["--run-id", cell.id]
    if cell.data_dir:
        argv += ["--data-dir", cell.data_dir]
    for item in cell.sets:
        argv += ["--set", item]
    for key in ("device", "task", "tracking_uri", "experiment"):
        if run.get(key):
            argv += [f"--{key.replace('_', '-')}", str(run[key])]
    if run.get("devices", 1) > 1:
        argv += ["--devices", str(run["devices"])]
    if not run.get("mlflow", True):
        argv.append("--no-mlflow")
    return argv


def error_line(cell: Cell, results: Path, returncode: int) -> str:
    """The failure in one line: the record's error, else the CLI's ``kpbench: error:`` line."""
    record = read_record(cell, results)
    if record and record.get("error"):
        return str(record["error"]).splitlines()[0]
    log = log_path(cell, results)
    try:
        lines = [
            ln.strip() for ln in log.read_text(encoding="utf-8", errors="replace").splitlines()
        ]
    except OSError:
        lines = []
    errors = [ln for ln in lines if ln.startswith("kpbench: error:")]
    if errors:
        return errors[-1].removeprefix("kpbench: error:").strip()
    last = next((ln for ln in reversed(lines) if ln), "")
    return f"exit code {returncode}: {last[:200]} (log: {log})"


def write_done(cell: Cell, results: Path, outcome: dict) -> None:
    write_json(done_path(cell, results), outcome)  # atomically: the driver polls these files


def read_done(path: Path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def run_cell(
    cell: Cell, results: Path, run: dict, env: dict | None = None, write: bool = True
) -> dict:
    """Run ``cell`` to its end (resuming from its checkpoint when one waits).

    Returns:
        ``{"cell": id, "status": "finished" | "failed", "error": one line or None}``; also
        written to the cell's ``.done`` file when ``write`` (False on data-parallel ranks > 0).
    """
    results = Path(results)
    resume = state(cell, results) == RESUME
    log = log_path(cell, results)
    log.parent.mkdir(parents=True, exist_ok=True)
    child_env = {**os.environ, **(env or {})}
    child_env.setdefault("OMP_NUM_THREADS", str(run["threads"]))
    child_env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command(cell, results, run, resume))}\n")
        out.flush()
        proc = subprocess.run(
            command(cell, results, run, resume), stdout=out, stderr=subprocess.STDOUT, env=child_env
        )
    finished = proc.returncode == 0 and state(cell, results) == FINISHED
    outcome = {
        "cell": cell.id,
        "status": FINISHED if finished else "failed",
        "error": None if finished else error_line(cell, results, proc.returncode),
    }
    if write:
        write_done(cell, results, outcome)
    return outcome
