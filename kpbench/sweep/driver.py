"""``kpbench sweep``: skip finished cells, prepare the tracking store once, fan out the rest."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from kpbench.errors import ConfigError
from kpbench.sweep import cell as cells_
from kpbench.sweep.suite import Suite
from kpbench.sweep.table import LiveTable

EXECUTORS = ("local", "slurm", "ray")


def prepare_tracking(suite: Suite) -> None:
    """Create and migrate the MLflow store and every experiment once, before any cell starts
    (concurrent first use of a fresh SQLite store loses runs); cells then share its URI."""
    if not suite.run["mlflow"]:
        return
    from kpbench.tracking import prepare_store

    experiments = [suite.run["experiment"]] if suite.run["experiment"] else []
    experiments = experiments or sorted({c.dataset for c in suite.cells})
    for name in experiments:
        suite.run["tracking_uri"] = prepare_store(suite.run["tracking_uri"], name)


def sweep(
    suite: Suite,
    executor: str = "local",
    max_parallel: int | None = None,
    stream: TextIO | None = None,
) -> LiveTable:
    """Run every unfinished cell of ``suite``; returns the table (states and error lines)."""
    if executor not in EXECUTORS:
        raise ConfigError(f"--executor {executor}: expected one of {', '.join(EXECUTORS)}")
    if max_parallel is not None and max_parallel < 1:
        raise ConfigError(f"--max-parallel {max_parallel}: need at least 1")
    results = Path(suite.results)
    results.mkdir(parents=True, exist_ok=True)
    table = LiveTable(suite.cells, stream)
    todo = []
    for cell in suite.cells:
        if cells_.state(cell, results) == cells_.FINISHED:
            table.set(cell.id, "skipped")
        else:
            cells_.done_path(cell, results).unlink(missing_ok=True)
            todo.append(cell)
    if not todo:
        return table
    prepare_tracking(suite)
    if executor == "local":
        from kpbench.sweep.local import run_local

        run_local(todo, results, suite.run, table, max_parallel)
    elif executor == "slurm":
        from kpbench.sweep.slurm import run_slurm

        run_slurm(todo, results, suite.run, suite.slurm, table, max_parallel)
    else:
        from kpbench.sweep.ray_exec import run_ray

        run_ray(todo, results, suite.run, suite.ray, table, max_parallel)
    return table
