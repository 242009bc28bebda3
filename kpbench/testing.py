"""The conformance suite: the checks every dataset, method and metric plugin must pass.

Plain functions, importable from any plugin's own tests (no pytest needed): each raises
``AssertionError`` with one clear line naming the plugin, the task and the field at fault,
and returns a small report (a dict, or a value) when all is well::

    from kpbench.testing import check_method
    def test_my_method(tmp_path):
        check_method(my_spec, "discovery2d", tmp_dir=tmp_path)

* :func:`check_dataset` / :func:`check_dataset_errors`: samples match the task's data model,
  building is deterministic, a missing folder or a corrupt file is one clear error.
* :func:`check_method`: valid predictions on the task's ``smoke`` set, a training step, a
  checkpoint that round-trips through ``torch.load(weights_only=True)``, FLOPs.
* :func:`check_resume`: a fit killed after its first (mid-epoch) checkpoint and resumed in a
  fresh method ends with the uninterrupted fit's state and history.
* :func:`check_reference`: parameter count and FLOPs equal ``MethodSpec.reference``.
* :func:`check_metric`: unit and direction declared, ideal value on a perfect prediction.
* :func:`check_task`: a task's presets, protocol, smoke inputs, baselines and metrics, with no
  dataset and no method.
"""

from __future__ import annotations

import io
import math
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from kpbench.testing_data import (
    SPLITS,
    _fail,
    _line,
    _registry,
    _task,
    _validate,
    check_dataset,
    check_dataset_errors,
    corrupt,
)
from kpbench.testing_metric import IDEAL, PERFECT, check_metric
from kpbench.testing_resume import check_resume  # noqa: F401 (part of the suite)
from kpbench.testing_task import check_task


# -- methods -------------------------------------------------------------------------------------
def _keypoint_stub(k: int | None):
    """What ``build_method`` reads the keypoint count from (a dataset with K names), or None."""
    return None if not k else SimpleNamespace(keypoint_names=[f"k{i}" for i in range(int(k))])


def _build(spec, config: dict, k: int | None, who: str, task=None, dims=None):
    from kpbench.runner import build_method

    try:
        return build_method(spec, config, _keypoint_stub(k), task=task, dims=dims)
    except Exception as exc:
        _fail(f"{who}: build raised {_line(exc)}")


def _call(who: str, what: str, fn: Callable, *args) -> Any:
    try:
        return fn(*args)
    except AssertionError:
        raise
    except Exception as exc:
        _fail(f"{who}: {what} raised {_line(exc)}")


def _compare_predictions(before: Mapping, after: Mapping, who: str) -> None:
    for key, value in before.items():
        if isinstance(value, np.ndarray):
            other = np.asarray(after.get(key))
            if other.shape != value.shape or not np.allclose(
                value, other, rtol=1e-5, atol=1e-6, equal_nan=True
            ):
                diff = np.nanmax(np.abs(value - other)) if other.shape == value.shape else "-"
                _fail(
                    f"{who}: prediction field {key!r} differs after the checkpoint round trip "
                    f"(max abs difference {diff}); load_state_dict must restore what state_dict saved"
                )


def check_method(
    spec,
    task: str,
    registry=None,
    preset: str = "smoke",
    tmp_dir: str | Path | None = None,
    seed: int = 0,
) -> dict:
    """Check a method on a task's in-memory ``smoke`` set, on CPU.

    Builds the method at ``preset`` (K from the smoke set's ``dims`` when it fixes one, else the
    method's own ``num_keypoints``), predicts on the smoke inputs with a real
    :class:`kpbench.context.Context`, validates the prediction against the task's schema and
    scores it with the task's metrics (a metric that cannot score a set this small is
    reported, not failed). A method that trains must be a ``TrainableMethod`` whose
    ``train_step(train_batch(2))`` returns a finite float. Its ``state_dict`` is saved with
    ``torch.save``, loaded with ``torch.load(weights_only=True)`` into a freshly built method
    (another seed), which must predict the same. Finally ``infer(example_batch(1))`` runs and
    :func:`kpbench.timing.inference_flops` is an int >= 0.

    Args:
        spec: the :class:`kpbench.specs.MethodSpec`.
        task: one of ``spec.tasks``; it must define ``smoke``.
        registry: where the task and its metrics are looked up (default: the process registry).
        preset: the method preset to build at.
        tmp_dir: folder for the context's ``run_dir`` (default: a new temporary folder).
        seed: seed of the smoke set, the build and the context.

    Returns:
        ``{"metrics": {name: {"value", "error"}}, "loss": float or None, "flops": int,
        "params": int}``; a metric's ``error`` says why it could not score the smoke set.
    """
    import torch

    from kpbench import timing
    from kpbench.config import resolve
    from kpbench.context import Context
    from kpbench.evaluation import score, task_options
    from kpbench.method import TrainableMethod
    from kpbench.runner import seed_everything
    from kpbench.tracking import Tracker

    reg, who = _registry(registry), f"method {spec.name}"
    if task not in spec.tasks:
        _fail(f"{who}: does not declare task {task!r} (tasks: {', '.join(spec.tasks)})")
    tspec = _task(reg, task, who)
    if tspec.smoke is None:
        _fail(f"task {task}: no smoke(seed) EvalSet, so methods for it cannot be checked")
    if preset not in spec.presets:
        _fail(f"{who}: no preset {preset!r} (presets: {', '.join(spec.presets) or 'none'})")
    config = resolve(spec, preset)[0]
    evalset = tspec.smoke(seed)
    k = evalset.dims.get("K")
    seed_everything(seed)
    method = _build(spec, config, k, who, task, evalset.dims)
    if method.model is not None:
        method.model.to("cpu")
    run_dir = Path(tmp_dir or tempfile.mkdtemp(prefix="kpbench-check-")) / spec.name / task
    ctx = Context(config, torch.device("cpu"), seed, run_dir, False, Tracker(enabled=False),
                  False, rank=0, world_size=1, local_rank=0)  # fmt: skip
    prediction = _call(
        who, f"predict on the {task} smoke inputs", method.predict, evalset.inputs, ctx
    )
    _validate(tspec, prediction, evalset, who)
    metrics: dict[str, dict] = {}
    if not evalset.unavailable:  # a metric may refuse a set this small: reported, not failed
        options = task_options(tspec, preset, {})
        record = _call(who, "the task's evaluation", tspec.evaluation, evalset, prediction, options)
        metrics = {n: {"value": e["value"], "error": e.get("error")}
                   for n, e in score(reg.metrics(task), record).items()}  # fmt: skip
    loss = None
    if spec.trains_for(task):
        if not isinstance(method, TrainableMethod):
            _fail(f"{who}: trains=True but {type(method).__name__} is not a TrainableMethod")
        batch = _call(who, "train_batch(2)", method.train_batch, 2)
        loss = _call(who, "train_step", method.train_step, batch)
        if isinstance(loss, bool) or not isinstance(loss, (int, float, np.floating)):
            _fail(f"{who}: train_step returned {type(loss).__name__}, expected a float loss")
        if not math.isfinite(float(loss)):
            _fail(f"{who}: train_step returned a non-finite loss {loss}")
        prediction = _call(who, "predict after train_step", method.predict, evalset.inputs, ctx)
    buffer = io.BytesIO()
    try:
        torch.save(method.state_dict(), buffer)
    except Exception as exc:
        _fail(
            f"{who}: torch.save(state_dict()) failed ({_line(exc)}); keep tensors and plain values"
        )
    buffer.seek(0)
    try:
        state = torch.load(buffer, map_location="cpu", weights_only=True)
    except Exception as exc:
        _fail(
            f"{who}: its state_dict cannot be loaded with torch.load(weights_only=True) "
            f"({_line(exc)}); keep only tensors and plain Python values in it"
        )
    seed_everything(seed + 1)  # a fresh model with other weights: loading must overwrite them
    fresh = _build(spec, config, k, who, task, evalset.dims)
    if fresh.model is not None:
        fresh.model.to("cpu")
    _call(who, "load_state_dict", fresh.load_state_dict, state)
    again = _call(who, "predict after load_state_dict", fresh.predict, evalset.inputs, ctx)
    _validate(tspec, again, evalset, f"{who} (reloaded)")
    _compare_predictions(prediction, again, who)
    _call(who, "infer(example_batch(1))", lambda: method.infer(method.example_batch(1)))
    flops = _call(who, "inference_flops", timing.inference_flops, method)
    if isinstance(flops, bool) or not isinstance(flops, int) or flops < 0:
        _fail(f"{who}: inference FLOPs {flops!r} is not an int >= 0")
    params = timing.count_params(method.model)
    return {"metrics": metrics, "loss": loss, "flops": flops, "params": params}


def _figures(spec, config: dict, k: int | None) -> tuple[int, int]:
    from kpbench import timing
    from kpbench.runner import build_method

    method = build_method(spec, config, _keypoint_stub(k))
    return timing.count_params(method.model), timing.inference_flops(method)


def _preimport(spec) -> None:
    """Import the package of ``spec.build`` (all its modules) outside the meta device.

    A module first imported under ``with torch.device("meta")`` would keep its module-level
    tensors (normalisation constants) on meta for the rest of the process.
    """
    import importlib
    import pkgutil

    package = (getattr(spec.build, "__module__", "") or "").rpartition(".")[0]
    if not package:
        return
    try:
        paths = importlib.import_module(package).__path__
        for info in pkgutil.walk_packages(paths, package + "."):
            importlib.import_module(info.name)
    except Exception:  # a module that cannot be imported alone: the build will say so
        pass


def _purge_meta_modules(before: set[str]) -> list[str]:
    """Forget modules imported under the meta device that hold meta tensors (re-imported later)."""
    import torch

    fresh = [n for n in list(sys.modules) if n not in before]
    poisoned = [
        n
        for n in fresh
        for v in list(getattr(sys.modules.get(n), "__dict__", {}).values())
        if isinstance(v, torch.Tensor) and v.is_meta
    ]
    if poisoned:
        for name in fresh:
            if not name.startswith(("torch", "numpy")):
                sys.modules.pop(name, None)
    return poisoned


def check_reference(spec, allow_missing: bool = False) -> dict | str:
    """Check a method's parameter count and inference FLOPs against ``spec.reference``.

    The model is built at ``spec.defaults`` plus ``reference["config"]``, with
    ``reference["num_keypoints"]`` keypoints, on the meta device (no memory, no weights; on
    CPU when building on meta fails).

    Args:
        spec: the :class:`kpbench.specs.MethodSpec`.
        allow_missing: return ``"not checked"`` for a method without any reference figures
            instead of failing.

    Returns:
        ``{"params", "flops", "device"}`` as counted.
    """
    import torch

    from kpbench.config import resolve

    ref, who = dict(spec.reference), f"method {spec.name}"
    if not ref and allow_missing:
        return "not checked"
    if "params" not in ref:
        _fail(
            f"{who}: no reference figures; add reference={{'params': N, 'flops': F, 'flops_input': "
            f"'...'}} to its MethodSpec (`kpbench info {spec.name}` prints both, at the defaults)"
        )
    config = resolve(spec, None, None, dict(ref.get("config", {})))[0]
    k = ref.get("num_keypoints")
    _preimport(spec)
    before = set(sys.modules)
    try:
        with torch.device("meta"):
            params, flops = _figures(spec, config, k)
        device = "meta"
    except Exception:
        _purge_meta_modules(before)
        params, flops = _call(who, "building at its defaults", _figures, spec, config, k)
        device = "cpu"
    _purge_meta_modules(before)
    if params != ref["params"]:
        _fail(
            f"{who}: {params:,} parameters at its defaults, reference says {ref['params']:,} "
            f"(off by {params - ref['params']:+,}); fix the model or MethodSpec.reference['params']"
        )
    if "flops" in ref and flops != ref["flops"]:
        _fail(
            f"{who}: {flops:,} inference FLOPs at its defaults, reference says {ref['flops']:,} "
            f"(off by {flops - ref['flops']:+,}); fix the model or MethodSpec.reference['flops']"
        )
    return {"params": params, "flops": flops, "device": device}


def smoke_pairs(registry) -> list[tuple[str, str]]:
    """Every ``(method, task)`` of a registry whose task has a ``smoke`` set, sorted."""
    tasks = registry.tasks()
    return sorted(
        (name, t)
        for name, entry in registry.methods().items()
        for t in entry.spec.tasks
        if t in tasks and tasks[t].spec.smoke is not None
    )


__all__: Sequence[str] = (
    "IDEAL",
    "SPLITS",
    "PERFECT",
    "check_dataset",
    "check_dataset_errors",
    "check_metric",
    "check_method",
    "check_reference",
    "check_task",
    "corrupt",
    "smoke_pairs",
)
