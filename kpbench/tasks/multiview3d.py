"""``multiview3d``: 3D keypoints consistent across two views of one object (KeypointNet).

**Data model.** A sample is a pair of views of one object (ShapeNet style). It holds two RGB
images, optional silhouette masks and depth maps, the shared pinhole intrinsics, and each
view's camera pose. Conventions are OpenCV's: x right, y down, z forward, column vectors.
``pose_a`` maps world to camera a (``X_a = pose_a @ [X_world; 1]``), and ``relative =
pose_b @ inv(pose_a)`` maps camera a to camera b. Translations are in the dataset's world
units (KeypointNet's renders: object of size 2 at distance 30). A dataset in another
convention (KeypointNet's tfrecords use OpenGL and row vectors) converts when it loads. A
method gets the images, masks, intrinsics and the object's name and category, never a pose.
It predicts K 3D keypoints per view, each in that view's camera frame and in the poses'
units. K is the method's own choice: keypoints are discovered, so there is no annotation to
match.

**Protocol.** Up to ``max_pairs`` pairs of the ``test`` split (spread evenly; all by default),
in the dataset's order. The relative-pose angular error, in degrees, is ``2·asin(min(1,
‖R̂ − R‖_F / (2√2)))``. Here ``R̂`` is the rotation of the orthogonal Procrustes fit from
``keypoints_a`` to ``keypoints_b``, centred, with the det-sign fix and no noise, and ``R`` is
the rotation of ``relative``. Results report the mean, the median and the share under 5°, 10°
and 30°, each per category too. A multi-view consistency error (px) projects each view's
keypoints into the other view through ``relative`` and the intrinsics. Definitions:
:mod:`kpbench.metrics.multiview3d`. The exporter ``keypoints_plot`` draws the keypoints on a
few test pairs (``keypoints.png``).

**Baselines.** ``identity_rotation`` puts the same random points in both views, so every
Procrustes fit gives ``R̂ = I`` and the error is the angle of the true rotation.
``random_keypoints`` draws independent random points in each view. Both are seeded and use
the method's K, at least 4, so the fit is well posed (10 when no prediction is given).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np

from kpbench import hookimpl
from kpbench.evaluation import EvalSet
from kpbench.metrics import multiview3d as mm
from kpbench.metrics import multiview3d_plot as mp
from kpbench.schema import Field, Schema, SchemaError
from kpbench.specs import ExporterSpec, MetricSpec, TaskSpec
from kpbench.tasks.common import LazySamples, evenly, image_field

NAME = "multiview3d"

_ABOUT = (
    Field("object", "str", doc="the object's id (e.g. a ShapeNet model id)"),
    Field("category", "str", doc="its category (e.g. 'chair')"),
)
_VIEWS = (
    image_field("image_a", "RGB view a"),
    image_field("image_b", "RGB view b"),
    Field("mask_a", "b", ("H", "W"), doc="silhouette of the object in view a", optional=True),
    Field("mask_b", "b", ("H", "W"), doc="silhouette of the object in view b", optional=True),
)
_INTRINSICS = Field("intrinsics", "f", (3, 3), "px", "pinhole matrix shared by both views")
_POSE = "world → camera {} (4, 4), column vectors, world units"
SAMPLE = Schema(
    f"{NAME} sample",
    (
        *_ABOUT,
        *_VIEWS,
        Field("depth_a", "f", ("H", "W"), "world units", "z depth in view a, NaN or 0 where "
              "no surface", nan=True, optional=True),
        Field("depth_b", "f", ("H", "W"), "world units", "z depth in view b", nan=True,
              optional=True),
        _INTRINSICS,
        Field("pose_a", "f", (4, 4), "", _POSE.format("a")),
        Field("pose_b", "f", (4, 4), "", _POSE.format("b")),
        Field("relative", "f", (4, 4), "", "camera a → camera b: pose_b @ inv(pose_a)"),
    ),
)  # fmt: skip
INPUTS = Schema(f"{NAME} input", (*_ABOUT, *_VIEWS, _INTRINSICS))
PREDICTION = Schema(
    f"{NAME} prediction",
    (
        Field("keypoints_a", "f", ("N", "K", 3), "world units",
              "3D keypoints in camera a's frame, one row per input pair"),
        Field("keypoints_b", "f", ("N", "K", 3), "world units",
              "the same K keypoints in camera b's frame"),
    ),
)  # fmt: skip

#: Ground-truth keys of a sample; never in an input.
TRUTH_KEYS = ("pose_a", "pose_b", "relative", "depth_a", "depth_b")


def _checked(pair, split: str, i: int) -> dict:
    name = pair.get("object") if isinstance(pair, Mapping) else None
    where = f"{split} pair #{i}" + (f" ({name})" if name else "")
    SAMPLE.validate(pair, where)
    expected = pair["pose_b"] @ np.linalg.inv(pair["pose_a"])
    if not np.allclose(pair["relative"], expected, rtol=1e-4, atol=1e-4):
        raise SchemaError(
            f"{SAMPLE.name} from {where}: field 'relative' is not pose_b @ inv(pose_a) "
            "(camera a → camera b, world → camera poses, column vectors)"
        )
    return pair


def samples(data, split: str) -> LazySamples:
    """The pairs ``data.view_pairs(split)``, each checked against :data:`SAMPLE` when read.

    Raises:
        kpbench.schema.SchemaError: (on access) a pair does not match :data:`SAMPLE`.
    """
    pairs = data.view_pairs(split)
    return LazySamples(len(pairs), lambda i: _checked(pairs[i], split, i))


def _as_input(pair: Mapping) -> dict:
    return {key: pair.get(key) for key in INPUTS.field_names()}


def _evalset(pairs, chosen: list[int], info: dict) -> EvalSet:
    """Truth from one pass over the chosen pairs; inputs re-read lazily (images stay on disk)."""
    rel, cats, objs, intr = [], [], [], []
    for i in chosen:
        p = pairs[i]
        rel.append(np.asarray(p["relative"], np.float64))
        intr.append(np.asarray(p["intrinsics"], np.float64))
        cats.append(p["category"])
        objs.append(p["object"])
    n = len(chosen)
    truth = {
        "relative": np.stack(rel) if n else np.zeros((0, 4, 4)),
        "intrinsics": np.stack(intr) if n else np.zeros((0, 3, 3)),
        "categories": np.array(cats, dtype=str),
        "objects": np.array(objs, dtype=str),
    }
    return EvalSet(
        inputs=LazySamples(n, lambda j: _as_input(pairs[chosen[j]])),
        truth=truth,
        ids=[f"{c}/{o}#{i}" for c, o, i in zip(cats, objs, chosen)],
        dims={"N": n},
        info={**info, "pairs": n, "categories": sorted(set(cats))},
    )


def select(data, options: dict) -> EvalSet:
    """Up to ``max_pairs`` ``test`` pairs, spread evenly, each checked once.

    Inputs are read again (lazily) when the method asks for them, so the images of a large
    test split are never all in memory. Truth: ``relative`` (N, 4, 4), ``intrinsics``
    (N, 3, 3) px, ``categories`` (N,), ``objects`` (N,).

    Raises:
        kpbench.schema.SchemaError: a chosen pair does not match :data:`SAMPLE`.
    """
    pairs = samples(data, "test")
    chosen = evenly(range(len(pairs)), options["max_pairs"])
    if not chosen:
        return EvalSet(
            [], info={"pairs": 0},
            unavailable=f"dataset {data.name!r} has no test-split view pairs: "
            "multiview3d metrics skipped",
        )  # fmt: skip
    return _evalset(pairs, chosen, {"test_pairs": len(pairs)})


#: Test pairs whose views the evaluation record keeps as thumbnails (for ``keypoints.png``).
PREVIEW_PAIRS = 4
#: Longest side (px) of those thumbnails.
THUMBNAIL = 96


def _thumbnail(image) -> np.ndarray:
    import cv2

    image = np.asarray(image)
    h, w = image.shape[:2]
    scale = min(1.0, THUMBNAIL / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The pose record: both views' keypoints beside the true relative pose.

    The record goes to the metrics and the exporters only (the run's JSON record holds the
    metric values), so its arrays cost no space on disk.

    Returns:
        ``keypoints_a``, ``keypoints_b`` (N, K, 3) float64 in each camera's frame;
        ``relative`` (N, 4, 4) camera a → camera b; ``rotation`` (N, 3, 3) its rotation;
        ``intrinsics`` (N, 3, 3) px; ``categories`` (N,) str (for per-category means);
        ``objects`` (N,) str; for up to :data:`PREVIEW_PAIRS` pairs of distinct objects
        (spread evenly, :func:`kpbench.metrics.multiview3d_plot.preview_pairs`),
        ``thumbnails`` {pair index: ((h, w, 3), (h, w, 3)) uint8 of views a and b, longest
        side ≤ :data:`THUMBNAIL`} and ``image_sizes`` {pair index: (W, H) of the original
        views}, so the keypoints project onto them.
    """
    t = evalset.truth
    n = len(t["relative"])
    record = {
        "keypoints_a": np.asarray(prediction["keypoints_a"], np.float64),
        "keypoints_b": np.asarray(prediction["keypoints_b"], np.float64),
        "relative": t["relative"],
        "rotation": t["relative"][:, :3, :3],
        "intrinsics": t["intrinsics"],
        "categories": t["categories"],
        "objects": t.get("objects", np.array([str(i) for i in range(n)])),
        "thumbnails": {},
        "image_sizes": {},
    }
    for i in mp.preview_pairs(record["objects"], PREVIEW_PAIRS):
        x = evalset.inputs[i]
        a, b = np.asarray(x["image_a"]), np.asarray(x["image_b"])
        record["thumbnails"][i] = (_thumbnail(a), _thumbnail(b))
        record["image_sizes"][i] = (a.shape[1], a.shape[0])
    return record


#: K of the baselines when they are not handed a prediction to match (KeypointNet's K).
BASELINE_POINTS = 10


def _num_points(prediction: dict | None) -> int:
    if prediction is None:
        return BASELINE_POINTS
    return max(int(np.shape(prediction["keypoints_a"])[1]), 4)


def baseline_identity_rotation(evalset: EvalSet, prediction: dict | None, seed: int) -> dict:
    """The same random points (standard normal) in both views: every Procrustes gives R = I."""
    pts = np.random.default_rng(seed).normal(size=(evalset.dims["N"], _num_points(prediction), 3))
    return {"keypoints_a": pts, "keypoints_b": pts.copy()}


def baseline_random_keypoints(evalset: EvalSet, prediction: dict | None, seed: int) -> dict:
    """Independent random points (standard normal) in each view: a chance-level rotation."""
    rng = np.random.default_rng(seed)
    shape = (evalset.dims["N"], _num_points(prediction), 3)
    return {"keypoints_a": rng.normal(size=shape), "keypoints_b": rng.normal(size=shape)}


def _rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def smoke(seed: int = 0) -> EvalSet:
    """Four 16×16 view pairs of a random object under random rotations, 30 units away."""
    rng = np.random.default_rng(seed)
    intr = np.array([[40.0, 0, 8], [0, 40.0, 8], [0, 0, 1]])
    pairs = []
    for i in range(4):
        poses = []
        for _ in range(2):
            pose = np.eye(4)
            pose[:3, :3], pose[:3, 3] = _rotation(rng), [0.0, 0.0, 30.0]
            poses.append(pose)
        imgs = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
        masks = np.zeros((2, 16, 16), bool)
        masks[:, 4:12, 4:12] = True
        pairs.append({
            "object": f"obj{i}", "category": "smoke", "image_a": imgs[0], "image_b": imgs[1],
            "mask_a": masks[0], "mask_b": masks[1], "intrinsics": intr,
            "pose_a": poses[0], "pose_b": poses[1],
            "relative": poses[1] @ np.linalg.inv(poses[0]),
        })  # fmt: skip
    return _evalset(pairs, list(range(4)), {"test_pairs": 4})


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="3D keypoints per view of an object pair, scored by relative-pose error",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="view pair",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={
                "identity_rotation": baseline_identity_rotation,
                "random_keypoints": baseline_random_keypoints,
            },
            options={"max_pairs": None},
            presets={"smoke": {"max_pairs": 16}, "default": {"max_pairs": 500}, "paper": {}},
            smoke=smoke,
            protocol=(
                "test-split view pairs (up to {max_pairs}, spread evenly; None = all); relative "
                "rotation from an orthogonal Procrustes fit of the predicted keypoints of view "
                "a to view b, angular error 2·asin(‖R̂ − R‖_F / 2√2) in degrees against the "
                "true camera a → b rotation"
            ),
        )
    ]


_ANGLE = "angle 2·asin(min(1, ‖R̂ − R‖_F / 2√2)) between the Procrustes rotation of keypoints_a → keypoints_b (centred, det-sign fix) and the true camera a → b rotation"
#: name, function, unit, higher is better, description (definitions in the metrics module).
_METRICS = (
    ("angular_error_mean", mm.angular_error_mean, "deg", False, f"mean over pairs of the {_ANGLE}"),
    ("angular_error_median", mm.angular_error_median, "deg", False,
     f"median over pairs of the {_ANGLE}"),
    *((f"angular_error_under_{d}", partial(mm.angular_error_under, degrees=float(d)), "%", True,
       f"% of pairs whose {_ANGLE} is below {d}°") for d in (5, 10, 30)),
    ("consistency_px", mm.consistency_px, "px", False, "mean reprojection distance, px, of "
     "each view's keypoints carried through the true relative pose into the other view vs that "
     "view's own keypoints, both projected with the intrinsics; keypoints behind a camera left out"),
)  # fmt: skip


@hookimpl
def kpbench_metrics():
    return [
        MetricSpec(name=n, task=NAME, fn=fn, unit=u, higher_is_better=h, description=d)
        for n, fn, u, h, d in _METRICS
    ]


@hookimpl
def kpbench_exporters():
    return [
        ExporterSpec(
            name="keypoints_plot",
            task=NAME,
            write=mp.write_plot,
            description="keypoints.png: the predicted keypoints, coloured by index, on both views "
            "of a few test pairs (filled: the view's own; rings: carried from the other view)",
        )
    ]
