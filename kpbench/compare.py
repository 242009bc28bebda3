"""``kpbench compare``: a folder of run records → mean ± std over seeds, tables and plots.

:func:`compare` returns a tidy summary, one row per (dataset, task, method, preset, value),
where a value is a metric, a timing entry, the parameter count or the FLOPs per sample (and,
on request, a metric's breakdown). The task's trivial baselines that each run scored show as
extra "methods" named ``baseline:<name>``. :func:`format_table` renders it;
:func:`plot_comparison` draws it.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from kpbench.errors import KpbenchError
from kpbench.results import load_records, records_frame

#: Runs in one group differ only by seed; ``variant`` names the config keys that set a
#: method's runs apart when one method and preset were run with several configs.
GROUP = ["dataset", "task", "method", "preset", "variant"]
#: Columns of the summary; ``kind`` is ``metric``, ``breakdown`` (one part of a metric, named
#: ``<metric>/<breakdown>/<label>``), ``timing`` or ``model`` (params, flops).
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
_KIND_ORDER = {"metric": 0, "breakdown": 1, "timing": 2, "model": 3}
#: Prefix of the method column for a task's baseline (``baseline:random``).
BASELINE = "baseline:"


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
    if kind in ("metric", "breakdown"):
        return kind, name, unit, bool(higher[column])
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


def compare(folder: Path, breakdown: bool = False) -> tuple[Any, list[str]]:
    """Summarise every run record under ``folder``: mean, std and n over seeds.

    Args:
        folder: a results folder (searched recursively).
        breakdown: also summarise each metric's breakdown (kind ``breakdown``, e.g.
            ``pck@0.1/per_keypoint/nose``).

    Returns:
        ``(summary, warnings)``. ``summary`` is a ``pandas.DataFrame`` with
        :data:`SUMMARY_COLUMNS`: per (dataset, task, method, preset, variant) and per value,
        the mean, the sample standard deviation (ddof=1; NaN for one run) and n (distinct
        seeds with that value); ``failed`` counts the group's failed runs, which are left out
        of the statistics. Of several finished runs with one seed in one group only the latest
        counts. A failed metric counts as no value. Each baseline a run scored adds a row
        with method ``baseline:<name>`` (metric values only; ``baseline:<name> (<method>)``
        where methods in one group got different baseline values for one seed).
        ``warnings`` has one line per skipped file, failed run, repeated seed, run without
        metrics, failed metric and per block whose runs were scored on different evaluation inputs.

    Raises:
        KpbenchError: ``folder`` is missing, holds no records, or only failed runs.
    """
    folder = Path(folder)
    if folder.is_file():
        raise KpbenchError(f"{folder} is a file, not a folder; compare takes a results folder")
    if not folder.is_dir():
        raise _no_records(folder, "no results folder at")
    records, warnings = load_records(folder)
    if not records:
        raise _no_records(folder, "no kpbench run records under")
    _name_data_folders(records)
    done = [r for r in records if r["status"] == "finished"]
    failed = [r for r in records if r["status"] != "finished"]
    warnings += [f"{r['_path']}: failed run left out ({r.get('error')})" for r in failed]
    if not done:
        raise KpbenchError(
            f"no finished runs under {folder}: {len(failed)} failed, e.g. "
            f"{failed[0]['_path']}: {failed[0].get('error')}"
        )

    for rec, variant in zip(done, _variants(done)):
        rec["_variant"] = variant
    done, repeated = _latest_per_seed(done)
    warnings += repeated + _no_metrics(done) + _metric_failures(done) + _input_warnings(done)
    runs = done + _baseline_runs(done)
    df = records_frame(runs)
    df["preset"] = df["preset"].fillna("none")
    df["variant"] = [r["_variant"] for r in runs]
    units, higher = df.attrs["units"], df.attrs["higher"]
    warnings += _unit_warnings(done, units)
    kinds = ("metric:", "breakdown:", "timing:") if breakdown else ("metric:", "timing:")
    values = [c for kind in kinds for c in df.columns if c.startswith(kind)] + ["params", "flops"]
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
    summary["_baseline"] = summary["method"].str.startswith(BASELINE)
    summary["_kind"] = summary["kind"].map(_KIND_ORDER)
    summary["_pos"] = summary["column"].map({c: i for i, c in enumerate(values)})
    order = ["dataset", "task", "_baseline"] + GROUP[2:] + ["_kind", "_pos"]
    summary = summary.sort_values(order, kind="stable")
    return summary[SUMMARY_COLUMNS].reset_index(drop=True), warnings


def _name_data_folders(records: list[dict]) -> None:
    """Runs of one dataset on different data folders (``video`` on two projects) are different
    data: where a dataset name was run on several folders, it reads ``name[folder]`` (the
    folder's name, or its full path where two folders share a name)."""
    folders: dict[str, set[str]] = {}
    for rec in records:
        folders.setdefault(rec["dataset"], set()).add(str((rec.get("data") or {}).get("dir")))
    for rec in records:
        dirs = folders[rec["dataset"]]
        if len(dirs) < 2:
            continue
        folder = str((rec.get("data") or {}).get("dir"))
        names = [Path(d).name for d in dirs]
        label = Path(folder).name if names.count(Path(folder).name) == 1 else folder
        rec["dataset"] = f"{rec['dataset']}[{label}]"


def _group(rec: dict) -> tuple:
    """A run's :data:`GROUP` key (once ``rec["_variant"]`` is set)."""
    return (rec["dataset"], rec["task"], rec["method"], rec["preset"] or "none", rec["_variant"])


def _latest_per_seed(records: list[dict]) -> tuple[list[dict], list[str]]:
    """Repeats are distinct seeds: per group and seed keep the latest run (by ``finished_at``,
    then ``run_id``); one warning per seed that had several runs."""
    by_seed: dict[tuple, list[dict]] = {}
    for rec in records:
        by_seed.setdefault((*_group(rec), rec["seed"]), []).append(rec)
    keep, warnings = set(), []
    for (dataset, task, method, preset, variant, seed), runs in by_seed.items():
        latest = max(runs, key=lambda r: (r.get("finished_at") or "", r["run_id"]))
        keep.add(id(latest))
        if len(runs) > 1:
            ids = ", ".join(sorted(r["run_id"] for r in runs))
            where = f"dataset={dataset} task={task} method={method} preset={preset}"
            where += f" variant={variant}" if variant else ""
            warnings.append(
                f"{where}: seed {seed} was run {len(runs)} times ({ids}); "
                f"only the latest, {latest['run_id']}, counts"
            )
    return [r for r in records if id(r) in keep], warnings


def _no_metrics(records: list[dict]) -> list[str]:
    """One line per finished run that has no metric at all, with the reason it recorded."""
    why = [(r.get("evaluation") or {}).get("unavailable") for r in records]
    return [
        f"{r['_path']}: finished without metrics ({w or 'no reason recorded'})"
        for r, w in zip(records, why)
        if not r.get("metrics")
    ]


def _metric_failures(records: list[dict]) -> list[str]:
    """One line per metric that failed in a finished run (it counts as no value)."""
    return [
        f"{rec['_path']}: metric {name} failed ({m['error']}); left out"
        for rec in records
        for name, m in rec["metrics"].items()
        if m.get("error")
    ]


def _input_warnings(records: list[dict]) -> list[str]:
    """One line per (dataset, task, preset) whose runs were scored on different evaluation
    inputs (``record["evaluation"]["inputs_hash"]``); records without one are not judged."""
    blocks: dict[tuple, dict[str, list[dict]]] = {}
    for rec in records:
        digest = (rec.get("evaluation") or {}).get("inputs_hash")
        if digest:
            key = (rec["dataset"], rec["task"], rec["preset"] or "none")
            blocks.setdefault(key, {}).setdefault(digest, []).append(rec)
    out = []
    for (dataset, task, preset), by_hash in blocks.items():
        if len(by_hash) > 1:
            parts = "; ".join(f"inputs {h}: {_runs_by_method(rs)}" for h, rs in by_hash.items())
            out.append(
                f"dataset={dataset} task={task} preset={preset}: runs were scored on different "
                f"evaluation inputs, their numbers do not compare ({parts})"
            )
    return out


def _runs_by_method(records: list[dict]) -> str:
    """``"bkind (r1, r2), other (r3)"``."""
    ids: dict[str, list[str]] = {}
    for rec in records:
        ids.setdefault(rec["method"], []).append(rec["run_id"])
    return ", ".join(f"{m} ({', '.join(sorted(r))})" for m, r in ids.items())


def _baseline_runs(records: list[dict]) -> list[dict]:
    """Each run's baseline scores as runs of method ``baseline:<name>`` (metric values only).

    The run's preset, variant and seed carry over. Where runs of several methods in one
    (dataset, task, preset, variant) hold one baseline with equal values per seed, each seed
    counts once; where the values differ (a baseline shaped after the method's prediction),
    the rows are per method: ``baseline:<name> (<method>)``.
    """
    groups: dict[tuple, list[tuple[dict, dict]]] = {}
    for rec in records:
        for name, values in (rec.get("baselines") or {}).items():
            key = (rec["dataset"], rec["task"], rec["preset"], rec["_variant"], name)
            groups.setdefault(key, []).append((rec, values))
    out = []
    for (*_, name), runs in groups.items():
        first: dict[Any, dict] = {}
        for rec, values in runs:
            first.setdefault(rec["seed"], values)
        shared = all(values == first[rec["seed"]] for rec, values in runs)
        seen = set()
        for rec, values in runs:
            if shared and rec["seed"] in seen:
                continue
            seen.add(rec["seed"])
            label = f"{BASELINE}{name}" if shared else f"{BASELINE}{name} ({rec['method']})"
            out.append(_as_baseline_run(rec, label, values))
    return out


def _as_baseline_run(rec: dict, method: str, values: dict) -> dict:
    """``rec`` holding only ``values`` (``metric -> value``; units from the run's metrics)."""
    metrics = {
        name: {
            "value": value,
            "unit": rec["metrics"][name]["unit"],
            "higher_is_better": rec["metrics"][name]["higher_is_better"],
        }
        for name, value in values.items()
        if name in rec["metrics"]
    }
    return {
        **rec,
        "method": method,
        "metrics": metrics,
        "timing": {},
        "params": None,
        "flops": None,
    }


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
    if row.kind in ("metric", "breakdown"):
        return f"{row.metric} {'↑' if row.higher_is_better else '↓'} [{row.unit}]"
    if row.kind == "timing":
        short = TIMING_LABELS.get(row.metric)
        return f"{short} [{row.unit}]" if short else None
    return "params" if row.metric == "params" else "GFLOPs"


def wide_block(block: Any) -> Any:
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


def format_table(summary: Any, fmt: str = "table", registry: Any = None) -> str:
    """Render a :func:`compare` summary in a format a plugin offers (``kpbench_report_formats``).

    The built-in formats (:mod:`kpbench.reports`): ``table`` (plain text, one block per dataset
    and task, methods and then baselines as rows, cells ``mean ± std (n=N)``, ↑/↓ for the
    better direction), ``markdown`` (the same blocks as pipe tables), ``csv`` and ``json``
    (tidy rows, one per value).

    Args:
        summary: the DataFrame :func:`compare` returned.
        fmt: the format's name.
        registry: where formats are looked up (default: the process registry).

    Returns:
        The text, without a trailing newline.

    Raises:
        ConfigError: no installed plugin offers ``fmt``.
        PluginError: the format's ``render`` failed (one line naming the format and plugin).
    """
    from kpbench.errors import PluginError
    from kpbench.plugins import get_registry

    registry = registry or get_registry()
    spec = registry.report_format(fmt)
    try:
        text = spec.render(summary)
    except Exception as exc:
        plugin = registry.report_formats()[fmt].plugin
        raise PluginError(
            f"--format {fmt} (plugin {plugin.name}, {plugin.source}) failed: "
            f"{type(exc).__name__}: {exc}; try another --format"
        ) from None
    if not isinstance(text, str):
        plugin = registry.report_formats()[fmt].plugin
        raise PluginError(
            f"--format {fmt} (plugin {plugin.name}) returned {type(text).__name__}, not text"
        )
    return text
