"""Evaluation owned by the task: select inputs → method predicts → validate → score → baselines.

The task picks the evaluation inputs from the dataset's splits (:class:`EvalSet`), the same for
every method, and records a hash of their identities; the method sees the inputs only, never the
ground truth; its prediction is checked against the task's prediction schema; every metric
registered for the task scores it, and the task's trivial baselines are scored by the same code.
One metric's failure is that metric's error; the others still score.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kpbench.errors import KpbenchError
from kpbench.schema import SchemaError


@dataclass
class EvalSet:
    """What a task's protocol selected for evaluation.

    Attributes:
        inputs: what the method's ``predict`` gets, one entry per input, each of the task's
            ``inputs`` schema (no ground truth).
        truth: the ground truth the task keeps for scoring (never shown to the method).
        ids: one stable identity per input (``"clip.mp4#12"``); their hash goes into the
            record, so two runs can be checked to have been scored on the same inputs.
        dims: sizes the prediction must have (``{"N": 40}``), checked by the schema.
        info: JSON-able facts about the selection (counts per split, what was left out).
        unavailable: why no metric can be computed (e.g. no labelled frame in a split);
            the run then finishes without metrics and the reason is recorded and printed.
    """

    inputs: Sequence[Any]
    truth: Any = None
    ids: list[str] = field(default_factory=list)
    dims: dict[str, int] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None

    @property
    def hash(self) -> str:
        """First 12 hex digits of the sha256 of the input identities, in order."""
        return hashlib.sha256("\n".join(self.ids).encode()).hexdigest()[:12]


class PredictionError(KpbenchError):
    """A method's (or baseline's) prediction does not match the task's prediction schema."""


def task_options(task, preset: str | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A task's protocol options: its defaults < its preset layer < ``task.KEY`` overrides.

    Raises:
        kpbench.errors.ConfigError: an option the task does not declare.
    """
    from kpbench.errors import ConfigError

    options = dict(task.options)
    options.update(task.presets.get(preset or "", {}))
    for key, value in overrides.items():
        if key not in options:
            known = ", ".join(sorted(options)) or "none"
            raise ConfigError(
                f"--set task.{key}: task {task.name} has no option {key!r}; options: {known}"
            )
        options[key] = value
    return options


def check_prediction(task, prediction: Any, evalset: EvalSet, who: str) -> None:
    """Validate a prediction against the task's schema and the selection's sizes.

    Raises:
        PredictionError: one line naming ``who`` (``"method bkind"``) and the field.
    """
    try:
        task.prediction.validate(prediction, source=who, dims=evalset.dims)
    except SchemaError as exc:
        raise PredictionError(str(exc)) from None


def score(metric_specs, evaluation: Any) -> dict[str, dict]:
    """Apply every metric to an evaluation record; one failure does not stop the others.

    Returns:
        ``name -> {"value", "unit", "higher_is_better"}`` plus ``"breakdown"`` when the metric
        returned one, or ``"value": None`` and ``"error"`` when it raised.
    """
    out: dict[str, dict] = {}
    for m in metric_specs:
        entry: dict[str, Any] = {"unit": m.unit, "higher_is_better": m.higher_is_better}
        try:
            result = m.fn(evaluation)
            value, breakdown = result if isinstance(result, tuple) else (result, None)
            entry["value"] = float(value)
            if breakdown:
                entry["breakdown"] = {
                    str(name): {str(k): float(v) for k, v in part.items()}
                    for name, part in breakdown.items()
                }
        except Exception as exc:  # one metric's failure is recorded, the others still score
            entry["value"] = None
            entry["error"] = f"{type(exc).__name__}: {exc}"
            entry["traceback"] = traceback.format_exc(limit=3)
        out[m.name] = {"value": entry.pop("value"), **entry}
    return out


def save_predictions(run_dir, evalset: EvalSet, prediction: dict):
    """Write the prediction's arrays and the input ids to ``run_dir/predictions.npz`` (atomically).

    The file lets a run be re-scored (another protocol option, a new metric) without
    predicting again: ``ids`` (the inputs, in order) and one array per prediction field.
    """
    import os
    from pathlib import Path

    import numpy as np

    path = Path(run_dir) / "predictions.npz"
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in prediction.items() if isinstance(v, np.ndarray)}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, ids=np.asarray(evalset.ids, dtype=str), **arrays)
    os.replace(tmp, path)
    return path


def _write_artifacts(
    evalset: EvalSet, prediction: dict, scored: dict | None, exporters, ctx
) -> None:
    """``predictions.npz`` always; plus every exporter of the task (``kpbench_exporters``) when
    the inputs have truth. A file an exporter names ``predictions`` takes that artifact key (the
    npz becomes ``prediction_arrays``); an exporter that fails is noted by name
    (``notes.export_errors``) and the others still write."""
    arrays = save_predictions(ctx.run_dir, evalset, prediction)
    extra: dict = {}
    errors: dict[str, str] = {}
    for entry in exporters if scored is not None else ():
        spec, plugin = entry.spec, entry.plugin
        try:
            files = dict(spec.write(scored, ctx.run_dir))
        except Exception as exc:
            errors[spec.name] = f"plugin {plugin.name}: {type(exc).__name__}: {exc}"
            continue
        for key, path in files.items():
            extra[key if key not in extra else f"{spec.name}:{key}"] = path
    ctx.add_artifact("prediction_arrays" if "predictions" in extra else "predictions", arrays)
    for key, path in extra.items():
        ctx.add_artifact(key, path)
    if errors:
        ctx.note("export_errors", errors)


def evaluate(
    task, evalset: EvalSet, method, options: dict, metric_specs, ctx, seed: int, exporters=()
) -> dict:
    """Score one method on the inputs ``task.select`` chose; return the record's evaluation parts.

    Args:
        task: the :class:`kpbench.specs.TaskSpec`.
        evalset: what ``task.select(data, options)`` returned (selected before training).
        method: the :class:`kpbench.method.Method`; it gets ``evalset.inputs`` only.
        options: the task's resolved options.
        metric_specs: the metrics registered for the task.
        ctx: the run context handed to ``predict``.
        seed: the run's seed (random baselines).
        exporters: the registry's entries of ``kpbench_exporters`` for the task (files written
            beside the record; see :func:`_write_artifacts`).

    Returns:
        ``{"evaluation": {...}, "metrics": {...}, "baselines": {...}}`` where ``evaluation``
        holds ``inputs_hash``, ``inputs`` (count), ``unit``, ``options``, ``protocol``,
        ``selection`` (the task's facts) and ``unavailable`` (a reason, or None).
    """
    record = {
        "evaluation": {
            "task": task.name,
            "inputs": len(evalset.inputs),
            "inputs_hash": evalset.hash,
            "unit": task.unit,
            "options": dict(options),
            "protocol": task.protocol.format(**options),
            "selection": evalset.info,
            "unavailable": evalset.unavailable,
        },
        "metrics": {},
        "baselines": {},
    }
    if not len(evalset.inputs):
        record["evaluation"]["unavailable"] = evalset.unavailable or "no evaluation inputs"
        return record
    prediction = method.predict(evalset.inputs, ctx)
    check_prediction(task, prediction, evalset, f"method {getattr(method, 'name', '')}".strip())
    scored = None if evalset.unavailable else task.evaluation(evalset, prediction, options)
    if getattr(ctx, "is_main", True) and getattr(ctx, "run_dir", None) is not None:
        _write_artifacts(evalset, prediction, scored, exporters, ctx)
    if scored is None:
        return record
    record["metrics"] = score(metric_specs, scored)
    for name, baseline in task.baselines.items():
        guess = baseline(evalset, prediction, seed)
        if guess is None:  # the baseline cannot be formed from this data (said in selection)
            continue
        check_prediction(task, guess, evalset, f"baseline {name}")
        scored = score(metric_specs, task.evaluation(evalset, guess, options))
        record["baselines"][name] = {k: v["value"] for k, v in scored.items()}
    return record
