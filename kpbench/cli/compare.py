"""``kpbench compare FOLDER``: many run records → one table (mean ± std over seeds) and plots."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("compare", help="turn a folder of run records into a table and plots")
    p.add_argument("folder", type=Path, nargs="?", default=Path("results"))
    p.add_argument(
        "--format",
        default="table",
        help="table, markdown, csv, json, or a format a plugin offers (`kpbench list plugins`)",
    )
    p.add_argument("--out", type=Path, help="write the table to this file instead of stdout")
    p.add_argument(
        "--plots", type=Path, metavar="DIR", help="also write comparison plots (PNG) here"
    )
    p.add_argument(
        "--breakdown",
        action="store_true",
        help="also show each metric's breakdown (e.g. pck@0.1/per_keypoint/nose), mean ± std",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from kpbench.compare import compare, format_table
    from kpbench.plots import plot_comparison

    summary, warnings = compare(args.folder, breakdown=args.breakdown)
    for w in warnings:
        print(f"kpbench: warning: {w}", file=sys.stderr)
    text = format_table(summary, args.format)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    if args.plots:
        _plots(summary, args.plots, plot_comparison)
    return 0


def _plots(summary, out_dir: Path, plot_comparison) -> None:
    """Write the plots, or say in one line why there are none (and leave no empty folder)."""
    if out_dir.exists() and not out_dir.is_dir():
        from kpbench.errors import KpbenchError

        raise KpbenchError(f"--plots {out_dir} is a file, not a folder; name a folder for the PNGs")
    if not (summary["kind"] == "metric").any():
        print(
            f"kpbench: no plots written to {out_dir}: the runs have no metric values (see "
            "'no metrics' in each run's summary, or evaluation.unavailable in its record)",
            file=sys.stderr,
        )
        return
    existed = out_dir.exists()
    paths = plot_comparison(summary, out_dir)
    for p in paths:
        print(f"wrote {p}", file=sys.stderr)
    if not paths and not existed:
        out_dir.rmdir()
