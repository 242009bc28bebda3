"""``kpbench sweep``: run a suite's grid of cells (methods × datasets × seeds × presets × sets)."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "sweep",
        help="run a suite's grid of runs locally, on Slurm or on Ray; re-running skips finished cells",
    )
    p.add_argument("suite", type=Path, help="suite YAML (see docs/scale.md)")
    p.add_argument(
        "--executor", choices=("local", "slurm", "ray"), default="local", help="where cells run"
    )
    p.add_argument(
        "--max-parallel",
        type=int,
        help="cells at once (local default: cores ÷ threads per run; slurm: the array's %%N)",
    )
    p.add_argument("--results", type=Path, help="results folder (default: the suite's results)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from kpbench.sweep.driver import sweep
    from kpbench.sweep.suite import load_suite

    suite = load_suite(args.suite, args.results)
    table = sweep(suite, args.executor, args.max_parallel)
    for line in table.report():
        print(line)
    print(f"results: {suite.results} (kpbench compare {suite.results})")
    return 1 if table.counts()["failed"] else 0
