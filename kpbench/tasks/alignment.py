"""``alignment``: per-frame embeddings that align videos of one action (TCC).

**Data model.** A sample is one sequence of one action. ``set`` names the action: sequences
are aligned only within a set (TCC's Pouring, or one Penn Action class). A sequence gives
its frames (RGB), its 2D keypoints (px), or both. Each frame carries a phase label (int,
e.g. Pouring's 5 phases) and a progress value in [0, 1] (how far the action is, e.g.
(t − t_start) / (t_end − t_start) between key events). A method gets the frames and/or
keypoints and fps, never the phases or progress. It returns one D-dimensional embedding per
frame, with D its own choice. It must not encode the frame's position: TCC warns that an
embedder that counts frames solves the task trivially.

**Protocol.** Up to ``max_sequences`` sequences of the ``test`` split (spread evenly; all by
default), whole, in the dataset's order. The prediction concatenates the frames of all the
sequences in input order. The metrics come with the TCC plugin:

* Kendall's τ between frame index and nearest-neighbour index, over every ordered pair of
  sequences of one set;
* phase classification accuracy and phase-progression R² of classifiers fitted on the
  frozen embeddings;
* cycle consistency.

TCC fits its classifiers on train videos. This selection holds test sequences only, so the
metrics fit across test sequences (e.g. leave one sequence out).

**Baselines.** ``raw``: the pixels, when every input has frames. Each frame is converted to
grey, downsampled to 8×8 (``cv2.INTER_AREA``) and flattened: D = 64, values 0–255.
Otherwise ``raw`` uses the keypoints, centred on each frame's mean keypoint and flattened,
NaN → 0: D = 2K px.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kpbench import hookimpl
from kpbench.evaluation import EvalSet
from kpbench.schema import Field, Schema, SchemaError
from kpbench.specs import TaskSpec
from kpbench.tasks.common import evenly

NAME = "alignment"

_INPUT_FIELDS = (
    Field("name", "str", doc="the sequence's unique name"),
    Field("set", "str", doc="the action; sequences are aligned within one set"),
    Field("frames", "u8", ("T", "H", "W", 3), doc="RGB frames (this or keypoints, or both)",
          optional=True),
    Field("keypoints", "f", ("T", "K", 2), "px", "2D keypoints (x, y), NaN = unlabelled "
          "(this or frames, or both)", nan=True, optional=True),
    Field("fps", "float", unit="Hz", doc="frames per second"),
)  # fmt: skip
SAMPLE = Schema(
    f"{NAME} sample",
    (
        *_INPUT_FIELDS,
        Field("phases", "i", ("T",), doc="phase label of every frame"),
        Field("progress", "f", ("T",), "", "progress of the action in every frame",
              range=(0.0, 1.0)),
    ),
)  # fmt: skip
INPUTS = Schema(f"{NAME} input", _INPUT_FIELDS)
PREDICTION = Schema(
    f"{NAME} prediction",
    (
        Field("embeddings", "f", ("F", "D"), "",
              "one embedding per frame, the frames of every input sequence concatenated in "
              "input order (F = sum of T)"),
    ),
)  # fmt: skip

#: Ground-truth keys of a sample; never in an input.
TRUTH_KEYS = ("phases", "progress")


def _validated(seqs, split: str) -> list[dict]:
    """Check every sequence; frames or keypoints present; one K for all keypoints."""
    seqs, k = list(seqs), {}
    for i, s in enumerate(seqs):
        name = s.get("name") if isinstance(s, Mapping) else None
        src = f"{split} sequence {name!r}" if name else f"{split} sequence #{i}"
        bound = SAMPLE.validate(s, src, k)
        if s.get("frames") is None and s.get("keypoints") is None:
            raise SchemaError(
                f"{SAMPLE.name} from {src}: fields 'frames' and 'keypoints' are both missing; "
                "an alignment sequence needs frames (T, H, W, 3) or keypoints (T, K, 2)"
            )
        k = {"K": bound["K"]} if "K" in bound else k
    return seqs


def samples(data, split: str) -> list[dict]:
    """The sequences ``data.alignment_sequences(split)``, each checked against :data:`SAMPLE`.

    Raises:
        kpbench.schema.SchemaError: a sequence does not match, has neither frames nor
            keypoints, or its keypoint count differs from the others'.
    """
    return _validated(data.alignment_sequences(split), split)


def _length(s: Mapping) -> int:
    return len(s["phases"])


def _evalset(seqs: list[dict], info: dict) -> EvalSet:
    lengths = np.array([_length(s) for s in seqs], np.int64)
    truth = {
        "phases": np.concatenate([np.asarray(s["phases"], np.int64) for s in seqs]),
        "progress": np.concatenate([np.asarray(s["progress"], np.float64) for s in seqs]),
        "lengths": lengths,
        "sets": np.array([s["set"] for s in seqs], dtype=str),
        "names": np.array([s["name"] for s in seqs], dtype=str),
    }
    with_frames = sum(s.get("frames") is not None for s in seqs)
    return EvalSet(
        inputs=[{key: s.get(key) for key in INPUTS.field_names()} for s in seqs],
        truth=truth,
        ids=[f"{s['set']}/{s['name']} ({n} frames)" for s, n in zip(seqs, lengths)],
        dims={"F": int(lengths.sum())},
        info={
            **info,
            "sequences": len(seqs),
            "frames": int(lengths.sum()),
            "sets": sorted(set(truth["sets"].tolist())),
            "with_frames": with_frames,
            "with_keypoints": sum(s.get("keypoints") is not None for s in seqs),
        },
    )


def select(data, options: dict) -> EvalSet:
    """Whole ``test`` sequences (at most ``max_sequences``, spread evenly) in dataset order.

    Truth: ``phases`` (F,) int, ``progress`` (F,), ``lengths`` (S,), ``sets`` (S,), ``names`` (S,).

    Raises:
        kpbench.schema.SchemaError: a sequence does not match :data:`SAMPLE`.
    """
    test = samples(data, "test")
    chosen = evenly(test, options["max_sequences"])
    if not chosen:
        return EvalSet(
            [], info={"sequences": 0},
            unavailable=f"dataset {data.name!r} has no test-split alignment sequences: "
            "alignment metrics skipped",
        )  # fmt: skip
    return _evalset(chosen, {"test_sequences": len(test)})


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The alignment record: embeddings beside per-frame phases and progress.

    Returns:
        ``embeddings`` (F, D) float64; ``phases`` (F,) int; ``progress`` (F,) in [0, 1];
        ``sequence`` (F,) int: index of each frame's sequence; ``frame`` (F,) int: the
        frame's index in its sequence; ``lengths`` (S,) int; ``sets`` (S,) str;
        ``names`` (S,) str.
    """
    t = evalset.truth
    lengths = t["lengths"]
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return {
        "embeddings": np.asarray(prediction["embeddings"], np.float64),
        "phases": t["phases"],
        "progress": t["progress"],
        "sequence": np.repeat(np.arange(len(lengths)), lengths),
        "frame": np.arange(int(lengths.sum())) - starts,
        "lengths": lengths,
        "sets": t["sets"],
        "names": t["names"],
    }


def _pixels(frames: np.ndarray) -> np.ndarray:
    import cv2

    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in frames]
    small = [cv2.resize(g, (8, 8), interpolation=cv2.INTER_AREA) for g in grey]
    return np.stack(small).reshape(len(frames), 64).astype(np.float64)


def _centred(keypoints: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints, np.float64)
    labelled = ~np.isnan(kp).any(-1, keepdims=True)
    mean = np.nansum(kp, axis=1, keepdims=True) / np.maximum(labelled.sum(1, keepdims=True), 1)
    return np.nan_to_num(kp - mean, nan=0.0).reshape(len(kp), -1)


def baseline_raw(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """Grey 8×8 pixels per frame when every input has frames, else centred keypoints.

    Raises:
        ValueError: some inputs have frames only and others keypoints only.
    """
    inputs = list(evalset.inputs)
    if all(x.get("frames") is not None for x in inputs):
        parts = [_pixels(x["frames"]) for x in inputs]
    elif all(x.get("keypoints") is not None for x in inputs):
        parts = [_centred(x["keypoints"]) for x in inputs]
    else:
        raise ValueError(
            "baseline raw: the inputs mix sequences with frames only and keypoints only; "
            "it needs frames in every input or keypoints in every input"
        )
    return {"embeddings": np.concatenate(parts)}


def smoke(seed: int = 0) -> EvalSet:
    """Four sequences (2 sets) of a dot crossing a 16×16 frame, 3 phases by progress."""
    rng = np.random.default_rng(seed)
    seqs = []
    for i, (act, n) in enumerate([("left", 10), ("left", 14), ("down", 8), ("down", 12)]):
        progress = np.linspace(0.0, 1.0, n)
        pos = np.clip(2 + 11 * progress + rng.normal(0, 0.3, n), 1.5, 13.5)
        xy = np.stack([pos, np.full(n, 8.0)] if act == "left" else [np.full(n, 8.0), pos], -1)
        kp = np.stack([xy, xy + [1.0, 1.0]], 1)
        frames = np.zeros((n, 16, 16, 3), np.uint8)
        for t, (x, y) in enumerate(np.round(xy).astype(int)):
            frames[t, y - 1 : y + 2, x - 1 : x + 2] = 255
        seqs.append({
            "name": f"{act}{i}", "set": act, "frames": frames, "keypoints": kp, "fps": 30.0,
            "phases": np.minimum(progress * 3, 2).astype(np.int64), "progress": progress,
        })  # fmt: skip
    return _evalset(seqs, {"test_sequences": 4})


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="per-frame embeddings that align sequences of one action (phases)",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="frame of a sequence",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={"raw": baseline_raw},
            options={"max_sequences": None},
            presets={
                "smoke": {"max_sequences": 6},
                "default": {"max_sequences": 40},
                "paper": {},
            },
            smoke=smoke,
            protocol=(
                "whole test-split sequences (up to {max_sequences}, spread evenly; None = all), "
                "every frame embedded; scored within each set on frame phases and progress "
                "(nearest-neighbour alignment, classifiers fitted on the frozen embeddings)"
            ),
        )
    ]
