"""``behavior``: per-frame behaviour classification from keypoint sequences (CalMS21 style).

**Data model.** A sample is one sequence (a video's worth of frames): keypoints of A animals
``(T, A, K, 2)`` px, tracker scores, per-frame class labels and the class vocabulary read from
the data (never hard-coded), and the frame rate.

**Protocol.** The labelled sequences of the ``test`` split (at most ``max_sequences``) are the
inputs, keypoints only. The method predicts class scores ``(F, C)`` for every frame of every
input sequence, concatenated in input order (F = the sum of the sequence lengths, C = the
vocabulary's size; the predicted class is the argmax).

**Metrics** (:mod:`kpbench.metrics.behavior`, CalMS21's): ``macro_f1`` (argmax class) and
``macro_ap`` (each class's score, one against the rest), per frame, in %, averaged over the
classes except the one named "other"; a ``per_class`` breakdown by class name.

**Baselines.**

* ``majority``: the most frequent class of the training split in every frame.
* ``mlp``: a single-frame MLP (scikit-learn ``MLPClassifier``, one hidden layer of 64 ReLU
  units, Adam, 50 epochs, no early stopping, seeded by the run's seed), CalMS21's
  "single-frame MLP" in small. Features per frame: both (all A) animals' keypoints, x and y
  scaled to [0, 1] by the sequence's own extent (:func:`frame_features`; the CalMS21 baselines
  divide by the frame size 1024 × 570, which a ``behavior`` sample does not carry). It is fitted
  on at most :data:`MLP_MAX_TRAIN_FRAMES` labelled train-split frames, spread evenly over them
  (chosen in ``select``, the same for every run). Classes are not re-weighted: the CalMS21
  baselines train with the plain cross-entropy (mab-e ``train_task1.py`` calls
  ``trainer.train(epochs=...)`` with ``class_weight=None``). Scores are ``predict_proba``,
  0 for a class absent from the training frames. Without labelled train frames it is not
  formed (``mlp_from`` in the selection says why).
"""

from __future__ import annotations

import warnings
from typing import TypedDict

import numpy as np

from kpbench import hookimpl
from kpbench.evaluation import EvalSet
from kpbench.metrics import behavior as bm
from kpbench.schema import Field, Schema
from kpbench.specs import MetricSpec, TaskSpec
from kpbench.tasks.common import evenly

NAME = "behavior"
#: At most this many labelled train-split frames fit the ``mlp`` baseline (spread evenly).
MLP_MAX_TRAIN_FRAMES = 20000


class BehaviorSequence(TypedDict):
    """A ``behavior`` sample: one video's keypoints and per-frame labels.

    Attributes:
        name: sequence id.
        keypoints: ``(T, A, K, 2)`` float px, A animals.
        scores: ``(T, A, K)`` tracker confidences (NaN if the source has none).
        labels: ``(T,)`` int class index per frame, or None for unlabelled sequences.
        vocab: class name → index, read from the data (never hard-coded).
        fps: frames per second.
    """

    name: str
    keypoints: np.ndarray
    scores: np.ndarray
    labels: np.ndarray | None
    vocab: dict[str, int]
    fps: float


_NAME = Field("name", "str", doc="sequence id")
_KP = Field("keypoints", "f", ("T", "A", "K", 2), "px", "keypoints of A animals", nan=True)
_SCORES = Field("scores", "f", ("T", "A", "K"), "", "tracker confidences", nan=True)
_FPS = Field("fps", "float", unit="Hz", doc="frames per second")
SAMPLE = Schema(
    f"{NAME} sample",
    (
        _NAME,
        _KP,
        _SCORES,
        Field("labels", "i", ("T",), "", "class index per frame", optional=True),
        Field("vocab", "mapping", doc="class name -> index, from the data"),
        _FPS,
    ),
)
INPUTS = Schema(f"{NAME} input", (_NAME, _KP, _SCORES, _FPS))
PREDICTION = Schema(
    f"{NAME} prediction",
    (Field("scores", "f", ("F", "C"), "", "class scores per frame, all inputs concatenated"),),
)


def samples(data, split: str) -> list[BehaviorSequence]:
    return list(data.sequences(split))


def frame_features(keypoints) -> np.ndarray:
    """One feature row per frame: every animal's keypoints, scaled by the sequence's extent.

    ``(T, A, K, 2)`` px → ``(T, A·K·2)``: ``(x − x_min) / (x_max − x_min)`` and the same for y,
    with the minimum and maximum over all the sequence's finite keypoints (all frames and
    animals; a span of 0 counts as 1). A missing (NaN) keypoint becomes −1, outside [0, 1].
    """
    kp = np.asarray(keypoints, np.float64)
    flat = kp.reshape(-1, 2)
    finite = np.isfinite(flat).all(axis=1)
    if finite.any():
        lo, hi = flat[finite].min(axis=0), flat[finite].max(axis=0)
    else:
        lo, hi = np.zeros(2), np.ones(2)
    scaled = (kp - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.nan_to_num(scaled, nan=-1.0).reshape(len(kp), -1)


def _remapped(seq, vocab: dict[str, int]) -> np.ndarray:
    """A sequence's labels as indices of ``vocab`` (by class name); −1 where it has no such
    class or the frame is unlabelled."""
    labels = np.asarray(seq["labels"], np.int64)
    own = {int(i): n for n, i in dict(seq["vocab"]).items()}
    lut = np.array([vocab.get(own.get(i, ""), -1) for i in range(max(own, default=-1) + 1)])
    out = np.full(len(labels), -1, np.int64)
    ok = (labels >= 0) & (labels < len(lut))
    out[ok] = lut[labels[ok]]
    return out


def _mlp_train(train: list, vocab: dict[str, int], width: int) -> tuple[dict, dict]:
    """Features and labels of at most ``MLP_MAX_TRAIN_FRAMES`` labelled train frames, spread
    evenly (truth entries), and what the selection records about them."""
    feats, labels = [], []
    for s in train:
        y = _remapped(s, vocab)
        x = frame_features(s["keypoints"])
        if x.shape[1] != width:
            return {}, {"mlp_from": f"not formed: train sequence {s['name']!r} has {x.shape[1]} "
                        f"keypoint coordinates per frame, the test sequences {width}"}  # fmt: skip
        feats.append(x[y >= 0])
        labels.append(y[y >= 0])
    n = int(sum(len(y) for y in labels))
    if not n:
        return {}, {"mlp_from": "not formed: no labelled train-split frame"}
    keep = evenly(range(n), MLP_MAX_TRAIN_FRAMES)
    truth = {
        "mlp_features": np.concatenate(feats)[keep].astype(np.float32),
        "mlp_labels": np.concatenate(labels)[keep],
    }
    return truth, {"mlp_from": "train", "mlp_train_frames": len(keep)}


def select(data, options: dict) -> EvalSet:
    """Labelled test sequences; the training split's class counts (``majority``) and up to
    :data:`MLP_MAX_TRAIN_FRAMES` of its labelled frames as features (``mlp``).

    Train labels are matched to the test vocabulary by class name.
    """
    test = [s for s in data.sequences("test") if s["labels"] is not None]
    test = evenly(test, options["max_sequences"])
    if not test:
        return EvalSet([], unavailable="no labelled sequence in the test split")
    vocab = dict(test[0]["vocab"])
    counts = np.zeros(max(vocab.values()) + 1, np.int64)
    train = [s for s in data.sequences("train") if s["labels"] is not None]
    for s in train:
        y = _remapped(s, vocab)
        counts += np.bincount(y[y >= 0], minlength=len(counts))[: len(counts)]
    width = int(np.prod(np.shape(test[0]["keypoints"])[1:]))
    mlp, mlp_info = _mlp_train(train, vocab, width)
    lengths = [len(s["labels"]) for s in test]
    return EvalSet(
        inputs=[{k: s[k] for k in ("name", "keypoints", "scores", "fps")} for s in test],
        truth={
            "labels": np.concatenate([np.asarray(s["labels"]) for s in test]),
            "vocab": vocab,
            "lengths": lengths,
            "train_counts": counts,
            **mlp,
        },
        ids=[s["name"] for s in test],
        dims={
            "F": int(sum(lengths)),
            "C": len(counts),
            "A": int(np.shape(test[0]["keypoints"])[1]),  # animals and keypoints per frame, for
            "K": int(np.shape(test[0]["keypoints"])[2]),  # methods that size their input layer
        },
        info={"test_sequences": len(test), "test_frames": int(sum(lengths)), **mlp_info},
    )


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """Keys: ``labels`` (F,) int, ``scores`` (F, C), ``predicted`` (F,) argmax, ``vocab``,
    ``lengths`` (frames per sequence)."""
    scores = np.asarray(prediction["scores"], np.float64)
    t = evalset.truth
    return {
        "labels": t["labels"],
        "scores": scores,
        "predicted": scores.argmax(axis=1),
        "vocab": t["vocab"],
        "lengths": t["lengths"],
    }


def baseline_majority(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """One-hot scores of the training split's most frequent class (class 0 without training data)."""
    f, c = evalset.dims["F"], evalset.dims["C"]
    scores = np.zeros((f, c))
    scores[:, int(np.argmax(evalset.truth["train_counts"]))] = 1.0
    return {"scores": scores}


def baseline_mlp(evalset: EvalSet, prediction: dict, seed: int) -> dict | None:
    """A single-frame MLP fitted on the train frames chosen in ``select`` (module docs).

    Returns:
        ``{"scores": (F, C)}`` class probabilities (0 for classes the training frames lack), or
        None when the selection has no training frames for it.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    t = evalset.truth
    if "mlp_features" not in t:
        return None
    x = np.concatenate([frame_features(i["keypoints"]) for i in evalset.inputs])
    y = np.asarray(t["mlp_labels"], np.int64)
    scores = np.zeros((len(x), evalset.dims["C"]))
    classes = np.unique(y)
    if len(classes) == 1:  # a classifier needs two classes; one class is certain
        scores[:, classes[0]] = 1.0
        return {"scores": scores}
    clf = MLPClassifier(
        hidden_layer_sizes=(64,), max_iter=50, early_stopping=False, random_state=int(seed)
    )
    with warnings.catch_warnings():  # 50 epochs stop before the tolerance is met
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(np.asarray(t["mlp_features"], np.float64), y)
    scores[:, clf.classes_] = clf.predict_proba(x)
    return {"scores": scores}


def smoke(seed: int = 0) -> EvalSet:
    """Two short sequences of one animal whose speed decides the class (0 still, 1 moving),
    and two more as the ``mlp`` baseline's training frames."""
    rng = np.random.default_rng(seed)
    inputs, labels = [], []
    for i in range(4):
        moving = (np.arange(30) // 10) % 2
        steps = rng.normal(0, 1, (30, 1, 3, 2)) * (0.1 + 3 * moving[:, None, None, None])
        kp = 50 + np.cumsum(steps, axis=0)
        inputs.append(
            {"name": f"seq{i}", "keypoints": kp, "scores": np.ones((30, 1, 3)), "fps": 30.0}
        )
        labels.append(moving)
    truth = {
        "labels": np.concatenate(labels[:2]),
        "vocab": {"still": 0, "moving": 1},
        "lengths": [30, 30],
        "train_counts": np.array([40, 20]),
        "mlp_features": np.concatenate([frame_features(i["keypoints"]) for i in inputs[2:]]),
        "mlp_labels": np.concatenate(labels[2:]),
    }
    return EvalSet(inputs[:2], truth, ["seq0", "seq1"], {"F": 60, "C": 2, "A": 1, "K": 3})


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="per-frame behaviour classes from keypoint sequences",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="frame of a sequence",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={"majority": baseline_majority, "mlp": baseline_mlp},
            options={"max_sequences": None},
            presets={"smoke": {"max_sequences": 2}, "default": {"max_sequences": 20}, "paper": {}},
            smoke=smoke,
            protocol="every frame of up to {max_sequences} labelled test-split sequences",
        )
    ]


_PER_FRAME = "per frame, mean over the classes except 'other' (all classes without one), ×100"


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(
            name="macro_f1",
            task=NAME,
            fn=bm.macro_f1,
            unit="%",
            higher_is_better=True,
            description="macro F1 of the argmax class (scikit-learn f1_score per class), "
            + _PER_FRAME,
        ),
        MetricSpec(
            name="macro_ap",
            task=NAME,
            fn=bm.macro_ap,
            unit="%",
            higher_is_better=True,
            description="macro average precision, one class's score against the rest "
            "(scikit-learn average_precision_score; classes without a labelled frame left "
            "out), " + _PER_FRAME,
        ),
    ]
