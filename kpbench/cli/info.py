"""``kpbench info METHOD|TASK``: a method's resolved config, params and FLOPs (no training),
or a task's data model, protocol, options, metrics and baselines."""

from __future__ import annotations

import json
from pathlib import Path

from kpbench.cli.common import add_config_args, add_format


def register(sub) -> None:
    p = sub.add_parser(
        "info",
        help="a method's resolved config, params and FLOPs (no training), or a task's data model",
    )
    p.add_argument("method", metavar="METHOD|TASK")
    p.add_argument(
        "--dataset", help="size the model for this dataset (its keypoint count, its task)"
    )
    p.add_argument("--data-dir", type=Path, help="data folder for --dataset")
    add_config_args(p, None)
    add_format(p)
    p.set_defaults(handler=handle)


def describe(
    method: str,
    dataset: str | None = None,
    data_dir: Path | None = None,
    preset: str | None = None,
    config_file=None,
    sets=None,
) -> dict:
    """Build the model on CPU and describe it."""

    from kpbench import timing
    from kpbench.config import load_config_file, parse_set, resolve
    from kpbench.plugins import get_registry
    from kpbench.presets import layer_and_settings
    from kpbench.runner import build_dataset, build_method, pick_task

    registry = get_registry()
    spec = registry.method(method)
    layer, shared = layer_and_settings(registry, preset, spec)
    config, data_options, _ = resolve(
        spec, layer, load_config_file(config_file), parse_set(sets), shared
    )
    tasks, data = list(spec.tasks), None
    if dataset:
        tasks = [pick_task(registry, method, dataset, None)]
        data = build_dataset(registry.dataset(dataset), data_dir, data_options)
    built_for = tasks[0] if dataset else None  # the paper model is built for the first task
    built = build_method(spec, config, data, task=built_for)
    unit_of = tasks[0] if tasks and tasks[0] in registry.tasks() else None
    return {
        "method": method,
        "tasks": tasks,
        "preset": preset,
        "dataset": dataset,
        "config": config,
        "params": timing.count_params(built.model),
        "params_by_block": timing.count_params_by_child(built.model),
        "flops_per_sample": timing.inference_flops(built),
        "flops_sample": registry.task(unit_of).unit if unit_of else "",
        "trains": spec.trains_for(built_for or (tasks[0] if tasks else None)),
        "reference": dict(spec.reference),
        "requires": dict(spec.requires),
        "paper": spec.paper,
    }


def describe_task(name: str) -> dict:
    """A task's data model, protocol, options, metrics and baselines (also the JSON output)."""
    from kpbench.plugins import get_registry

    registry = get_registry()
    entry = registry.tasks()[name]
    spec = entry.spec
    return {
        "task": spec.name,
        "description": spec.description,
        "plugin": entry.plugin.name,
        "source": entry.plugin.source,
        "unit": spec.unit,
        "sample": spec.sample.describe(),
        "inputs": spec.inputs.describe(),
        "prediction": spec.prediction.describe(),
        "protocol": spec.protocol,
        "options": dict(spec.options),
        "presets": {k: dict(v) for k, v in spec.presets.items()},
        "baselines": list(spec.baselines),
        "metrics": [
            {"name": m.name, "unit": m.unit, "higher_is_better": m.higher_is_better,
             "description": m.description}
            for m in registry.metrics(name)
        ],
        "methods": sorted(n for n, e in registry.methods().items() if name in e.spec.tasks),
        "datasets": sorted(n for n, e in registry.datasets().items() if name in e.spec.tasks),
    }  # fmt: skip


def print_task(info: dict) -> None:
    print(f"task      {info['task']}: {info['description']}  ({info['source']})")
    print(f"sample    one {info['unit']} (FLOPs and latency are per {info['unit']})")
    for title, key in (("dataset sample", "sample"), ("method input", "inputs"),
                       ("method predicts", "prediction")):  # fmt: skip
        print(f"{title}:")
        for line in info[key]:
            print(f"  {line}")
    print(f"protocol  {info['protocol']}")
    print("options   " + ", ".join(f"{k}={v}" for k, v in info["options"].items()))
    for preset, layer in info["presets"].items():
        print(f"  preset {preset}: " + (", ".join(f"{k}={v}" for k, v in layer.items()) or "-"))
    print(f"baselines {', '.join(info['baselines']) or 'none'}")
    print("metrics   " + (", ".join(f"{m['name']} [{m['unit']}]" for m in info["metrics"])
                          or "none installed: runs of this task are refused"))  # fmt: skip
    print(f"methods   {', '.join(info['methods']) or 'none'}")
    print(f"datasets  {', '.join(info['datasets']) or 'none'}")


def handle(args) -> int:
    from kpbench.plugins import get_registry

    if args.method in get_registry().tasks() and args.method not in get_registry().methods():
        info = describe_task(args.method)
        if args.format == "json":
            print(json.dumps(info, indent=2, default=str))
        else:
            print_task(info)
        return 0
    info = describe(
        args.method, args.dataset, args.data_dir, args.preset, args.config_file, args.sets
    )
    if args.format == "json":
        print(json.dumps(info, indent=2, default=str))
        return 0
    print(f"method   {info['method']}  ({', '.join(info['tasks'])})")
    print(f"preset   {info['preset'] or 'none (the paper model)'}")
    if info["paper"]:
        print(f"paper    {info['paper']}")
    print(
        f"params   {info['params']:,}  ("
        + ", ".join(f"{k} {v:,}" for k, v in info["params_by_block"].items())
        + ")"
    )
    print(
        f"FLOPs    {info['flops_per_sample']:,} per {info['flops_sample'] or 'sample'} "
        f"({info['flops_per_sample'] / 1e9:.2f} GFLOPs, one inference call)"
    )
    if info["reference"]:
        print(
            "reference "
            + ", ".join(
                f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                for k, v in info["reference"].items()
            )
        )
    if info["requires"]:
        print("requires " + ", ".join(f"{k} {v}" for k, v in info["requires"].items()))
    print("config:")
    for k, v in sorted(info["config"].items()):
        print(f"  {k}: {v}")
    return 0
