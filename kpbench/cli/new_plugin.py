"""``kpbench new-plugin NAME [--kind method|dataset|metric|task] [--task TASK] [--out DIR]``."""

from __future__ import annotations

from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser(
        "new-plugin",
        help="write a new plugin distribution (method, dataset, metric or task) from a template",
        description="Write DIR/NAME: pyproject.toml with the kpbench entry point, the package "
        "kpbench_NAME with a small working example, README.md and conformance tests.",
    )
    p.add_argument("name", help="the plugin's name: lowercase letters, digits, '_' (e.g. mynet)")
    p.add_argument("--kind", choices=("method", "dataset", "metric", "task"), default="method")
    p.add_argument(
        "--task",
        help="task of the example (method: pose2d | discovery2d, default pose2d; dataset: "
        "discovery2d | pose2d; metric: pose2d | discovery2d; task: none, the new task is "
        "named NAME and comes with its dataset, method and metrics)",
    )
    p.add_argument("--out", type=Path, default=Path("."), help="parent folder (default: .)")
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from kpbench.scaffold import check_task, generate

    task = check_task(args.kind, args.task)
    folder = generate(args.name, args.kind, task, args.out)
    what = f"({task})" if task else "(a new task, with its dataset, method and metrics)"
    print(f"wrote the {args.kind} plugin {args.name} {what} to {folder}")
    print(f"next: cd {folder} && pip install -e . && pytest   (see README.md)")
    return 0
