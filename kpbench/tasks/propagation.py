"""``propagation``: carry the first frame's keypoints through a video (JHMDB protocol).

**Data model.** A sample is a video segment labelled in every frame (JHMDB style). Its
frame ``i`` is ``frames.read(start + i)`` for ``0 <= i < T``, where ``frames`` is anything
with the :class:`kpbench.video.Frames` interface. It carries keypoints (T, K, 2) in px (NaN =
unlabelled) and a per-frame visibility (T, K); JHMDB counts a joint as visible when it lies
inside the image. A method gets the video, the first frame's keypoints and visibility, the
number of frames T, the image size and the task's propagation settings (``protocol``, a dict of
:class:`kpbench.propagation.propagator.PropagationSettings`). It predicts the keypoints in every frame ``0..T-1``,
frame 0 included (normally a copy of the given keypoints). Predictions have no NaN.

**Protocol.** Up to ``max_videos`` videos of the ``test`` split (spread evenly; all by
default: JHMDB split 1 has 268), in the dataset's order, whole or their first ``max_frames``
frames (None, whole, by default and in ``paper``; 60 in ``default``, so long behaviour videos
propagate at a CPU's pace: JHMDB clips are 15 to 40 frames). The prediction concatenates
the frames of all the videos in input order. Every method propagates through the one
propagator (:mod:`kpbench.propagation`) with the settings the task's options give
(``context``, ``radius``, ``topk``, ``temperature``, ``sigma``, ``readout_topk``, ``chunk``,
``size``; defaults and why in ``docs/propagation.md``), so methods differ only in their
encoder. PCK@α (α = 0.1, 0.2) counts a visible ground-truth keypoint as correct when its error is at
most α × 0.6 × the diagonal of the box around that frame's visible ground-truth keypoints.
The record carries 0.6 × that diagonal as ``normaliser``. This is CRW/UVC's ``eval_pck``
normaliser, not the supervised-pose PCK one. Frame 0 is not scored. PCK is averaged per
joint, then over joints, and is also reported per frame index
(:mod:`kpbench.metrics.propagation`: ``pck@0.1``, ``pck@0.2``; the exporter ``pck_plot``
draws ``pck_over_time.png``).

**Baselines** (:mod:`kpbench.tasks.propagation_baselines`).

* ``held_still`` repeats the first frame's keypoints in every frame. Keypoints unlabelled in
  the first frame become (0, 0), so the prediction has no NaN. Such keypoints are scored as
  errors wherever they are visible later.
* ``random_encoder``: :func:`~kpbench.propagation.encoders.resnet18_stride8` at PyTorch's
  random initialisation (seeded by the run's seed) through the propagator with the task's
  settings (on CUDA when available, else the CPU).
* ``imagenet_encoder``: the same network with torchvision's ImageNet weights
  (``resnet18-f37072fd.pth`` from the option ``imagenet_weights``, ``$KPBENCH_WEIGHTS`` or the
  torch hub cache's ``checkpoints``; never downloaded). Without the file it is not scored and
  the selection's ``imagenet_encoder_skipped`` says why.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from functools import partial

import numpy as np

from kpbench import hookimpl
from kpbench.errors import ConfigError
from kpbench.evaluation import EvalSet
from kpbench.metrics import propagation as pm
from kpbench.propagation.propagator import SETTINGS, PropagationSettings, settings_from
from kpbench.schema import Field, Schema, SchemaError
from kpbench.specs import ExporterSpec, MetricSpec, TaskSpec
from kpbench.tasks.common import evenly
from kpbench.tasks.propagation_baselines import (
    baseline_held_still,
    baseline_imagenet_encoder,
    baseline_random_encoder,
    imagenet_choice,
)

NAME = "propagation"

_NAME = Field("name", "str", doc="the video segment's unique name, e.g. 'clip[3:40]'")
_FRAMES = Field("frames", "any", doc="the video: kpbench.video.Frames (read(i), num_frames, "
                "width, height)")  # fmt: skip
_START = Field("start", "int", unit="frames", doc="index in frames of the segment's frame 0")
SAMPLE = Schema(
    f"{NAME} sample",
    (
        _NAME,
        _FRAMES,
        _START,
        Field("keypoints", "f", ("T", "K", 2), "px", "keypoints (x, y) in every frame, "
              "NaN = unlabelled", nan=True),
        Field("visibility", "b", ("T", "K"), doc="keypoint visible in the frame"),
        Field("fps", "float", unit="Hz", doc="frames per second"),
    ),
)  # fmt: skip
INPUTS = Schema(
    f"{NAME} input",
    (
        _NAME,
        _FRAMES,
        _START,
        Field("first_keypoints", "f", ("K", 2), "px", "keypoints in frame 0, NaN = unlabelled",
              nan=True),
        Field("first_visibility", "b", ("K",), doc="visibility in frame 0"),
        Field("num_frames", "int", unit="frames", doc="T: frames to predict, frame 0 included"),
        Field("image_size", "any", doc="(W, H) px of the frames"),
        Field("protocol", "mapping", doc="the propagation settings every method uses "
              "(PropagationSettings fields: context, radius, topk, temperature, sigma, "
              "readout_topk, chunk, size)"),
    ),
)  # fmt: skip
PREDICTION = Schema(
    f"{NAME} prediction",
    (
        Field("keypoints", "f", ("F", "K", 2), "px",
              "keypoints in every frame 0..T-1 of every input video, concatenated in input "
              "order (F = sum of T)"),
    ),
)  # fmt: skip

#: Ground-truth keys of a sample; never in an input.
TRUTH_KEYS = ("keypoints", "visibility")


def _validated(videos, split: str) -> list[dict]:
    """Check every video: schema, frame range, a labelled frame 0, one K for all."""
    videos, k = list(videos), {}
    for i, s in enumerate(videos):
        name = s.get("name") if isinstance(s, Mapping) else None
        src = f"{split} video " + (repr(name) if name else f"#{i}")
        k, where = {"K": SAMPLE.validate(s, src, k)["K"]}, f"{SAMPLE.name} from {src}"
        frames, start, t = s["frames"], int(s["start"]), len(s["keypoints"])
        lacks = [a for a in ("read", "num_frames", "width", "height") if not hasattr(frames, a)]
        if lacks:
            raise SchemaError(f"{where}: field 'frames' lacks {lacks} (kpbench.video.Frames)")
        if start < 0 or start + t > frames.num_frames:
            raise SchemaError(
                f"{where}: field 'start' is {start}; with {t} labelled frames the segment "
                f"runs past the video's {frames.num_frames} frames"
            )
        if not t or np.isnan(s["keypoints"][0]).any(-1).all():
            raise SchemaError(
                f"{where}: field 'keypoints' has no labelled keypoint in frame 0 "
                "(propagation starts from it)"
            )
    return videos


def samples(data, split: str) -> list[dict]:
    """The videos ``data.propagation_videos(split)``, each checked against :data:`SAMPLE`.

    Raises:
        kpbench.schema.SchemaError: a video does not match, its segment runs past the
            video's end, its frame 0 is unlabelled, or its K differs from the others'.
    """
    return _validated(data.propagation_videos(split), split)


def normaliser(keypoints: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """JHMDB's PCK normaliser: 0.6 × the diagonal of the visible keypoints' box, per frame.

    Args:
        keypoints: (F, K, 2) px, NaN = unlabelled.
        visible: (F, K) bool: visible and labelled.

    Returns:
        (F,) px; NaN where the frame has no visible keypoint or the box has no extent.
    """
    kp = np.where(visible[..., None], keypoints, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # frames with no visible keypoint: NaN
        diag = np.hypot(*(np.nanmax(kp, 1) - np.nanmin(kp, 1)).T)
        return np.where(diag > 0, 0.6 * diag, np.nan)


def _as_input(s: Mapping, protocol: dict) -> dict:
    kp = np.asarray(s["keypoints"], np.float64)
    return {
        "name": s["name"],
        "frames": s["frames"],
        "start": int(s["start"]),
        "first_keypoints": kp[0].copy(),
        "first_visibility": np.asarray(s["visibility"][0], bool).copy(),
        "num_frames": len(kp),
        "image_size": (int(s["frames"].width), int(s["frames"].height)),
        "protocol": dict(protocol),
    }


def protocol_of(options: Mapping) -> dict:
    """The propagation settings from the task's options (checked: one line per bad value).

    Raises:
        kpbench.errors.ConfigError: a setting out of range.
    """
    return settings_from({k: options[k] for k in SETTINGS if k in options}).as_dict()


def _keypoint_names(data, k: int) -> list[str]:
    names = list(getattr(data, "keypoint_names", None) or [])
    return names if len(names) == k else []


def _evalset(videos: list[dict], info: dict, protocol: dict, names=()) -> EvalSet:
    lengths = np.array([len(s["keypoints"]) for s in videos], np.int64)
    kp = np.concatenate([np.asarray(s["keypoints"], np.float64) for s in videos])
    vis = np.concatenate([np.asarray(s["visibility"], bool) for s in videos])
    truth = {
        "keypoints": kp,
        "visibility": vis,
        "lengths": lengths,
        "normaliser": normaliser(kp, vis & ~np.isnan(kp).any(-1)),
        "image_size": np.array([(s["frames"].width, s["frames"].height) for s in videos]),
        "keypoint_names": list(names),
    }
    return EvalSet(
        inputs=[_as_input(s, protocol) for s in videos],
        truth=truth,
        ids=[f"{s['name']} ({n} frames)" for s, n in zip(videos, lengths)],
        dims={"F": int(lengths.sum()), "K": int(kp.shape[1])},
        info={**info, "videos": len(videos), "frames": int(lengths.sum())},
    )


def _cut(video: dict, max_frames) -> dict:
    """The video's first ``max_frames`` frames (all when None): long clips at a CPU's pace."""
    if max_frames is None:
        return video
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 2:
        raise ConfigError(
            f"task.max_frames={max_frames!r}: give a whole number >= 2 (frames per video, "
            "frame 0 included) or none"
        )
    if len(video["keypoints"]) <= max_frames:
        return video
    n = max_frames
    return {
        **video,
        "name": f"{video['name']}[:{n}]",
        "keypoints": np.asarray(video["keypoints"])[:n],
        "visibility": np.asarray(video["visibility"])[:n],
    }


def select(data, options: dict) -> EvalSet:
    """Whole ``test`` videos (at most ``max_videos``, spread evenly) in dataset order.

    Truth: ``keypoints`` (F, K, 2) px, ``visibility`` (F, K), ``lengths`` (S,),
    ``normaliser`` (F,) px, ``image_size`` (S, 2) px, ``keypoint_names`` (K names, or empty).
    Each input's ``protocol`` is the settings in ``options``; the selection info says where
    the ImageNet weights of the ``imagenet_encoder`` baseline are (or why it is skipped).

    Raises:
        kpbench.schema.SchemaError: a video does not match :data:`SAMPLE`.
        kpbench.errors.ConfigError: a propagation setting is out of range, or
            ``imagenet_weights`` names a missing file.
    """
    protocol = protocol_of(options)
    weights = imagenet_choice(options.get("imagenet_weights"))
    test = samples(data, "test")
    chosen = [_cut(s, options.get("max_frames")) for s in evenly(test, options["max_videos"])]
    if not chosen:
        return EvalSet(
            [], info={"videos": 0},
            unavailable=f"dataset {data.name!r} has no test-split video labelled in its first "
            "frame: propagation metrics skipped",
        )  # fmt: skip
    k = np.shape(chosen[0]["keypoints"])[1]
    info = {"test_videos": len(test), **weights}
    return _evalset(chosen, info, protocol, _keypoint_names(data, k))


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The propagation record: predicted and true keypoints, frame by frame.

    Returns:
        ``predicted`` (F, K, 2) px; ``target`` (F, K, 2) px, NaN = unlabelled; ``visible``
        (F, K) bool: visible and labelled (the keypoints PCK scores); ``normaliser`` (F,) px:
        0.6 × the diagonal of the visible keypoints' box, NaN where none (PCK@α divides
        errors by α × this); ``frame`` (F,) int: index in its video (frame 0 is given, not
        scored); ``video`` (F,) int: index of the input video; ``lengths`` (S,) int;
        ``image_size`` (S, 2) px; ``keypoint_names`` (K names, or empty).
    """
    t = evalset.truth
    lengths = t["lengths"]
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return {
        "predicted": np.asarray(prediction["keypoints"], np.float64),
        "target": t["keypoints"],
        "visible": t["visibility"] & ~np.isnan(t["keypoints"]).any(-1),
        "normaliser": t["normaliser"],
        "frame": np.arange(int(lengths.sum())) - starts,
        "video": np.repeat(np.arange(len(lengths)), lengths),
        "lengths": lengths,
        "image_size": t["image_size"],
        "keypoint_names": list(t.get("keypoint_names") or []),
    }


#: The smoke inputs' settings: the defaults with 64 px frames (24 px dots would be upscaled 13×).
SMOKE_PROTOCOL = {**PropagationSettings().as_dict(), "size": 64}


def smoke(seed: int = 0) -> EvalSet:
    """Three short 24×24 videos of 3 drifting dots; one starts at frame 1, some points hidden.

    Their ``protocol`` is :data:`SMOKE_PROTOCOL`."""
    from kpbench.video import ArrayFrames

    rng = np.random.default_rng(seed)
    videos = []
    for i, (n, start) in enumerate([(5, 0), (7, 1), (4, 0)]):
        xy = rng.uniform(5, 19, (1, 3, 2)) + np.cumsum(rng.normal(0, 0.5, (n + start, 3, 2)), 0)
        xy = np.clip(xy, 2, 21)
        frames = np.zeros((n + start, 24, 24, 3), np.uint8)
        for t, pts in enumerate(np.round(xy).astype(int)):
            for x, y in pts:
                frames[t, y - 1 : y + 2, x - 1 : x + 2] = 255
        kp, vis = xy[start:].copy(), np.ones((n, 3), bool)
        vis[-1, 2] = False
        kp[-1, 1] = np.nan
        videos.append({
            "name": f"dots{i}[{start}:{start + n}]", "frames": ArrayFrames(frames, f"dots{i}"),
            "start": start, "keypoints": kp, "visibility": vis, "fps": 30.0,
        })  # fmt: skip
    return _evalset(videos, {"test_videos": 3}, SMOKE_PROTOCOL)


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="propagate the first frame's keypoints through a video (JHMDB PCK)",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="frame",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={
                "held_still": baseline_held_still,
                "random_encoder": baseline_random_encoder,
                "imagenet_encoder": baseline_imagenet_encoder,
            },
            options={
                "max_videos": None,
                "max_frames": None,
                **PropagationSettings().as_dict(),
                "imagenet_weights": "auto",
            },  # fmt: skip
            presets={
                "smoke": {"max_videos": 3},
                "default": {"max_videos": 40, "max_frames": 60},
                "paper": {},
            },
            smoke=smoke,
            protocol=(
                "test-split videos (up to {max_videos}, spread evenly; None = all; their first "
                "{max_frames} frames, None = whole) from "
                "the first frame's keypoints, propagated by each method's encoder through "
                "one propagator (frames resized to short side {size}; context frame 0 + "
                "{context} previous within radius {radius} cells; top-{topk} softmax at "
                "temperature {temperature}; σ {sigma} cells; top-{readout_topk} read-out); "
                "PCK@α of visible keypoints in frames 1..T-1, error / (α × 0.6 × diagonal of "
                "the visible ground-truth keypoints' box)"
            ),
        )
    ]


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(
            name=f"pck@{a}",
            task=NAME,
            fn=partial(pm.pck, alpha=a),
            unit="%",
            higher_is_better=True,
            description=f"% of visible keypoints in frames 1..T-1 within {a} × 0.6 × the "
            "diagonal of the visible ground-truth box; per joint pooled over videos, then "
            "mean over joints (CRW/UVC eval_pck)",
        )
        for a in (0.1, 0.2)
    ]


@hookimpl
def kpbench_exporters():
    return [
        ExporterSpec(
            name="pck_plot",
            task=NAME,
            write=pm.write_plot,
            description="pck_over_time.png: PCK@0.1 and @0.2 per frame index, the method "
            "against the first frame held still",
        )
    ]
