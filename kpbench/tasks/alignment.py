"""``alignment``: per-frame embeddings that align videos of one action (TCC).

**Data model.** A sample is one sequence of one action. ``set`` names the action: sequences
are aligned only within a set (TCC's Pouring, or one Penn Action class). A sequence gives
its frames (RGB), its 2D keypoints (px), or both. Each frame carries a phase label (int,
e.g. Pouring's 5 phases) and a progress value in [0, 1] (how far the action is, e.g.
(t − t_start) / (t_end − t_start) between key events). A method gets the frames and/or
keypoints and fps, never the phases or progress. It returns one D-dimensional embedding per
frame, with D its own choice. It must not encode the frame's position: TCC warns that an
embedder that counts frames solves the task trivially.

**Protocol.** The inputs are up to ``max_sequences`` sequences of the ``test`` split (spread
evenly; all by default), then up to ``max_train_sequences`` sequences of the ``train`` split
(spread evenly over those of the sets tested), whole, each part in the dataset's order. The
method embeds them all; the prediction concatenates the frames of all the sequences in input
order. The truth's ``split`` says which sequence is which: only test sequences are scored;
the train sequences only fit the probes (the classifiers on frozen embeddings), as TCC fits
its classifiers on train videos and reports validation ones. Without train sequences (in the
dataset, or for one set) the probes are fitted leave one test sequence out; the selection's
``probe_fit`` says so. Scores are within each set, averaged over the sets
(:mod:`kpbench.metrics.alignment`, with the definitions):

``kendalls_tau`` and ``cycle_consistency`` (nearest-neighbour alignment of every ``stride``-th
frame, default 1; TCC's configs use 2 for Pouring, 5 for Penn Action: ``--set task.stride=2``),
``phase_accuracy@0.1/0.5/1.0`` (an RBF SVC fitted on 10/50/100 % of the train sequences),
``phase_progression`` (R²) and ``phase_agreement`` (nearest neighbours' phases agree, e.g.
gait phases of mocap walks).

The exporter ``alignment_plot`` draws ``alignment.png``: the nearest-neighbour path between
the first two test sequences of one set and four matched frame pairs.

**Baselines.**

* ``raw``: the pixels, when every input has frames. Each frame is converted to grey,
  downsampled to 8×8 (``cv2.INTER_AREA``) and flattened: D = 64, values 0–255. Otherwise
  ``raw`` uses the keypoints, centred on each frame's mean keypoint and flattened, NaN → 0:
  D = 2K px.
* ``untrained``: the same evaluation through an encoder left at its random initialisation
  (seeded by the run's seed; TCC's "random features" row). Frames: torchvision
  ``resnet18(weights=None)`` in eval mode, each frame resized to 112×112, ImageNet-normalised,
  globally average-pooled: D = 512. Keypoints only: the centred keypoints (as ``raw``) through
  a random MLP 2K → 128 → ReLU → 128 (PyTorch's default initialisation): D = 128.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from kpbench import hookimpl
from kpbench.errors import ConfigError
from kpbench.evaluation import EvalSet
from kpbench.metrics import alignment as am
from kpbench.schema import Field, Schema, SchemaError
from kpbench.specs import ExporterSpec, MetricSpec, TaskSpec
from kpbench.tasks.alignment_baselines import baseline_raw, baseline_untrained
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


def _evalset(test: list[dict], train: list[dict], info: dict) -> EvalSet:
    seqs = [*test, *train]
    lengths = np.array([_length(s) for s in seqs], np.int64)
    truth = {
        "phases": np.concatenate([np.asarray(s["phases"], np.int64) for s in seqs]),
        "progress": np.concatenate([np.asarray(s["progress"], np.float64) for s in seqs]),
        "lengths": lengths,
        "sets": np.array([s["set"] for s in seqs], dtype=str),
        "names": np.array([s["name"] for s in seqs], dtype=str),
        "split": np.array(["test"] * len(test) + ["train"] * len(train), dtype=str),
    }
    with_frames = sum(s.get("frames") is not None for s in seqs)
    return EvalSet(
        inputs=[{key: s.get(key) for key in INPUTS.field_names()} for s in seqs],
        truth=truth,
        ids=[
            f"{part}:{s['set']}/{s['name']} ({n} frames)"
            for s, n, part in zip(seqs, lengths, truth["split"])
        ],
        dims={"F": int(lengths.sum())},
        info={
            **info,
            "sequences": len(seqs),
            "scored_sequences": len(test),
            "probe_sequences": len(train),
            "probe_fit": "train-split sequences"
            if train
            else "leave one test sequence out (no train-split sequences)",
            "frames": int(lengths.sum()),
            "sets": sorted(set(truth["sets"][: len(test)].tolist())),
            "with_frames": with_frames,
            "with_keypoints": sum(s.get("keypoints") is not None for s in seqs),
        },
    )


def select(data, options: dict) -> EvalSet:
    """Whole ``test`` sequences (at most ``max_sequences``, spread evenly), then whole ``train``
    sequences of the sets tested (at most ``max_train_sequences``, spread evenly), each in
    dataset order; the train ones only fit the probes.

    Truth: ``phases`` (F,) int, ``progress`` (F,), ``lengths`` (S,), ``sets`` (S,), ``names``
    (S,), ``split`` (S,) ``"test"`` or ``"train"``.

    Raises:
        kpbench.schema.SchemaError: a sequence does not match :data:`SAMPLE`.
        kpbench.errors.ConfigError: ``stride`` is not a positive integer.
    """
    stride = options.get("stride", 1)
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ConfigError(f"--set task.stride={stride!r}: the stride must be an integer >= 1")
    test = samples(data, "test")
    chosen = evenly(test, options["max_sequences"])
    if not chosen:
        return EvalSet(
            [], info={"sequences": 0},
            unavailable=f"dataset {data.name!r} has no test-split alignment sequences: "
            "alignment metrics skipped",
        )  # fmt: skip
    sets = {s["set"] for s in chosen}
    train = [s for s in samples(data, "train") if s["set"] in sets]
    probes = evenly(train, options.get("max_train_sequences"))
    return _evalset(chosen, probes, {"test_sequences": len(test), "train_sequences": len(train)})


#: Longest side (px) of the thumbnails the evaluation record keeps for the alignment plot.
THUMBNAIL = 48


def _thumbnails(frames: np.ndarray) -> np.ndarray:
    import cv2

    h, w = frames.shape[1:3]
    scale = min(1.0, THUMBNAIL / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The alignment record: embeddings beside per-frame phases and progress.

    The record goes to the metrics and the exporters only (the run's JSON record holds the
    metric values; the prediction's arrays go to ``predictions.npz``), so its arrays cost no
    space on disk.

    Returns:
        ``embeddings`` (F, D) float64; ``phases`` (F,) int; ``progress`` (F,) in [0, 1];
        ``sequence`` (F,) int: index of each frame's sequence; ``frame`` (F,) int: the
        frame's index in its sequence; ``lengths`` (S,) int; ``sets`` (S,) str;
        ``names`` (S,) str; ``split`` (S,) str, ``"test"`` (scored) or ``"train"`` (fits the
        probes); ``stride`` int (option ``stride``); for the two sequences the plot aligns
        (:func:`kpbench.metrics.alignment.preview_pair`), ``thumbnails`` {sequence index:
        (T, h, w, 3) uint8, longest side ≤ :data:`THUMBNAIL`} when they have frames, and
        ``keypoints`` {sequence index: (T, K, 2) px} when they have keypoints.
    """
    t = evalset.truth
    lengths = t["lengths"]
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    record = {
        "embeddings": np.asarray(prediction["embeddings"], np.float64),
        "phases": t["phases"],
        "progress": t["progress"],
        "sequence": np.repeat(np.arange(len(lengths)), lengths),
        "frame": np.arange(int(lengths.sum())) - starts,
        "lengths": lengths,
        "sets": t["sets"],
        "names": t["names"],
        "split": t.get("split", np.full(len(lengths), "test")),
        "stride": int(options.get("stride", 1)),
        "thumbnails": {},
        "keypoints": {},
    }
    for s in am.preview_pair(record) or ():
        x = evalset.inputs[s]
        if x.get("frames") is not None:
            record["thumbnails"][s] = _thumbnails(np.asarray(x["frames"]))
        if x.get("keypoints") is not None:
            record["keypoints"][s] = np.asarray(x["keypoints"], np.float64)
    return record


def _dot_sequence(act: str, n: int, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames, keypoints and progress of a dot crossing a 16×16 frame (``left`` or ``down``)."""
    progress = np.linspace(0.0, 1.0, n)
    pos = np.clip(2 + 11 * progress + rng.normal(0, 0.3, n), 1.5, 13.5)
    xy = np.stack([pos, np.full(n, 8.0)] if act == "left" else [np.full(n, 8.0), pos], -1)
    frames = np.zeros((n, 16, 16, 3), np.uint8)
    for t, (x, y) in enumerate(np.round(xy).astype(int)):
        frames[t, y - 1 : y + 2, x - 1 : x + 2] = 255
    return frames, np.stack([xy, xy + [1.0, 1.0]], 1), progress


def smoke(seed: int = 0) -> EvalSet:
    """Four test and four train sequences (2 sets) of a dot crossing a 16×16 frame, 3 phases by
    progress."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list] = {"test": [], "train": []}
    lengths = [("left", 10), ("left", 14), ("down", 8), ("down", 12)]
    for split, shift in (("test", 0), ("train", 1)):
        for i, (act, n) in enumerate(lengths):
            frames, kp, progress = _dot_sequence(act, n + shift, rng)
            parts[split].append({
                "name": f"{split}_{act}{i}", "set": act, "frames": frames, "keypoints": kp,
                "fps": 30.0, "phases": np.minimum(progress * 3, 2).astype(np.int64),
                "progress": progress,
            })  # fmt: skip
    return _evalset(parts["test"], parts["train"], {"test_sequences": 4, "train_sequences": 4})


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
            baselines={"raw": baseline_raw, "untrained": baseline_untrained},
            options={"max_sequences": None, "max_train_sequences": None, "stride": 1},
            presets={
                "smoke": {"max_sequences": 6, "max_train_sequences": 6},
                "default": {"max_sequences": 40, "max_train_sequences": 40},
                "paper": {},
            },
            smoke=smoke,
            protocol=(
                "whole test-split sequences (up to {max_sequences}, spread evenly; None = all) "
                "scored, whole train-split sequences of their sets (up to "
                "{max_train_sequences}) fit the probes (else leave one test sequence out); "
                "every frame embedded; scored within each set on frame phases and progress "
                "(nearest-neighbour alignment at stride {stride}, classifiers fitted on the "
                "frozen embeddings)"
            ),
        )
    ]


_WITHIN = "over ordered pairs of test sequences of one set, mean over sets"
_PROBE = "fitted on the set's train sequences (else leave one test sequence out), mean over sets"
#: name, function, unit, description (all higher is better; definitions in the metrics module).
_METRICS = (
    ("kendalls_tau", am.kendalls_tau, "1", "Kendall's τ between frame index and nearest-"
     f"neighbour index (sqeuclidean, every stride-th frame), {_WITHIN}"),
    ("cycle_consistency", am.cycle_consistency, "%", "% of frames whose nearest neighbour's "
     f"nearest neighbour back is within one frame of it (two-way cycle), {_WITHIN}"),
    *(
        (f"phase_accuracy@{f}", partial(am.phase_accuracy, fraction=f), "%", "per-frame phase "
         f"accuracy on the test frames of an RBF SVC (ovo) on standardised embeddings, {_PROBE}, "
         f"using {f:.0%} of them (seeded)")
        for f in (0.1, 0.5, 1.0)
    ),
    ("phase_progression", am.phase_progression, "1", "R² on the test frames of a linear "
     f"regression from embedding to progress, {_PROBE}"),
    ("phase_agreement", am.phase_agreement, "%", "% of frames whose nearest neighbour "
     f"(sqeuclidean) has the same phase, {_WITHIN}"),
)  # fmt: skip


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(name=n, task=NAME, fn=fn, unit=u, higher_is_better=True, description=d)
        for n, fn, u, d in _METRICS
    ]


@hookimpl
def kpbench_exporters():
    return [
        ExporterSpec(
            name="alignment_plot",
            task=NAME,
            write=am.write_plot,
            description="alignment.png: the nearest-neighbour path between two test sequences "
            "of one set and four matched frame pairs",
        )
    ]
