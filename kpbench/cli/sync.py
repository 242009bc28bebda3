"""``kpbench sync RESULTS_DIR``: upload to MLflow the run records that never reached it."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "sync",
        help="upload to MLflow the run records that never reached it (tracker down or failing)",
        description="Upload every run record under RESULTS_DIR whose MLflow run is missing or "
        "incomplete (tracking.synced false: the tracker was down or failed mid-run). Runs are "
        "found by their kpbench.run_id tag, so a second sync adds nothing; an uploaded record "
        "is rewritten with its new MLflow run id. Each record goes to --tracking-uri, else to "
        "the URI its run was logging to, else $MLFLOW_TRACKING_URI or ./mlflow.db.",
    )
    p.add_argument("folder", type=Path, nargs="?", default=Path("results"), metavar="RESULTS_DIR")
    p.add_argument(
        "--tracking-uri", help="send every record here (default: where each run was logging)"
    )
    p.add_argument(
        "--experiment", help="MLflow experiment for every record (default: each record's own)"
    )
    p.add_argument(
        "--include-untracked",
        action="store_true",
        help="also upload runs made with --no-mlflow (skipped by default: tracking was off "
        "on purpose)",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from collections import Counter

    from kpbench.sync import FAILED, sync

    outcomes, warnings = sync(
        args.folder, args.tracking_uri, args.experiment, args.include_untracked
    )
    for w in warnings:
        print(f"kpbench: warning: {w}", file=sys.stderr)
    for outcome in outcomes:
        print(outcome.line())
    counts = Counter(outcome.status for outcome in outcomes)
    summary = ", ".join(f"{n} {status}" for status, n in counts.items()) or "no records"
    print(f"sync {args.folder}: {len(outcomes)} record(s): {summary}")
    return 1 if counts.get(FAILED) else 0
