"""``discovery2d``: unsupervised 2D keypoint discovery in videos (BKinD).

**Data model.** Training samples are pairs of frames ``(t, t + gap)`` of one video (no labels).
Evaluation inputs are frames, and the method predicts K keypoints per frame in px.

**Protocol.** The labelled frames of the ``train`` split (at most ``max_fit_frames``, spread
evenly) fit a linear regression without bias from the discovered to the annotated keypoints;
the labelled frames of the ``test`` split (at most ``max_test_frames``) score it. The method
predicts on both sets in one call and never sees an annotation. All frames must share one size.
``regression_origin`` fixes the coordinate frame of the regression (see
:mod:`kpbench.metrics.discovery`): ``centre`` (BKinD's, default) or ``corner`` (kpbench 0.1).

**Baselines.** ``random``: uniformly random points per frame; ``grid``: a fixed grid (= the
mean-pose error). Both with the method's K, through the same regression and metrics.

**Metrics.** ``regression_error`` (% of image size), ``regression_error_px``, ``pck@0.05`` and
``pck@0.1`` after the regression, each with a per-joint breakdown.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from kpbench import hookimpl
from kpbench.evaluation import EvalSet
from kpbench.metrics import discovery as dm
from kpbench.schema import Field, Schema
from kpbench.specs import MetricSpec, TaskSpec
from kpbench.tasks.common import (
    IMAGE_SIZE,
    LOAD,
    SOURCE,
    LazySamples,
    evenly,
    image_field,
    one_size,
)

NAME = "discovery2d"

SAMPLE = Schema(
    f"{NAME} sample",
    (
        image_field("frame_t", "frame t"),
        image_field("frame_tT", "frame t + gap"),
        Field("video", "str", doc="the video's name"),
        Field("t", "int", unit="frames", doc="index of frame_t in the video"),
        Field("gap", "int", unit="frames", doc="T, frames between the two frames"),
    ),
)
INPUTS = Schema(
    f"{NAME} input",
    (
        SOURCE,
        IMAGE_SIZE,
        LOAD,
        Field("video", "str", doc="the video's name", optional=True),
        Field("index", "int", unit="frames", doc="frame index in the video", optional=True),
    ),
)
PREDICTION = Schema(
    f"{NAME} prediction",
    (
        Field("keypoints", "f", ("N", "K", 2), "px", "discovered keypoints (x, y) per input frame"),
        Field("confidence", "f", ("N", "K"), "", "confidence in [0, 1]", optional=True,
              range=(0.0, 1.0)),
        Field("covariance", "f", ("N", "K", 3), "px²", "(var_x, var_y, cov_xy)", optional=True),
    ),
)  # fmt: skip


def samples(data, split: str, gap: int = 3) -> LazySamples:
    """Frame pairs ``(t, t + gap)`` of every video segment of ``split``, one pair per ``t``."""
    starts = [(item, t) for item in data.videos(split) for t in item.frame_range[:-gap] if gap > 0]

    def get(i: int) -> dict:
        item, t = starts[i]
        return {
            "frame_t": item.reader.read(t),
            "frame_tT": item.reader.read(t + gap),
            "video": item.name,
            "t": int(t),
            "gap": int(gap),
        }

    return LazySamples(len(starts), get)


def _as_input(frame) -> dict:
    return {
        "source": frame.source,
        "image_size": tuple(frame.image_size),
        "load": frame.load,
        "video": frame.video,
        "index": frame.index,
    }


def select(data, options: dict) -> EvalSet:
    """Evenly spread labelled frames: ``train`` to fit the regression, ``test`` to score it."""
    fit = evenly(list(data.labeled_frames("train")), options["max_fit_frames"])
    test = evenly(list(data.labeled_frames("test")), options["max_test_frames"])
    frames = fit + test
    info = {"fit_frames": len(fit), "test_frames": len(test)}
    if not frames:
        return EvalSet([], info=info, unavailable="no labelled frames: regression metrics skipped")
    size = one_size([f.image_size for f in frames], f"dataset {data.name}")
    unavailable = None
    if not fit or not test:
        unavailable = (
            f"no labelled frames in the {'train' if not fit else 'test'} split: "
            "regression metrics skipped"
        )
    return EvalSet(
        inputs=[_as_input(f) for f in frames],
        truth={
            "annotated": np.stack([np.asarray(f.keypoints, np.float64) for f in frames]),
            "n_fit": len(fit),
            "image_size": size,
            "keypoint_names": list(data.keypoint_names),
        },
        ids=[f"fit:{f.source}" for f in fit] + [f"test:{f.source}" for f in test],
        dims={"N": len(frames)},
        info=info,
        unavailable=unavailable,
    )


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The regression's record, what the discovery2d metrics score.

    Keys: ``fit_discovered`` (N1, K, 2) px, ``fit_annotated`` (N1, J, 2) px (NaN = unlabelled),
    ``test_discovered`` (N2, K, 2), ``test_annotated`` (N2, J, 2), ``image_size`` (W, H) px,
    ``regression_origin`` (``centre`` or ``corner``), ``keypoint_names`` (J names, may be empty).

    Joints labelled on too few fit frames for the regression are left out of it and of the
    metrics; why goes into the selection's facts (``record["evaluation"]["selection"]
    ["excluded"]``, ``{joint: "joint <name> excluded: labelled on 13 fit frames, ..."}``).
    """
    truth, n = evalset.truth, evalset.truth["n_fit"]
    kp = np.asarray(prediction["keypoints"], np.float64)
    record = {
        "fit_discovered": kp[:n],
        "fit_annotated": truth["annotated"][:n],
        "test_discovered": kp[n:],
        "test_annotated": truth["annotated"][n:],
        "image_size": truth["image_size"],
        "regression_origin": options["regression_origin"],
        "keypoint_names": truth.get("keypoint_names") or [],
    }
    excluded = dm.excluded_joints(record)
    if excluded:
        evalset.info["excluded"] = excluded
    return record


def baseline_random(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    n, k = np.shape(prediction["keypoints"])[:2]
    return {"keypoints": dm.random_keypoints(n, k, evalset.truth["image_size"], seed)}


def baseline_grid(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    n, k = np.shape(prediction["keypoints"])[:2]
    return {"keypoints": dm.grid_keypoints(n, k, evalset.truth["image_size"])}


def smoke(seed: int = 0) -> EvalSet:
    """32 frames of 32×32 px with a bright dot (24 to fit, 8 to score), annotated at its centre:
    enough fit frames for a regression from up to K = 12 discovered keypoints."""
    n, n_fit = 32, 24
    rng = np.random.default_rng(seed)
    centres = rng.uniform(6, 26, (n, 1, 2))

    def frame(c):
        img = np.zeros((32, 32, 3), np.uint8)
        x, y = int(round(c[0, 0])), int(round(c[0, 1]))
        img[y - 2 : y + 3, x - 2 : x + 3] = 255
        return img

    inputs = [
        {"source": f"dot#{i}", "image_size": (32, 32), "load": (lambda c=c: frame(c)),
         "video": "dot", "index": i}
        for i, c in enumerate(centres)
    ]  # fmt: skip
    ids = [f"{'fit' if i < n_fit else 'test'}:dot#{i}" for i in range(n)]
    truth = {"annotated": centres, "n_fit": n_fit, "image_size": (32, 32)}
    return EvalSet(inputs, truth, ids, {"N": n}, {"fit_frames": n_fit, "test_frames": n - n_fit})


def _per_joint(fn):
    """A metric with a per-joint breakdown, labelled by the dataset's keypoint names
    (``joint_0``, ``joint_1``, ... where it has none)."""

    def metric(ev, **kw):
        value = fn(ev, **kw)
        per = dm.per_joint(ev, fn, **kw)
        names = list(ev.get("keypoint_names") or [])
        if len(names) != len(per):
            names = [f"joint_{j}" for j in range(len(per))]
        return value, {"per_joint": dict(zip(names, per))}

    return metric


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="unsupervised keypoint discovery in videos, scored by regression to annotations",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="frame",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={"random": baseline_random, "grid": baseline_grid},
            options={
                "max_fit_frames": 2000,
                "max_test_frames": 2000,
                "regression_origin": "centre",
            },
            presets={
                "smoke": {"max_fit_frames": 40, "max_test_frames": 20},
                "default": {"max_fit_frames": 600, "max_test_frames": 400},
                "paper": {},
            },
            smoke=smoke,
            protocol=(
                "least squares without bias from discovered to annotated keypoints in "
                "{regression_origin}-origin coordinates normalised by (W, H); fitted on up to "
                "{max_fit_frames} train-split labelled frames, scored on up to "
                "{max_test_frames} test-split labelled frames (spread evenly)"
            ),
        )
    ]


_PROTOCOL = "least squares without bias, discovered -> annotated, fitted on fit frames, scored on test frames"


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(
            name="regression_error",
            task=NAME,
            fn=_per_joint(dm.regression_error_percent),
            unit="%",
            higher_is_better=False,
            description=f"mean L2 of regressed joints, % of image size (x/W, y/H); {_PROTOCOL}",
        ),
        MetricSpec(
            name="regression_error_px",
            task=NAME,
            fn=_per_joint(dm.regression_error_px),
            unit="px",
            higher_is_better=False,
            description=f"mean L2 of regressed joints, px of the original frame; {_PROTOCOL}",
        ),
        *(
            MetricSpec(
                name=f"pck@{alpha}",
                task=NAME,
                fn=partial(_per_joint(dm.pck_after_regression), alpha=alpha),
                unit="%",
                higher_is_better=True,
                description=f"% of regressed joints within {alpha} of the image size (L2 in x/W, y/H); {_PROTOCOL}",
            )
            for alpha in (0.05, 0.1)
        ),
    ]
