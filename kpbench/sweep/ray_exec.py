"""The Ray executor (optional extra ``kpbench[ray]``): one Ray core task per cell.

Each task asks for ``run.threads × run.devices`` CPUs and ``ray.num_gpus`` GPUs, so Ray
schedules as many cells at once as the machine (or cluster, ``ray.address``) has room for;
``--max-parallel`` caps that further. kpbench and its plugins must be installed on every node.
"""

from __future__ import annotations

import os
from pathlib import Path

from kpbench.errors import ConfigError
from kpbench.sweep import cell as cells_
from kpbench.sweep.suite import Cell
from kpbench.sweep.table import LiveTable


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "--executor ray needs Ray: pip install 'kpbench[ray]' (or use --executor local)"
        ) from None
    return ray


def run_ray(
    cells: list[Cell],
    results: Path,
    run: dict,
    options: dict,
    table: LiveTable,
    max_parallel: int | None,
) -> None:
    """Run ``cells`` as Ray tasks; at most ``max_parallel`` in flight when given."""
    ray = _ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started = not ray.is_initialized()
    if started:
        ray.init(address=options.get("address"), include_dashboard=False, log_to_driver=False)
    remote = ray.remote(cells_.run_cell).options(
        num_cpus=run["threads"] * run.get("devices", 1),
        num_gpus=options.get("num_gpus") or 0,
        max_retries=0,
    )
    queue, running = list(cells), {}
    limit = max_parallel or len(cells)
    try:
        while queue or running:
            while queue and len(running) < limit:
                cell = queue.pop(0)
                running[remote.remote(cell, results, run)] = cell
                table.set(cell.id, "running")
            done, _ = ray.wait(list(running), num_returns=1)
            for ref in done:
                cell = running.pop(ref)
                try:
                    outcome = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    outcome = {
                        "status": "failed",
                        "error": f"Ray task failed: {type(exc).__name__}",
                    }
                table.set(cell.id, outcome["status"], outcome["error"])
    finally:
        if started:
            ray.shutdown()
