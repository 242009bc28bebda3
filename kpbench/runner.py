"""One run: resolve plugins → merge config → seed → device → train → evaluate → time → record → MLflow."""

from __future__ import annotations

import logging
import os
import random
import sys
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kpbench import __version__
from kpbench.config import load_config_file, parse_set, resolve
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
    progress: bool = True


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


class Context:
    """The :class:`kpbench.method.RunContext` the runner hands to a method."""

    def __init__(
        self, config, device, seed, run_dir: Path, resume: bool, tracker, show_progress: bool
    ):
        self.config, self.device, self.seed = config, device, seed
        self.run_dir, self.resume, self.tracker = run_dir, resume, tracker
        self.show_progress = show_progress
        self.history: list[dict] = []
        self.artifacts: dict[str, str] = {}
        self.notes: dict[str, Any] = {}
        self.checkpoint_path = run_dir / "checkpoint.pt"

    def log_epoch(self, epoch: int, losses: dict[str, float]) -> None:
        row = {"epoch": epoch, **{k: float(v) for k, v in losses.items()}}
        self.history.append(row)
        self.tracker.log_metrics({f"train/{k}": float(v) for k, v in losses.items()}, step=epoch)
        parts = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        print(f"epoch {epoch}: {parts}", file=sys.stderr, flush=True)

    def save_checkpoint(self, state: dict) -> Path:
        import torch

        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.checkpoint_path.with_suffix(".pt.tmp")
        torch.save({**state, "history": self.history}, tmp)
        os.replace(tmp, self.checkpoint_path)
        self.artifacts["checkpoint"] = self._relative(self.checkpoint_path)
        return self.checkpoint_path

    def load_checkpoint(self) -> dict | None:
        import torch

        if not (self.resume and self.checkpoint_path.is_file()):
            return None
        state = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        self.history = list(state.pop("history", []))
        return state

    def add_artifact(self, key: str, path: Path) -> None:
        self.artifacts[key] = self._relative(Path(path))

    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterator:
        from tqdm.auto import tqdm

        return iter(
            tqdm(
                iterable,
                total=total,
                desc=desc,
                leave=False,
                disable=not self.show_progress,
                file=sys.stderr,
            )
        )

    def _relative(self, path: Path) -> str:
        return os.path.relpath(path, self.run_dir.parent)


def _find_resume(results_dir: Path, dataset: str, method: str, wanted: str) -> str:
    folder = results_dir / dataset / method
    candidates = sorted(p for p in folder.glob("*/checkpoint.pt")) if folder.is_dir() else []
    if wanted != "latest":
        if not (folder / wanted / "checkpoint.pt").is_file():
            raise ConfigError(
                f"--resume {wanted}: no checkpoint at {folder / wanted / 'checkpoint.pt'}"
            )
        return wanted
    if not candidates:
        raise ConfigError(f"--resume: no interrupted run with a checkpoint under {folder}")
    return candidates[-1].parent.name


def run(opts: RunOptions, registry: Registry | None = None) -> dict:
    """Run one method on one dataset and write its record. Returns the record.

    Input errors (unknown plugin, impossible pair, bad config, missing data) raise a
    :class:`KpbenchError` before anything is written. Failures during training, evaluation
    or timing write a record with ``status: failed`` and then raise :class:`KpbenchError`.
    """
    from kpbench import results, timing
    from kpbench.tracking import Tracker, flatten

    registry = registry or get_registry()
    task = pick_task(registry, opts.method, opts.dataset, opts.task)
    mspec, dspec = registry.method(opts.method), registry.dataset(opts.dataset)
    config, data_options = resolve(
        mspec, opts.preset, load_config_file(opts.config_file), parse_set(opts.sets)
    )
    device = choose_device(opts.device)

    data = dspec.build(opts.data_dir, **data_options)  # --data-dir, else $KPBENCH_DATA/<dataset>
    data_dir = getattr(data, "root", None) or opts.data_dir
    if task not in data.tasks:
        raise DataError(
            f"dataset {opts.dataset} at {data_dir}: this folder serves {', '.join(data.tasks) or 'no task'}, "
            f"not {task} (e.g. discovery2d needs the videos)"
        )
    metric_specs = registry.metrics(task)

    run_id = (
        _find_resume(opts.results_dir, opts.dataset, opts.method, opts.resume)
        if opts.resume
        else results.new_run_id(opts.method, opts.seed)
    )
    record_file = results.record_path(opts.results_dir, opts.dataset, opts.method, run_id)
    run_dir = record_file.with_suffix("")
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(opts.seed)

    tracker = Tracker(
        enabled=opts.mlflow,
        tracking_uri=opts.tracking_uri,
        experiment=opts.experiment or opts.dataset,
    )
    tags = {
        "method": opts.method,
        "dataset": opts.dataset,
        "task": task,
        "preset": str(opts.preset),
        "kpbench_version": __version__,
        "device": str(device),
        "seed": str(opts.seed),
    }
    tracker.start(
        run_name=run_id,
        params=flatten({**config, **{f"data.{k}": v for k, v in data_options.items()}}),
        tags=tags,
    )
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
        "metrics": {},
        "baselines": {},
        "timing": {},
        "params": None,
        "flops": None,
        "env": results.environment(),
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
        method = mspec.build(config, num_keypoints=len(data.keypoint_names) or None)
        method.model.to(device)
        record["params"] = timing.count_params(method.model)
        record["params_by_block"] = timing.count_params_by_child(method.model)
        stage = "train"
        method.fit(data, ctx)
        stage = "evaluate"
        evaluation = method.evaluate(data, ctx)
        record["metrics"] = score(metric_specs, evaluation)
        for name, base in (evaluation.get("baselines") or {}).items():
            record["baselines"][name] = {
                k: v["value"] for k, v in score(metric_specs, base).items()
            }
        stage = "time"
        batch = method.timing_batch(data, int(config.get("timing_batch_size", 1) or 1))
        record["timing"] = timing.profile(
            method, batch, int(config.get("timing_batch_size", 1) or 1), device
        )
        flops_inputs = method.flops_inputs()
        record["flops"] = {
            "per_sample": timing.count_flops(method.model, flops_inputs),
            "input": " ".join(str(tuple(x.shape)) for x in flops_inputs),
        }
        record["status"] = "finished"
    except KeyboardInterrupt:
        record["error"] = f"interrupted during {stage}; continue with --resume {run_id}"
    except Exception as exc:
        record["error"] = f"{stage} failed: {type(exc).__name__}: {exc}"
        record["traceback"] = traceback.format_exc()
    record["wall_time_s"] = round(time.perf_counter() - t0, 3)
    record.update(finished_at=now(), history=ctx.history, artifacts=ctx.artifacts, notes=ctx.notes)

    if record["status"] == "finished":
        tracker.log_metrics({k: v["value"] for k, v in record["metrics"].items()})
        tracker.log_metrics(
            {f"timing/{k}": v["value"] for k, v in record["timing"].items() if isinstance(v, dict)}
        )
    tracker.log_dict(record, "record.json")
    tracker.finish("FINISHED" if record["status"] == "finished" else "FAILED")
    record["tracking"] = tracker.info()
    results.write_record(record_file, record)
    record["_path"] = str(record_file)
    if record["status"] != "finished":
        raise KpbenchError(f"run {run_id} {record['error']} (record: {record_file})")
    return record


def score(metric_specs, evaluation) -> dict:
    """Apply every metric of the task to an evaluation record.

    An evaluation with ``metrics_unavailable`` (e.g. videos without any labels: discovery and
    exports only) is scored by no metric; the reason goes into the record's notes.
    """
    out: dict = {}
    if evaluation.get("metrics_unavailable"):
        return out
    for m in metric_specs:
        out[m.name] = {
            "value": float(m.fn(evaluation)),
            "unit": m.unit,
            "higher_is_better": m.higher_is_better,
        }
    return out


def _safe(fn) -> dict:
    try:
        return dict(fn())
    except Exception as exc:  # describing the data must never fail a run
        return {"describe_error": str(exc)}
