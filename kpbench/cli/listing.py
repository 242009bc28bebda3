"""``kpbench list``: plugins, tasks, methods, datasets, metrics, and the pairs that can run."""

from __future__ import annotations

import json

from kpbench.cli.common import add_format

WHAT = (
    "all", "plugins", "tasks", "methods", "datasets", "metrics", "presets", "formats",
    "exporters", "pairs",
)  # fmt: skip


def register(sub) -> None:
    p = sub.add_parser(
        "list",
        help="list plugins, tasks, methods, datasets, metrics, presets, compare formats, "
        "exporters and runnable pairs",
    )
    p.add_argument("what", nargs="?", choices=WHAT, default="all")
    add_format(p)
    p.set_defaults(handler=handle)


def collect(registry) -> dict:
    """Everything ``list`` shows, as plain data (also the JSON output).

    The records are collected before the plugins are listed: a plugin's ``provides`` is only
    known once the registry has asked every plugin for its records.
    """
    records = {
        "tasks": registry.tasks(),
        "methods": registry.methods(),
        "datasets": registry.datasets(),
    }
    metrics = sorted(registry.metrics(), key=lambda m: (m.task, m.name))
    return {
        "plugins": [
            {
                "name": p.name,
                "source": p.source,
                "status": "error" if p.error else "ok",
                "error": p.error,
                "provides": p.provides,
            }
            for p in sorted(registry.plugins.values(), key=lambda p: p.name)
        ],
        "tasks": [
            {
                "name": n,
                "plugin": e.plugin.name,
                "source": e.plugin.source,
                "description": e.spec.description,
                "unit": e.spec.unit,
                "sample": e.spec.sample.field_names(),
                "predicts": [_short(f) for f in e.spec.prediction.fields],
                "baselines": list(e.spec.baselines),
                "metrics": [m.name for m in metrics if m.task == n],
            }
            for n, e in sorted(records["tasks"].items())
        ],
        "methods": [
            {
                "name": n,
                "tasks": list(e.spec.tasks),
                "plugin": e.plugin.name,
                "source": e.plugin.source,
                "description": e.spec.description,
            }
            for n, e in sorted(records["methods"].items())
        ],
        "datasets": [
            {
                "name": n,
                "tasks": list(e.spec.tasks),
                "plugin": e.plugin.name,
                "source": e.plugin.source,
                "synthetic_twin": e.spec.synthesize is not None,
                "data_hint": e.spec.data_hint,
                "description": e.spec.description,
            }
            for n, e in sorted(records["datasets"].items())
        ],
        "metrics": [
            {
                "task": m.task,
                "name": m.name,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "description": m.description,
            }
            for m in metrics
        ],
        "presets": [
            {
                "name": n,
                "base": e.spec.base or "",
                "settings": [f"{k}={v}" for k, v in e.spec.settings.items()],
                "source": e.plugin.source,
                "description": e.spec.description,
            }
            for n, e in sorted(registry.presets().items())
        ],
        "formats": [
            {"name": n, "source": e.plugin.source, "description": e.spec.description}
            for n, e in sorted(registry.report_formats().items())
        ],
        "exporters": [
            {
                "task": e.spec.task,
                "name": e.spec.name,
                "source": e.plugin.source,
                "description": e.spec.description,
            }
            for e in sorted(registry.exporters(), key=lambda e: (e.spec.task, e.spec.name))
        ],
        "pairs": [{"dataset": d, "method": m, "tasks": t} for d, m, t in sorted(registry.pairs())],
    }


def _short(field) -> str:
    """``keypoints (N, K, 2) px``: a prediction field in a few characters."""
    shape = "" if field.shape is None else str(tuple(field.shape)).replace("'", "").replace(" ", "")
    return " ".join(x for x in (field.name + shape, field.unit) if x)


def _table(rows: list[dict], cols: list[str]) -> str:
    if not rows:
        return "  (none)"
    cells = [
        [
            ", ".join(v) if isinstance(v, list) else ("" if v is None else str(v))
            for v in (r[c] for c in cols)
        ]
        for r in rows
    ]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ["  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def handle(args) -> int:
    from kpbench.plugins import get_registry

    data = collect(get_registry())
    if args.what != "all":
        data = {args.what: data[args.what]}
    if args.format == "json":
        print(json.dumps(data, indent=2))
        return 0
    columns = {
        "plugins": ["name", "source", "status", "error"],
        "methods": ["name", "tasks", "source", "description"],
        "datasets": ["name", "tasks", "source", "description"],
        "metrics": ["task", "name", "unit", "higher_is_better", "description"],
        "presets": ["name", "base", "settings", "source", "description"],
        "formats": ["name", "source", "description"],
        "exporters": ["task", "name", "source", "description"],
        "pairs": ["dataset", "method", "tasks"],
    }
    for section, rows in data.items():
        print(f"{section}:")
        print(_task_blocks(rows) if section == "tasks" else _table(rows, columns[section]))
    return 0


def _task_blocks(rows: list[dict]) -> str:
    """One short block per task: what a sample holds, what a method predicts, baselines, metrics."""
    if not rows:
        return "  (none)"
    lines = []
    for t in rows:
        lines.append(
            f"  {t['name']}: {t['description']}  [one sample = one {t['unit']}; {t['source']}]"
        )
        lines.append(f"    sample     {', '.join(t['sample']) or '-'}")
        lines.append(f"    predicts   {', '.join(t['predicts']) or '-'}")
        lines.append(f"    baselines  {', '.join(t['baselines']) or '-'}")
        lines.append(f"    metrics    {', '.join(t['metrics']) or 'none installed (runs refused)'}")
    return "\n".join(lines)
