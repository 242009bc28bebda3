"""The local executor: at most ``max_parallel`` cells at once, each in its own process.

A thread pool bounds the concurrency (submitit's LocalExecutor has none, see
``docs/scale.md``); each worker thread runs one ``kpbench run`` subprocess and waits for it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kpbench.sweep.cell import run_cell
from kpbench.sweep.suite import Cell
from kpbench.sweep.table import LiveTable


def default_parallel(run: dict) -> int:
    """Cores ÷ (threads per run × processes per run), at least 1."""
    return max(1, (os.cpu_count() or 1) // (run["threads"] * run.get("devices", 1)))


def run_local(
    cells: list[Cell], results: Path, run: dict, table: LiveTable, max_parallel: int | None
) -> None:
    """Run ``cells`` with bounded concurrency; states and errors go to ``table``."""

    def one(cell: Cell) -> None:
        table.set(cell.id, "running")
        outcome = run_cell(cell, results, run)
        table.set(cell.id, outcome["status"], outcome["error"])

    with ThreadPoolExecutor(max_workers=max_parallel or default_parallel(run)) as pool:
        for future in [pool.submit(one, cell) for cell in cells]:
            future.result()
