"""``behavior``: per-frame behaviour classification from keypoint sequences (CalMS21 style).

**Data model.** A sample is one sequence (a video's worth of frames): keypoints of A animals
``(T, A, K, 2)`` px, tracker scores, per-frame class labels and the class vocabulary read from
the data (never hard-coded), and the frame rate.

**Protocol.** The labelled sequences of the ``test`` split (at most ``max_sequences``) are the
inputs, keypoints only. The method predicts class scores ``(F, C)`` for every frame of every
input sequence, concatenated in input order (F = the sum of the sequence lengths, C = the
vocabulary's size; the predicted class is the argmax).

**Baseline.** ``majority``: the most frequent class of the training split in every frame.
"""

from __future__ import annotations

from typing import TypedDict

import numpy as np

from kpbench import hookimpl
from kpbench.evaluation import EvalSet
from kpbench.schema import Field, Schema
from kpbench.specs import TaskSpec
from kpbench.tasks.common import evenly

NAME = "behavior"


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


def select(data, options: dict) -> EvalSet:
    """Labelled test sequences; the training split's class counts for the baseline."""
    test = [s for s in data.sequences("test") if s["labels"] is not None]
    test = evenly(test, options["max_sequences"])
    if not test:
        return EvalSet([], unavailable="no labelled sequence in the test split")
    vocab = dict(test[0]["vocab"])
    counts = np.zeros(max(vocab.values()) + 1, np.int64)
    for s in data.sequences("train"):
        if s["labels"] is not None:
            counts += np.bincount(np.asarray(s["labels"]), minlength=len(counts))[: len(counts)]
    lengths = [len(s["labels"]) for s in test]
    return EvalSet(
        inputs=[{k: s[k] for k in ("name", "keypoints", "scores", "fps")} for s in test],
        truth={
            "labels": np.concatenate([np.asarray(s["labels"]) for s in test]),
            "vocab": vocab,
            "lengths": lengths,
            "train_counts": counts,
        },
        ids=[s["name"] for s in test],
        dims={
            "F": int(sum(lengths)),
            "C": len(counts),
            "A": int(np.shape(test[0]["keypoints"])[1]),  # animals and keypoints per frame, for
            "K": int(np.shape(test[0]["keypoints"])[2]),  # methods that size their input layer
        },
        info={"test_sequences": len(test), "test_frames": int(sum(lengths))},
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


def smoke(seed: int = 0) -> EvalSet:
    """Two short sequences of one animal whose speed decides the class (0 still, 1 moving)."""
    rng = np.random.default_rng(seed)
    inputs, labels = [], []
    for i in range(2):
        moving = (np.arange(30) // 10) % 2
        steps = rng.normal(0, 1, (30, 1, 3, 2)) * (0.1 + 3 * moving[:, None, None, None])
        kp = 50 + np.cumsum(steps, axis=0)
        inputs.append(
            {"name": f"seq{i}", "keypoints": kp, "scores": np.ones((30, 1, 3)), "fps": 30.0}
        )
        labels.append(moving)
    truth = {
        "labels": np.concatenate(labels),
        "vocab": {"still": 0, "moving": 1},
        "lengths": [30, 30],
        "train_counts": np.array([40, 20]),
    }
    return EvalSet(inputs, truth, ["seq0", "seq1"], {"F": 60, "C": 2, "A": 1, "K": 3})


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
            baselines={"majority": baseline_majority},
            options={"max_sequences": None},
            presets={"smoke": {"max_sequences": 2}, "default": {"max_sequences": 20}, "paper": {}},
            smoke=smoke,
            protocol="every frame of up to {max_sequences} labelled test-split sequences",
        )
    ]
