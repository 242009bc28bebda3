"""``kpbench demo``: synthesise the CalMS21 twin, run BKinD on it (preset default), compare."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_METHOD, DEMO_DATASET = "bkind", "calms21"


def register(sub) -> None:
    p = sub.add_parser(
        "demo", help="run BKinD on a synthetic CalMS21 twin and print the compare table"
    )
    p.add_argument("--preset", default="default", help="smoke | default | paper (default: default)")
    p.add_argument("--results", dest="results_dir", type=Path, default=Path("results"))
    p.add_argument(
        "--cache",
        type=Path,
        help="where the synthetic twin goes (default: $KPBENCH_CACHE or ~/.cache/kpbench)",
    )
    p.add_argument("--device", default="auto")
    p.add_argument("--no-mlflow", action="store_true")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(handler=handle)


def cache_dir(explicit: Path | None) -> Path:
    if explicit:
        return explicit
    base = os.environ.get("KPBENCH_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "kpbench"
    )
    return Path(base) / "demo"


def handle(args) -> int:
    from kpbench.cli.run import print_summary
    from kpbench.compare import compare, format_table
    from kpbench.plugins import get_registry
    from kpbench.runner import RunOptions, run

    data_dir = cache_dir(args.cache) / f"{DEMO_DATASET}-synthetic"
    marker = data_dir / ".complete"
    if not marker.is_file():
        print(f"writing a synthetic {DEMO_DATASET} twin to {data_dir} ...", flush=True)
        get_registry().dataset(DEMO_DATASET).synthesize(data_dir, 0)
        marker.write_text("ok\n")
    record = run(
        RunOptions(
            method=DEMO_METHOD,
            dataset=DEMO_DATASET,
            data_dir=data_dir,
            preset=args.preset,
            sets=args.sets,
            device=args.device,
            results_dir=args.results_dir,
            mlflow=not args.no_mlflow,
        )
    )
    print_summary(record)
    summary, _ = compare(args.results_dir / DEMO_DATASET)
    print()
    print(format_table(summary, "table"))
    return 0
