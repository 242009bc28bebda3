"""``kpbench info METHOD``: resolved config, tasks, parameter count and FLOPs, without training."""

from __future__ import annotations

import json
from pathlib import Path

from kpbench.cli.common import add_config_args, add_format


def register(sub) -> None:
    p = sub.add_parser(
        "info", help="a method's resolved config, tasks, params and FLOPs (no training)"
    )
    p.add_argument("method")
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
    from kpbench.runner import pick_task

    registry = get_registry()
    spec = registry.method(method)
    config, data_options = resolve(spec, preset, load_config_file(config_file), parse_set(sets))
    tasks, num_keypoints = list(spec.tasks), None
    if dataset:
        tasks = [pick_task(registry, method, dataset, None)]
        data = registry.dataset(dataset).build(data_dir, **data_options)
        num_keypoints = len(data.keypoint_names) or None
    built = spec.build(config, num_keypoints=num_keypoints)
    inputs = built.flops_inputs()
    return {
        "method": method,
        "tasks": tasks,
        "preset": preset,
        "dataset": dataset,
        "config": config,
        "params": timing.count_params(built.model),
        "params_by_block": timing.count_params_by_child(built.model),
        "flops_per_sample": timing.count_flops(built.model, inputs),
        "flops_input": [list(x.shape) for x in inputs],
        "reference": dict(spec.reference),
        "paper": spec.paper,
    }


def handle(args) -> int:
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
        f"FLOPs    {info['flops_per_sample']:,} per sample ({info['flops_per_sample'] / 1e9:.2f} GFLOPs) at input {info['flops_input']}"
    )
    if info["reference"]:
        print(
            "reference "
            + ", ".join(
                f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                for k, v in info["reference"].items()
            )
        )
    print("config:")
    for k, v in sorted(info["config"].items()):
        print(f"  {k}: {v}")
    return 0
