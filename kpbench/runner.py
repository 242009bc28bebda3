"""One run: resolve plugins → merge config → select evaluation inputs → seed → device →
train (if the method trains) → predict and score through the task → time → record → MLflow."""

from __future__ import annotations

import json
import logging
import random
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kpbench import __version__, requirements
from kpbench.config import load_config_file, parse_set, resolve
from kpbench.distributed import broadcast as _shared_run_id
from kpbench.distributed import mean_history
from kpbench.distributed import setup as setup_distributed
from kpbench.errors import ConfigError, DataError, IncompatibleError, KpbenchError
from kpbench.plugins import Registry, get_registry

log = logging.getLogger("kpbench")


@dataclass
class RunOptions:
    """Everything ``kpbench run`` takes (defaults match the CLI's)."""

    method: str
    dataset: str
    data_dir: Path | None = None
    preset: str | None = "default"
    config_file: Path | None = None
    sets: list[str] = field(default_factory=list)
    seed: int = 0
    device: str = "auto"
    task: str | None = None
    results_dir: Path = Path("results")
    tracking_uri: str | None = None
    experiment: str | None = None
    mlflow: bool = True
    resume: str | None = None  # a run id, or "latest"
    run_id: str | None = None  # None: a new id (results.new_run_id); a sweep's cell id
    progress: bool = True
    threads: int | None = None  # CPU threads for torch; None keeps torch's default (the cores)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA)."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def choose_device(name: str):
    """``auto`` → CUDA when present, else CPU; ``cuda`` without a GPU is an error."""
    import torch

    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"--device {name}: no CUDA device is available here; use --device cpu or auto"
        )
    return torch.device(name)


def pick_task(registry: Registry, method: str, dataset: str, task: str | None) -> str:
    """The task a method × dataset pair runs; an impossible pair names the datasets that work."""
    mspec, dspec = registry.method(method), registry.dataset(dataset)
    shared = [t for t in mspec.tasks if t in dspec.tasks]
    if not shared:
        working = sorted(d for d, m, _ in registry.pairs() if m == method)
        raise IncompatibleError(
            f"method {method} ({', '.join(mspec.tasks)}) cannot run on dataset {dataset} "
            f"({', '.join(dspec.tasks)}); datasets that work with {method}: {', '.join(working) or 'none'}"
        )
    if task is None:
        return shared[0]
    if task not in shared:
        raise IncompatibleError(f"--task {task}: {method} on {dataset} can run {', '.join(shared)}")
    return task


def _finished(record_file: Path) -> bool:
    try:
        return json.loads(record_file.read_text(encoding="utf-8")).get("status") == "finished"
    except (OSError, ValueError):
        return False


def _find_resume(results_dir: Path, dataset: str, method: str, wanted: str) -> str:
    """The run to continue: ``wanted``, or the unfinished run checkpointed last (run ids, e.g.
    a sweep's cell names, need not sort by time).

    A finished run is never resumed (its record would be overwritten).
    """
    folder = results_dir / dataset / method
    if wanted != "latest":
        if not (folder / wanted / "checkpoint.pt").is_file():
            raise ConfigError(
                f"--resume {wanted}: no checkpoint at {folder / wanted / 'checkpoint.pt'}"
            )
        if _finished(folder / f"{wanted}.json"):
            raise ConfigError(
                f"--resume {wanted}: that run finished ({folder / wanted}.json); start a new run instead"
            )
        return wanted
    found = folder.glob("*/checkpoint.pt") if folder.is_dir() else []
    candidates = sorted(found, key=lambda c: c.stat().st_mtime)  # latest: last checkpointed
    open_runs = [c.parent.name for c in candidates if not _finished(c.parent.with_suffix(".json"))]
    if not open_runs:
        raise ConfigError(f"--resume: no interrupted run with a checkpoint under {folder}")
    return open_runs[-1]


def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads (None keeps its default, one per core); return the count in use."""
    import torch

    if threads is not None:
        if threads < 1:
            raise ConfigError(f"--threads {threads}: need at least 1")
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()


def run(opts: RunOptions, registry: Registry | None = None) -> dict:
    """Run one method on one dataset and write its record. Returns the record.

    Input errors (unknown plugin, impossible pair, bad config, missing data, a task without
    metrics, evaluation inputs that cannot be scored) raise a :class:`KpbenchError` before
    anything is trained or written. Failures during training, prediction or timing write a
    record with ``status: failed`` and then raise :class:`KpbenchError`.
    """
    from kpbench import results, timing
    from kpbench.context import Context
    from kpbench.evaluation import evaluate, task_options
    from kpbench.presets import layer_and_settings
    from kpbench.tracking import Tracker, run_params

    if opts.results_dir.exists() and not opts.results_dir.is_dir():
        raise ConfigError(
            f"--results {opts.results_dir} is a file; it takes the folder records are written to"
        )

    registry = registry or get_registry()
    task = pick_task(registry, opts.method, opts.dataset, opts.task)
    mspec, dspec, tspec = (
        registry.method(opts.method),
        registry.dataset(opts.dataset),
        registry.task(task),
    )
    layer, shared = layer_and_settings(registry, opts.preset, mspec)
    config, data_options, task_overrides = resolve(
        mspec, layer, load_config_file(opts.config_file), parse_set(opts.sets), shared
    )
    options = task_options(tspec, layer, task_overrides)
    metric_specs = registry.metrics(task)
    if not metric_specs:
        raise IncompatibleError(
            f"task {task} has no metric installed, so a run could not be scored; install a "
            f"plugin with metrics for {task} (see `kpbench list metrics`)"
        )
    device, rank, world = setup_distributed(choose_device(opts.device))
    requirements.check(mspec.name, mspec.requires, device)
    threads = set_threads(opts.threads)

    data = build_dataset(dspec, opts.data_dir, data_options)
    data_dir = getattr(data, "root", None) or opts.data_dir
    data_dir = Path(data_dir).resolve() if data_dir else None
    if task not in data.tasks:
        unused = (data.notes.get("files") or {}).get("ignored") or {}
        why = "".join(f"; {f} not used: {r}" for f, r in list(unused.items())[:2])
        raise DataError(
            f"dataset {opts.dataset} at {data_dir}: this folder serves {', '.join(data.tasks) or 'no task'}, "
            f"not {task} (e.g. discovery2d needs the videos){why}"
        )
    evalset = tspec.select(data, options)  # refuse unscorable input before training

    if opts.resume:
        run_id = _find_resume(opts.results_dir, opts.dataset, opts.method, opts.resume)
    else:
        run_id = _new_run_id(opts)
    run_id = _shared_run_id(run_id, world)
    record_file = results.record_path(opts.results_dir, opts.dataset, opts.method, run_id)
    run_dir = record_file.with_suffix("")
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(opts.seed)

    tracker = Tracker(
        enabled=opts.mlflow and rank == 0,  # one MLflow run and one record, from rank 0
        tracking_uri=opts.tracking_uri,
        experiment=opts.experiment or opts.dataset,
        results_dir=opts.results_dir,
    )
    tags = {
        "method": opts.method,
        "dataset": opts.dataset,
        "task": task,
        "preset": str(opts.preset),
        "kpbench_version": __version__,
        "device": str(device),
        "seed": str(opts.seed),
        "evaluation_inputs": evalset.hash,
    }
    tracker.start(run_name=run_id, params=run_params(config, data_options, options), tags=tags)
    ctx = Context(config, device, opts.seed, run_dir, bool(opts.resume), tracker, opts.progress)

    record: dict[str, Any] = {
        "schema_version": results.SCHEMA_VERSION,
        "run_id": run_id,
        "method": opts.method,
        "dataset": opts.dataset,
        "task": task,
        "preset": opts.preset,
        "seed": opts.seed,
        "config": config,
        "config_hash": results.config_hash(config),
        "data_options": data_options,
        "data": {"dir": str(data_dir) if data_dir else None, **_safe(data.describe)},
        "evaluation": {},
        "metrics": {},
        "baselines": {},
        "timing": {},
        "params": None,
        "flops": None,
        "trains": mspec.trains_for(task),
        "env": {**results.environment(), "threads": threads, "world_size": world},
        "kpbench_version": __version__,
        "started_at": now(),
        "finished_at": None,
        "status": "failed",
        "artifacts": {},
        "history": [],
        "notes": {},
    }
    stage = "build"
    t0 = time.perf_counter()
    try:
        method = build_method(
            mspec, config, data, evalset.dims.get("K"), task=task, dims=evalset.dims
        )
        if method.model is not None:
            method.model.to(device)
        record["params"] = timing.count_params(method.model)
        record["params_by_block"] = timing.count_params_by_child(method.model)
        if mspec.trains_for(task):
            stage = "train"
            fit_start = time.perf_counter()
            method.fit(data, ctx)
            ctx.note("fit_seconds", round(time.perf_counter() - fit_start, 3))
            ctx.history = mean_history(ctx.history, world)  # epoch losses over all ranks
        if rank != 0:  # rank 0 alone evaluates, exports, times and writes the record
            return {"run_id": run_id, "rank": rank, "status": "finished"}
        stage = "evaluate"
        scored = evaluate(
            tspec, evalset, method, options, metric_specs, ctx, opts.seed,
            registry.exporters(task),
        )  # fmt: skip
        record.update(scored)
        stage = "export"
        method.export(data, ctx)
        stage = "time"
        batch_size = int(config.get("timing_batch_size", 1) or 1)
        record["timing"] = timing.profile(
            method, data, batch_size, device, trains=mspec.trains_for(task)
        )
        record["flops"] = {
            "per_sample": timing.inference_flops(method),
            "sample": tspec.unit,
            "counted_on": "Method.infer(Method.example_batch(1))",
        }
        record["status"] = "finished"
    except KeyboardInterrupt:
        record["error"] = f"interrupted during {stage}; continue with --resume {run_id}"
    except Exception as exc:
        record["error"] = f"{stage} failed: {type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["wall_time_s"] = round(time.perf_counter() - t0, 3)
    record.update(finished_at=now(), history=ctx.history, artifacts=ctx.artifacts, notes=ctx.notes)
    unavailable = (record.get("evaluation") or {}).get("unavailable")
    if record["status"] == "finished" and unavailable:
        record["notes"]["metrics_unavailable"] = unavailable
        log.warning("run %s finished without metrics: %s", run_id, unavailable)

    tracker.log_outcome(record, run_dir)
    tracker.finish("FINISHED" if record["status"] == "finished" else "FAILED")
    record["tracking"] = tracker.info()
    if rank == 0:
        results.write_record(record_file, record)
    record["_path"] = str(record_file)
    if record["status"] != "finished":
        raise KpbenchError(f"run {run_id} {record['error']} (record: {record_file})")
    return record


def _new_run_id(opts: RunOptions) -> str:
    """``opts.run_id`` (checked: a file name, not a finished run's) or a fresh id."""
    from kpbench import results

    if opts.run_id is None:
        return results.new_run_id(opts.method, opts.seed)
    if not opts.run_id or any(c in opts.run_id for c in '/\\:*?"<>| ') or opts.run_id[0] == ".":
        raise ConfigError(f"--run-id {opts.run_id!r}: use letters, digits, '-', '_' and '.'")
    record = results.record_path(opts.results_dir, opts.dataset, opts.method, opts.run_id)
    if _finished(record):
        raise ConfigError(
            f"--run-id {opts.run_id}: that run finished ({record}); pick another id or delete the record"
        )
    return opts.run_id


def build_dataset(dspec, data_dir, options: dict):
    """``dspec.build(data_dir, **options)`` (``data_dir`` None: ``$KPBENCH_DATA/<dataset>``);
    a :class:`DataError` that does not say how to get the data gets ``dspec.data_hint``."""
    try:
        return dspec.build(data_dir, **options)
    except DataError as exc:
        hint = dspec.data_hint
        if hint and hint not in str(exc):
            raise DataError(f"{exc}; to get the data: {hint}") from None
        raise


def build_method(
    mspec,
    config: dict,
    data=None,
    num_keypoints: int | None = None,
    task: str | None = None,
    dims: dict | None = None,
):
    """Build a method from its spec and check it keeps the contract the spec declares.

    ``num_keypoints``: the K of the task's evaluation inputs (one instance's keypoints for
    ``pose2d``); None falls back to the dataset's keypoint names. ``task`` (the run's task)
    and ``dims`` (the evaluation set's sizes, e.g. ``{"C": 4}`` classes) reach a ``build``
    that takes them as keyword arguments (a method serving several tasks sizes its network
    from them); a ``build(config, num_keypoints)`` is called as before.
    """
    import inspect

    from kpbench.errors import PluginError
    from kpbench.method import Method, TrainableMethod

    num_keypoints = num_keypoints or len(getattr(data, "keypoint_names", []) or []) or None
    params = inspect.signature(mspec.build).parameters
    takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
    extra = {
        key: value
        for key, value in (("task", task), ("dims", dict(dims or {})))
        if takes_all or key in params
    }
    method = mspec.build(config, num_keypoints=num_keypoints, **extra)
    if not isinstance(method, Method):
        raise PluginError(
            f"method {mspec.name}: build returned {type(method).__name__}, not a kpbench.method.Method"
        )
    if mspec.trains_for(task) and not isinstance(method, TrainableMethod):
        raise PluginError(
            f"method {mspec.name}: the spec says it trains, but {type(method).__name__} is not a "
            "kpbench.method.TrainableMethod (fit/train_batch/train_step); set trains=False or add them"
        )
    method.name = mspec.name
    return method


def _safe(fn) -> dict:
    try:
        return dict(fn())
    except Exception as exc:  # describing the data must never fail a run
        return {"describe_error": str(exc)}
