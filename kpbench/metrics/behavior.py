"""``behavior`` metrics: per-frame macro F1 and macro average precision, CalMS21's.

Every metric is a pure function of the ``behavior`` evaluation record (its keys are documented
in :func:`kpbench.tasks.behavior.evaluation`): ``labels`` (F,) int, ``scores`` (F, C),
``predicted`` (F,) the argmax of the scores, ``vocab`` (class name → index).

The definitions are the CalMS21 baselines' (neuroethology mab-e, ``trainers/mab_e_trainer.py``;
``shared/research/methods-2d.md`` §3.5), per frame, with scikit-learn:

* **Classes scored.** The macro mean runs over every class **except the one named "other"**
  (looked up in ``vocab`` by name; its index differs between CalMS21 tasks). Without a class
  named "other" every class is averaged. The per-class breakdown (``per_class``, keyed by class
  name) still lists "other".
* **Classes without frames.** A class's AP needs a positive frame: a class absent from the
  labels has AP NaN in the breakdown and is left out of the mean. F1 = 2TP / (2TP + FP + FN) is
  0 for a class only predicted (all its predictions are false positives) and NaN (left out)
  for a class neither labelled nor predicted.
* **Unit.** Values are % (the fractions ×100, as kpbench's other % metrics), so CalMS21's
  Task-1 1D-conv baseline reads 79.3 (macro F1) and 85.6 (macro AP).
* Frames with a negative label (unlabelled) are left out.
"""

from __future__ import annotations

import numpy as np

BehaviorEvaluation = dict  # the record's form is documented in kpbench.tasks.behavior
#: Name of the background class left out of the macro means (CalMS21's).
OTHER = "other"


def class_names(vocab, c: int) -> list[str]:
    """Name of each class index ``0..c-1`` from ``vocab`` (``class_<i>`` where it has none)."""
    names = {int(i): str(n) for n, i in dict(vocab or {}).items()}
    return [names.get(i, f"class_{i}") for i in range(c)]


def scored_classes(names: list[str]) -> list[int]:
    """Indices the macro mean runs over: all but the class named "other" (all without one)."""
    return (
        [i for i, n in enumerate(names) if n != OTHER]
        if OTHER in names
        else list(range(len(names)))
    )


def _arrays(ev: BehaviorEvaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Labelled frames' ``labels``, ``predicted`` and ``scores``, and the class names."""
    scores = np.asarray(ev["scores"], np.float64)
    labels = np.asarray(ev["labels"], np.int64).reshape(-1)
    predicted = np.asarray(ev["predicted"], np.int64).reshape(-1)
    if scores.ndim != 2 or not (len(scores) == len(labels) == len(predicted)):
        raise ValueError(
            f"behavior evaluation: scores {scores.shape}, labels {labels.shape} and predicted "
            f"{predicted.shape} must be (F, C), (F,), (F,)"
        )
    c = scores.shape[1]
    if (labels >= c).any():
        raise ValueError(f"behavior evaluation: a label >= C={c}, the number of score columns")
    keep = labels >= 0
    if not keep.any():
        raise ValueError("behavior evaluation: no labelled frame to score")
    return labels[keep], predicted[keep], scores[keep], class_names(ev.get("vocab"), c)


def _macro(per_class: np.ndarray, names: list[str]) -> tuple[float, dict]:
    values = per_class[scored_classes(names)]
    if np.isnan(values).all():
        raise ValueError("behavior evaluation: no scored class occurs in the labels")
    return float(np.nanmean(values)), {"per_class": {n: float(v) for n, v in zip(names, per_class)}}


def macro_f1(ev: BehaviorEvaluation) -> tuple[float, dict]:
    """Macro F1 of the argmax class per frame, %, without the "other" class.

    Per class ``F1 = 2TP / (2TP + FP + FN)`` over frames (scikit-learn ``f1_score``,
    ``average=None``, every vocabulary class listed, ``zero_division=nan``), ×100; the mean
    over the classes scored (module docs). Higher is better.

    Returns:
        ``(macro F1 %, {"per_class": {class name: F1 %}})``.
    """
    from sklearn.metrics import f1_score

    labels, predicted, scores, names = _arrays(ev)
    f1 = f1_score(
        labels, predicted, labels=np.arange(len(names)), average=None, zero_division=np.nan
    )
    return _macro(np.asarray(f1, np.float64) * 100.0, names)


def macro_ap(ev: BehaviorEvaluation) -> tuple[float, dict]:
    """Macro average precision (mAP), %, one class against the rest, without "other".

    Per class: scikit-learn ``average_precision_score(labels == class, scores[:, class])``
    (the step-wise area under the precision-recall curve of that class's score), ×100; NaN for
    a class without a labelled frame. The mean over the classes scored (module docs). Higher is
    better.

    Returns:
        ``(macro AP %, {"per_class": {class name: AP %}})``.

    Notes:
        CalMS21's numbers take AP from the softmax probabilities (methods-2d.md §3.5); one
        version of the mab-e trainer computes it from the hard argmax, which is not AP of a
        ranking and is not what is done here.
    """
    from sklearn.metrics import average_precision_score

    labels, _, scores, names = _arrays(ev)
    ap = np.full(len(names), np.nan)
    for c in range(len(names)):
        positive = labels == c
        if positive.any():
            ap[c] = average_precision_score(positive, scores[:, c]) * 100.0
    return _macro(ap, names)
