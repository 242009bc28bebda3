"""``kpbench run``: train, evaluate and time one method on one dataset; write its record."""

from __future__ import annotations

from pathlib import Path

from kpbench.cli.common import add_config_args


def register(sub) -> None:
    p = sub.add_parser("run", help="train, evaluate and time one method on one dataset")
    p.add_argument("--method", required=True, help="method name (see `kpbench list methods`)")
    p.add_argument("--dataset", required=True, help="dataset name (see `kpbench list datasets`)")
    p.add_argument("--data-dir", type=Path, help="data folder (default: $KPBENCH_DATA/<dataset>)")
    add_config_args(p, "default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (auto = CUDA when present)")
    p.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's, one per core); small models on few cores "
        "often run faster with 1; recorded in the timing section",
    )
    p.add_argument("--task", help="pick one task when the pair allows several")
    p.add_argument(
        "--results", dest="results_dir", type=Path, default=Path("results"), help="results folder"
    )
    p.add_argument("--experiment", help="MLflow experiment (default: the dataset name)")
    p.add_argument(
        "--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or ./mlflow.db)"
    )
    p.add_argument("--no-mlflow", action="store_true", help="do not log to MLflow")
    p.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        metavar="RUN_ID",
        help="continue an interrupted run (default: the latest)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument(
        "--run-id", help="name the run (default: a new time-stamped id); kpbench sweep sets it"
    )
    p.add_argument(
        "--devices",
        type=int,
        default=1,
        help="data-parallel processes (torchrun on this machine; one per GPU, or CPU with gloo)",
    )
    p.set_defaults(handler=handle)


def handle(args) -> int:
    from kpbench import distributed
    from kpbench.runner import RunOptions, run

    if args.devices != 1 and distributed.world()[1] == 1:  # not yet under torchrun / srun
        return distributed.launch(args.argv, args.devices, args.device)
    record = run(
        RunOptions(
            method=args.method,
            dataset=args.dataset,
            data_dir=args.data_dir,
            preset=args.preset,
            config_file=args.config_file,
            sets=args.sets,
            seed=args.seed,
            device=args.device,
            task=args.task,
            results_dir=args.results_dir,
            tracking_uri=args.tracking_uri,
            experiment=args.experiment,
            mlflow=not args.no_mlflow,
            resume=args.resume,
            run_id=args.run_id,
            progress=not args.no_progress,
            threads=args.threads,
        )
    )
    distributed.finish()
    if record.get("rank", 0) == 0:
        print_summary(record)
    return 0


def print_summary(record: dict) -> None:
    print(
        f"run {record['run_id']}: {record['method']} on {record['dataset']} ({record['task']}, preset {record['preset']})"
    )
    ev = record.get("evaluation") or {}
    if ev.get("inputs_hash"):
        print(f"  evaluated on {ev['inputs']} inputs, inputs hash {ev['inputs_hash']}")
    _print_files(record)
    for why in ((ev.get("selection") or {}).get("excluded") or {}).values():
        print(f"  {why}")
    if not record.get("metrics"):
        print(f"  {_no_metrics(record)}")
    for name, m in record["metrics"].items():
        arrow = "↑" if m["higher_is_better"] else "↓"
        if m["value"] is None:
            print(f"  {name} {arrow}: failed ({m.get('error')})")
        else:
            print(f"  {name} {arrow}: {m['value']:.4g} {m['unit']}")
    for base, values in record.get("baselines", {}).items():
        print(
            f"  baseline {base}: "
            + ", ".join(f"{k} {'–' if v is None else format(v, '.4g')}" for k, v in values.items())
        )
    t = record.get("timing", {})
    if t:
        print(
            f"  timing on {t.get('device')}: "
            + ", ".join(
                f"{k} {v['value']:.4g} {v['unit']}" for k, v in t.items() if isinstance(v, dict)
            )
        )
    print(
        f"  params {record['params']:,}"
        + (f", FLOPs/sample {record['flops']['per_sample']:.3e}" if record.get("flops") else "")
    )
    tr = record.get("tracking") or {}
    if tr.get("error"):
        print(
            f"  MLflow: tracking failed ({tr['error']}); the JSON record has everything: "
            f"upload it later with `kpbench sync {Path(record['_path']).parents[2]}`"
        )
    print(f"  record: {record['_path']}")


def _file_notes(data: dict) -> tuple[dict, dict]:
    """``(skipped, ignored)``, ``{file: why}``, from the record's ``data`` section: the
    dataset's file ledger (``data.files``) or an older record's ``data.skipped`` list/dict."""
    files = data.get("files")
    files = files if isinstance(files, dict) else {}
    skipped, ignored = dict(files.get("skipped") or {}), dict(files.get("ignored") or {})
    old = data.get("skipped") or {}
    if isinstance(old, dict):
        skipped.update({str(k): str(v) for k, v in old.items()})
    elif isinstance(old, (list, tuple)):
        for line in old:
            name, _, why = str(line).partition(": ")
            skipped[name] = why or "skipped"
    return skipped, ignored


def _print_files(record: dict) -> None:
    skipped, ignored = _file_notes(record.get("data") or {})
    for name, why in skipped.items():
        print(f"  skipped {name}: {why}")
    if ignored:
        n = len(ignored)
        print(
            f"  {n} file{'s' if n != 1 else ''} ignored (why for each: data.files.ignored in the "
            "record)"
        )


def _no_metrics(record: dict) -> str:
    """One line: why the run has no metrics and what to do about it."""
    ev = record.get("evaluation") or {}
    why = (
        ev.get("unavailable")
        or (record.get("notes") or {}).get("metrics_unavailable")
        or record.get("error")
        or "the task scored nothing"
    )
    return (
        f"no metrics: {why}; the method was trained and timed but not scored: give the dataset "
        "labelled frames in its evaluation splits (or a --data-dir that has them); what was "
        "selected is in the record's evaluation.selection"
    )
