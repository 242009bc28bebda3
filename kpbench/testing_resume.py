"""The conformance check that a trained method resumes exactly (re-exported by kpbench.testing).

:func:`check_resume` fits a method three times on a small dataset at a shortened ``smoke``
config (:func:`short_config`): once uninterrupted, once crashing (a simulated kill) right after
its first checkpoint, and once resumed from that checkpoint in a freshly built method, as
``kpbench run --resume`` does in a new process. The resumed fit must end with the same state
and the same training history as the uninterrupted one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from kpbench.context import Context
from kpbench.testing_data import _fail, _line, _registry, _task


class SimulatedCrash(Exception):
    """Raised by :class:`CrashingContext` after it wrote the checkpoint it was told to die at."""


class CrashingContext(Context):
    """A run context that dies right after writing its ``crash_after``-th checkpoint."""

    def __init__(self, *args, crash_after: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.crash_after, self.saved, self.crashed_at = crash_after, 0, None

    def save_checkpoint(self, state: dict) -> Path:
        path = super().save_checkpoint(state)
        self.saved += 1
        if self.saved == self.crash_after:
            self.crashed_at = {"epoch": int(state["epoch"]), "step": int(state.get("step", 0))}
            raise SimulatedCrash(f"simulated kill after checkpoint {self.crashed_at}")
        return path


def short_config(config: dict) -> dict:
    """``config`` cut to two epochs of two steps of batch 2 (the keys it has) and a checkpoint
    after every step, so a crash lands mid-epoch."""
    short = {**config, "checkpoint_every": 1}
    if "steps" in config:
        short["steps"] = 4
    if "epochs" in config:
        short["epochs"] = 2
    for key in ("steps_per_epoch", "batch_size"):
        if key in config:
            short[key] = 2
    return short


def _state(method) -> dict:
    import torch

    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v
            for k, v in _flat(method.state_dict()).items()}  # fmt: skip


def _flat(state: Any, prefix: str = "") -> dict:
    if isinstance(state, dict):
        out: dict = {}
        for k, v in state.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): state}


def check_resume(
    spec,
    task: str,
    data: Any,
    registry=None,
    preset: str = "smoke",
    tmp_dir: str | Path | None = None,
    seed: int = 0,
) -> dict:
    """Check that ``spec`` resumes a fit interrupted after its first checkpoint exactly (CPU).

    Args:
        spec: a :class:`kpbench.specs.MethodSpec` that trains for ``task``.
        task: the task to build the method for.
        data: the training dataset (a small ``KeypointDataset``, e.g. a synthetic twin).
        registry: where the task is looked up (default: the process registry).
        preset: the method preset, shortened by :func:`short_config`.
        tmp_dir: folder for the run folders (default: a new temporary folder).
        seed: the runs' seed.

    Returns:
        ``{"resumed_from": {"epoch", "step"}, "epochs": int, "tensors": int}``.
    """
    import torch

    from kpbench.config import resolve
    from kpbench.evaluation import task_options
    from kpbench.runner import build_method, seed_everything
    from kpbench.tracking import Tracker

    reg, who = _registry(registry), f"method {spec.name}"
    if not spec.trains_for(task):
        _fail(f"{who}: does not train for task {task!r}, so it has no fit to resume")
    tspec = _task(reg, task, who)
    config = short_config(resolve(spec, preset)[0])
    try:  # the network is sized from the evaluation inputs, as in a run
        dims = tspec.select(data, task_options(tspec, preset, {})).dims
    except Exception as exc:
        _fail(f"{who}: task {task} cannot select evaluation inputs from {data!r}: {_line(exc)}")
    root = Path(tmp_dir or tempfile.mkdtemp(prefix="kpbench-resume-")) / spec.name / task

    def fit(run: str, resume: bool = False, crash_after: int | None = None):
        seed_everything(seed)  # as the runner does in every process, resumed or not
        try:
            method = build_method(spec, config, data, dims.get("K"), task=task, dims=dims)
        except Exception as exc:
            _fail(f"{who}: build raised {_line(exc)}")
        args = (config, torch.device("cpu"), seed, root / run, resume, Tracker(enabled=False))
        dist = {"rank": 0, "world_size": 1, "local_rank": 0}
        ctx = CrashingContext(*args, False, crash_after=crash_after or 0, **dist)
        try:
            method.fit(data, ctx)
        except SimulatedCrash:
            pass
        except Exception as exc:
            _fail(f"{who}: fit ({run}) raised {_line(exc)}")
        return method, ctx

    whole, whole_ctx = fit("whole")
    _, cut = fit("resumed", crash_after=1)
    if cut.crashed_at is None:
        _fail(f"{who}: fit wrote no checkpoint; train through kpbench.training.training_loop")
    resumed, ctx = fit("resumed", resume=True)
    if ctx.notes.get("resumed_from") is None:
        _fail(f"{who}: the resumed fit did not load the checkpoint (no resumed_from note)")
    expected, got = _state(whole), _state(resumed)
    for key, value in expected.items():
        other = got.get(key)
        if isinstance(value, torch.Tensor):
            same = isinstance(other, torch.Tensor) and torch.equal(value, other)
        else:
            same = value == other
        if not same:
            _fail(
                f"{who}: after a crash at {cut.crashed_at} and --resume, state {key!r} differs "
                "from the uninterrupted fit's; checkpoint every state the fit draws from"
            )
    if ctx.history != whole_ctx.history:
        _fail(
            f"{who}: the resumed fit logged {ctx.history}, the uninterrupted one "
            f"{whole_ctx.history}; keep running sums through Epoch.add"
        )
    return {"resumed_from": ctx.notes["resumed_from"], "epochs": len(ctx.history),
            "tensors": len(expected)}  # fmt: skip
