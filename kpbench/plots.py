"""``kpbench compare --plots DIR``: bar charts per metric and accuracy-vs-latency scatters,
drawn from a :func:`kpbench.compare.compare` summary."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any


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
