"""The task check of the conformance suite (:func:`check_task`), re-exported by :mod:`kpbench.testing`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kpbench.testing_data import _fail, _line, _registry


def _evaluate(task, evalset, prediction, options, metrics, who: str) -> dict[str, float]:
    """Validate ``prediction``, build the evaluation record, score every metric (none may fail)."""
    from kpbench.evaluation import check_prediction, score

    try:
        check_prediction(task, prediction, evalset, who)
        record = task.evaluation(evalset, prediction, options)
    except Exception as exc:
        _fail(f"task {task.name}: {who}: {_line(exc)}")
    values = {}
    for name, entry in score(metrics, record).items():
        if entry["value"] is None:
            _fail(f"task {task.name}: metric {name} failed on the {who}: {entry.get('error')}")
        values[name] = entry["value"]
    return values


def check_task(
    spec, registry=None, perfect: Callable[[Any], dict] | None = None, seed: int = 0
) -> dict:
    """Check a task's declaration on its own ``smoke`` set, with no dataset and no method.

    The ``protocol`` text formats with every preset layer's options; the smoke inputs match ``inputs``; selecting is repeatable (same ids and hash from a
    second ``smoke(seed)``); every baseline (handed the perfect prediction, or None) gives a prediction that matches ``prediction`` and
    every metric registered for the task scores it; so does ``perfect(evalset)`` when given (a
    prediction made from the truth), and then each metric must score it at least as well as
    every baseline.

    Args:
        spec: the :class:`kpbench.specs.TaskSpec`.
        registry: where the task's metrics are looked up (default: the process registry).
        perfect: ``perfect(evalset) -> prediction`` from the smoke set's truth.
        seed: seed of the smoke set and of the baselines.

    Returns:
        ``{"inputs": n, "baselines": {name: {metric: value}}, "perfect": {metric: value}}``
        (``perfect`` only when given; a baseline that returns None is left out).
    """
    from kpbench.evaluation import task_options
    from kpbench.schema import SchemaError

    reg, who = _registry(registry), f"task {spec.name}"
    if spec.smoke is None:
        _fail(f"{who}: no smoke(seed) EvalSet, so the task and methods for it cannot be checked")
    for layer in ("smoke", "default", "paper"):  # TaskSpec itself refuses undeclared options
        try:
            spec.protocol.format(**task_options(spec, layer, {}))
        except (KeyError, IndexError, ValueError) as exc:
            _fail(f"{who}: protocol does not format with the {layer} options ({_line(exc)})")
    evalset, again = spec.smoke(seed), spec.smoke(seed)
    if not len(evalset.inputs):
        _fail(f"{who}: smoke({seed}) has no inputs")
    if evalset.ids != again.ids or evalset.hash != again.hash:
        _fail(f"{who}: smoke({seed}) differs between two calls ({evalset.hash} vs {again.hash})")
    for i, item in enumerate(evalset.inputs):
        try:
            spec.inputs.validate(item, f"{who} smoke input #{i}")
        except SchemaError as exc:
            _fail(str(exc))
    metrics = reg.metrics(spec.name)
    if not metrics:
        _fail(f"{who}: no metric is registered for it, so its runs would be refused")
    options = task_options(spec, "smoke", {})
    report: dict[str, Any] = {"inputs": len(evalset.inputs), "baselines": {}}
    ideal = perfect(evalset) if perfect is not None else None
    for name, baseline in spec.baselines.items():
        guess = baseline(evalset, ideal, seed)  # a baseline may read the prediction's form
        if guess is not None:
            report["baselines"][name] = _evaluate(
                spec, evalset, guess, options, metrics, f"baseline {name}"
            )
    if perfect is not None:
        best = _evaluate(spec, evalset, ideal, options, metrics, "perfect prediction")
        for name, values in report["baselines"].items():
            for m in metrics:
                worse = values[m.name] > best[m.name] if m.higher_is_better else (
                    values[m.name] < best[m.name])  # fmt: skip
                if worse:
                    _fail(
                        f"{who}: baseline {name} scores {m.name} = {values[m.name]:.6g}, better "
                        f"than the perfect prediction's {best[m.name]:.6g}"
                    )
        report["perfect"] = best
    return report
