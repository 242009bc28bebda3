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
        _write_table(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        print(text)
    if args.plots:
        _plots(summary, args.plots, plot_comparison)
    return 0


def _write_table(out: Path, text: str) -> None:
    """Write ``text`` to ``out`` atomically (a temporary file beside it, then a rename)."""
    import os

    from kpbench.errors import KpbenchError

    if out.is_dir():
        raise KpbenchError(f"--out {out} is a folder, not a file; name the table's file")
    bad = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if bad is not None:
        raise KpbenchError(f"--out {out}: {bad} is a file, not a folder; pick another place")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n")
    os.replace(tmp, out)


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
