"""``kpbench compare``: a folder of run records → mean ± std over seeds, tables and plots.

:func:`compare` returns a tidy summary, one row per (dataset, task, method, preset, value),
where a value is a metric, a timing entry, the parameter count or the FLOPs per sample.
:func:`format_table` renders it; :func:`plot_comparison` draws it.
"""

from __future__ import annotations

import importlib.util
import math
import re
from collections import Counter
from pathlib import Path
from typing import Any

from kpbench.errors import ConfigError, KpbenchError
from kpbench.results import load_records, records_frame

FORMATS = ("table", "markdown", "csv", "json")
#: Runs in one group differ only by seed; ``variant`` names the config keys that set a
#: method's runs apart when one method and preset were run with several configs.
GROUP = ["dataset", "task", "method", "preset", "variant"]
#: Columns of the summary; ``kind`` is ``metric``, ``timing`` or ``model`` (params, flops).
SUMMARY_COLUMNS = GROUP + [
    "kind",
    "metric",
    "unit",
    "higher_is_better",
    "mean",
    "std",
    "n",
    "failed",
]
#: Timing entries shown in the text tables, with their column labels (csv/json have all).
TIMING_LABELS = {
    "train_step_median": "train step",
    "inference_latency_median": "latency",
    "throughput": "throughput",
    "peak_memory": "peak mem",
}
_KIND_ORDER = {"metric": 0, "timing": 1, "model": 2}


def _no_records(folder: Path, why: str) -> KpbenchError:
    return KpbenchError(
        f"{why} {folder}; make run records with `kpbench run --method M --dataset D "
        f"--results {folder}` or `kpbench demo`"
    )


def _describe(column: str, units: dict, higher: dict) -> tuple[str, str, str, Any]:
    """``(kind, name, unit, higher_is_better)`` of a :func:`records_frame` value column."""
    if column == "params":
        return "model", "params", "", None
    if column == "flops":
        return "model", "flops", "FLOPs/sample", None
    kind, name = column.split(":", 1)
    unit = units.get(column, "")
    if kind == "metric":
        return "metric", name, unit, bool(higher[column])
    return "timing", name, unit, unit.endswith("/s")  # rates (throughput) are better higher


def _unit_warnings(records: list[dict], units: dict) -> list[str]:
    out = []
    for rec in records:
        for name, m in rec["metrics"].items():
            if m["unit"] != units.get(f"metric:{name}"):
                out.append(
                    f"{rec['_path']}: metric {name} is in {m['unit']!r}, other runs use "
                    f"{units.get(f'metric:{name}')!r}; averaged as they are"
                )
    return out


def compare(folder: Path) -> tuple[Any, list[str]]:
    """Summarise every run record under ``folder``: mean, std and n over seeds.

    Args:
        folder: a results folder (searched recursively).

    Returns:
        ``(summary, warnings)``. ``summary`` is a ``pandas.DataFrame`` with
        :data:`SUMMARY_COLUMNS`: per (dataset, task, method, preset) and per value, the mean,
        the sample standard deviation (ddof=1; NaN for one run) and n (finished runs with that
        value); ``failed`` counts the group's failed runs, which are left out of the statistics.
        ``warnings`` has one line per skipped file and per failed run.

    Raises:
        KpbenchError: ``folder`` is missing, holds no records, or only failed runs.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise _no_records(folder, "no results folder at")
    records, warnings = load_records(folder)
    if not records:
        raise _no_records(folder, "no kpbench run records under")
    done = [r for r in records if r["status"] == "finished"]
    failed = [r for r in records if r["status"] != "finished"]
    warnings += [f"{r['_path']}: failed run left out ({r.get('error')})" for r in failed]
    if not done:
        raise KpbenchError(
            f"no finished runs under {folder}: {len(failed)} failed, e.g. "
            f"{failed[0]['_path']}: {failed[0].get('error')}"
        )

    df = records_frame(done)
    df["preset"] = df["preset"].fillna("none")
    df["variant"] = _variants(done)
    units, higher = df.attrs["units"], df.attrs["higher"]
    warnings += _unit_warnings(done, units)
    values = [c for c in df.columns if c.startswith(("metric:", "timing:"))] + ["params", "flops"]
    long = df[GROUP + values].melt(id_vars=GROUP, var_name="column", value_name="value")
    long["value"] = long["value"].astype(float)
    stats = long.dropna(subset=["value"]).groupby(GROUP + ["column"], sort=False)["value"]
    summary = stats.agg(mean="mean", std="std", n="count").reset_index()

    described = summary["column"].map(lambda c: _describe(c, units, higher))
    for i, key in enumerate(["kind", "metric", "unit", "higher_is_better"]):
        summary[key] = described.map(lambda d, i=i: d[i])
    n_failed = Counter(
        (r["dataset"], r["task"], r["method"], r["preset"] or "none") for r in failed
    )
    summary["failed"] = [n_failed[tuple(row)[:4]] for row in summary[GROUP].itertuples(index=False)]
    summary["_kind"] = summary["kind"].map(_KIND_ORDER)
    summary["_pos"] = summary["column"].map({c: i for i, c in enumerate(values)})
    summary = summary.sort_values(GROUP + ["_kind", "_pos"], kind="stable")
    return summary[SUMMARY_COLUMNS].reset_index(drop=True), warnings


def _variants(records: list[dict]) -> list[str]:
    """Per record, the config keys whose values differ among runs of its method and preset
    (``"preprocess=colour_mask"``), or ``""`` when they all share one config."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["dataset"], r["task"], r["method"], r["preset"] or "none"), []).append(
            r
        )
    out = []
    for r in records:
        configs = [
            g.get("config") or {}
            for g in groups[(r["dataset"], r["task"], r["method"], r["preset"] or "none")]
        ]
        keys = sorted({k for c in configs for k in c if any(c.get(k) != o.get(k) for o in configs)})
        out.append(", ".join(f"{k}={(r.get('config') or {}).get(k)}" for k in keys))
    return out


def _spec(v: float) -> str:
    """A format spec showing about three significant digits of ``v``."""
    a = abs(v)
    if a >= 1000:
        return ",.0f"
    if a >= 100:
        return ".1f"
    return ".2f" if a >= 0.01 or a == 0 else ".3g"


def _num(v: float, spec: str | None = None) -> str:
    """A number for a table cell ("–" for NaN), with ``spec`` or one chosen for ``v``."""
    if v is None or math.isnan(v):
        return "–"
    return format(v, spec or _spec(v))


def _cell(row: Any) -> str:
    """``mean ± std (n=N)``, with the std to the mean's decimals; just the mean for one run."""
    if row.kind == "model":
        return f"{row.mean:,.0f}" if row.metric == "params" else _num(row.mean / 1e9)
    if row.n > 1 and not math.isnan(row.std):
        spec = _spec(row.mean)
        return f"{_num(row.mean, spec)} ± {_num(row.std, spec)} (n={row.n})"
    return _num(row.mean)


def _label(row: Any) -> str | None:
    if row.kind == "metric":
        return f"{row.metric} {'↑' if row.higher_is_better else '↓'} [{row.unit}]"
    if row.kind == "timing":
        short = TIMING_LABELS.get(row.metric)
        return f"{short} [{row.unit}]" if short else None
    return "params" if row.metric == "params" else "GFLOPs"


def _wide(block: Any) -> Any:
    """One (dataset, task) block of the summary as display rows: one per method and preset."""
    import pandas as pd

    rows: dict[tuple, dict] = {}
    order: dict[str, tuple[int, int]] = {}  # column label -> (kind, position)
    for row in block.itertuples(index=False):
        entry = rows.setdefault(
            (row.method, row.preset, row.variant),
            {"method": row.method, "preset": row.preset, "variant": row.variant},
        )
        if row.failed:
            entry["failed"] = row.failed
        label = _label(row)
        if label is not None:
            entry[label] = _cell(row)
            pos = list(TIMING_LABELS).index(row.metric) if row.kind == "timing" else len(order)
            order.setdefault(label, (_KIND_ORDER[row.kind], pos))
    columns = ["method", "preset"] + (["variant"] if block["variant"].ne("").any() else [])
    columns += sorted(order, key=order.get)
    if any("failed" in r for r in rows.values()):
        columns.append("failed")
    wide = pd.DataFrame(list(rows.values()), columns=columns)
    if "failed" in wide:
        wide["failed"] = wide["failed"].fillna(0).astype(int)
    return wide.fillna("–")


def _pipe_table(df: Any) -> str:
    """A GitHub-flavoured markdown table (used when ``tabulate`` is not installed)."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    rule = "|" + "|".join(" --- " for _ in df.columns) + "|"
    return "\n".join([line(df.columns), rule] + [line(r) for r in df.itertuples(index=False)])


def format_table(summary: Any, fmt: str = "table") -> str:
    """Render a :func:`compare` summary.

    Args:
        summary: the DataFrame :func:`compare` returned.
        fmt: ``table`` (plain text, one block per dataset and task, methods as rows, cells
            ``mean ± std (n=N)``, ↑/↓ for the better direction), ``markdown`` (the same blocks
            as pipe tables), ``csv`` or ``json`` (tidy rows, one per value).

    Returns:
        The text, without a trailing newline.

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is unknown; valid formats: {', '.join(FORMATS)}")
    if fmt == "csv":
        return summary[SUMMARY_COLUMNS].to_csv(index=False).rstrip("\n")
    if fmt == "json":
        return summary[SUMMARY_COLUMNS].to_json(orient="records", indent=2, force_ascii=False)
    if summary.empty:
        return "no values to compare: the finished runs record no metrics, timing or size"
    blocks = []
    for (dataset, task), block in summary.groupby(["dataset", "task"], sort=False):
        wide, heading = _wide(block), f"dataset={dataset} task={task}"
        if fmt == "table":
            blocks.append(f"{heading}\n{wide.to_string(index=False)}")
        elif importlib.util.find_spec("tabulate") is not None:
            blocks.append(f"**{heading}**\n\n{wide.to_markdown(index=False)}")
        else:
            blocks.append(f"**{heading}**\n\n{_pipe_table(wide)}")
    return "\n\n".join(blocks)


def _slug(*parts: str) -> str:
    return re.sub(r"[^\w.-]+", "_", "_".join(parts))


def _names(g: Any) -> list[str]:
    """Bar labels: the method, with its preset when a method appears with several."""
    several = g.groupby("method")["preset"].transform("nunique") > 1
    return [f"{m} ({p})" if s else m for m, p, s in zip(g["method"], g["preset"], several)]


def plot_comparison(summary: Any, out_dir: Path) -> list[Path]:
    """Bar charts (mean ± std) per dataset, task and metric; accuracy-vs-latency scatters.

    Args:
        summary: the DataFrame :func:`compare` returned.
        out_dir: folder for the PNG files (created).

    Returns:
        The PNG paths written: ``<dataset>_<task>_<metric>.png`` and, where the runs have an
        inference latency, ``<dataset>_<task>_<metric>_vs_latency.png``.
    """
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    latency = summary[
        (summary["kind"] == "timing") & (summary["metric"] == "inference_latency_median")
    ]
    paths = []
    metrics = summary[summary["kind"] == "metric"]
    for (dataset, task, name), g in metrics.groupby(["dataset", "task", "metric"], sort=False):
        axis = f"{name} [{g['unit'].iloc[0]}] {'↑' if g['higher_is_better'].iloc[0] else '↓'}"
        fig = Figure(figsize=(max(4.0, 1.0 + 0.9 * len(g)), 3.5), layout="constrained")
        ax = fig.subplots()
        ax.bar(_names(g), g["mean"], yerr=g["std"].fillna(0.0), capsize=4, color="tab:blue")
        ax.set(ylabel=axis, title=f"{dataset} · {task}")
        paths.append(out_dir / f"{_slug(dataset, task, name)}.png")
        fig.savefig(paths[-1], dpi=120)

        lat = latency[(latency["dataset"] == dataset) & (latency["task"] == task)]
        both = g.merge(lat, on=["method", "preset"], suffixes=("", "_lat"))
        if both.empty:
            continue
        fig = Figure(figsize=(4.5, 3.5), layout="constrained")
        ax = fig.subplots()
        ax.errorbar(
            both["mean_lat"],
            both["mean"],
            xerr=both["std_lat"].fillna(0.0),
            yerr=both["std"].fillna(0.0),
            fmt="o",
            capsize=3,
        )
        for x, y, label in zip(both["mean_lat"], both["mean"], _names(both)):
            ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set(
            xlabel=f"inference latency [{both['unit_lat'].iloc[0]}] ↓",
            ylabel=axis,
            title=f"{dataset} · {task}",
        )
        paths.append(out_dir / f"{_slug(dataset, task, name)}_vs_latency.png")
        fig.savefig(paths[-1], dpi=120)
    return paths
