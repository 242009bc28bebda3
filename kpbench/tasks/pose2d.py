"""``pose2d``: supervised 2D keypoints in images (HRNet), top-down, one instance at a time.

**Data model.** A sample is one annotated instance (a person, one animal) in one frame: the
image, its K keypoints in px with COCO visibility (0 not labelled, 1 occluded, 2 visible), its box
``(x, y, w, h)`` px and, for multi-animal frames, which instance it is (one sample per animal).
Samples come from ``KeypointDataset.labeled_instances`` (multi-animal frames split per animal);
K and the names are one instance's (``per_instance_keypoint_names``: 13 fly nodes, not the 26 of
a two-fly frame). The dataset gives per-keypoint OKS sigmas (``oks_sigmas``: COCO's for people, a
documented default of 0.1 where a dataset has none) and left/right pairs for flipping, both per
instance.

**Protocol.** The labelled instances of the ``test`` split (at most ``max_test_instances``,
spread evenly) are the inputs: image (loaded lazily), box and instance name, never the
keypoints. The method predicts K keypoints (px of the original frame) and a score per keypoint
for each instance. Every instance must have the K keypoints the dataset names.

**Normalisers.** PCK uses the box's longer side by default (``pck_normaliser="box"``), or
the box diagonal (``"box_diagonal"``); OKS uses the instance's ``area`` as the object scale
(COCO's annotation area where the dataset gives one, else the box's w·h). Instances of one image
share an image id for COCO's per-image matching: the dataset's own ids (COCO's ``image_id``)
when every test instance has one, else one id per source frame. The evaluation record carries
every normaliser.

**Baseline.** ``mean_pose``: the training split's mean pose, with each keypoint expressed as a
fraction of its instance's box, placed in each test box.

**Metrics** (:mod:`kpbench.metrics.pose2d`). ``pck@0.05``, ``pck@0.1``, ``pck@0.2`` (% of
labelled keypoints within alpha × the PCK normaliser) and ``rmse_px``, each with a per-keypoint
breakdown; ``oks_ap`` and ``oks_ar``, COCO keypoint AP/AR over OKS 0.50:0.05:0.95 by
pycocotools' COCOeval, ×100 so they read as % (AP also broken down at OKS 0.50 and 0.75).
"""

from __future__ import annotations

import warnings
from functools import partial

import numpy as np

from kpbench import hookimpl
from kpbench.errors import DataError
from kpbench.evaluation import EvalSet
from kpbench.metrics import pose2d as pm
from kpbench.schema import Field, Schema
from kpbench.specs import ExporterSpec, MetricSpec, TaskSpec
from kpbench.tasks.common import IMAGE_SIZE, LOAD, SOURCE, LazySamples, evenly, image_field

NAME = "pose2d"

_BOX = Field("box", "f", (4,), "px", "instance box (x, y, w, h)")
_INSTANCE = Field("instance", "str", doc="which animal/person in the frame", optional=True)
SAMPLE = Schema(
    f"{NAME} sample",
    (
        image_field(),
        Field("keypoints", "f", ("K", 2), "px", "annotated keypoints (x, y)", nan=True),
        Field("visibility", "i", ("K",), "", "0 not labelled, 1 occluded, 2 visible",
              range=(0, 2)),
        _BOX,
        _INSTANCE,
        SOURCE,
        IMAGE_SIZE,
    ),
)  # fmt: skip
INPUTS = Schema(f"{NAME} input", (SOURCE, IMAGE_SIZE, LOAD, _BOX, _INSTANCE))
PREDICTION = Schema(
    f"{NAME} prediction",
    (
        Field("keypoints", "f", ("N", "K", 2), "px", "predicted keypoints per input instance"),
        Field("scores", "f", ("N", "K"), "", "confidence per keypoint", optional=True),
    ),
)


def _sample(frame) -> dict:
    return {
        "image": frame.load(),
        "keypoints": np.asarray(frame.keypoints, np.float64),
        "visibility": frame.visible(),
        "box": frame.bbox(),
        "instance": frame.instance,
        "source": frame.source,
        "image_size": tuple(frame.image_size),
    }


def _instances(data, split: str) -> list:
    """One :class:`~kpbench.dataset.LabeledFrame` per annotated instance of ``split``."""
    get = getattr(data, "labeled_instances", None) or data.labeled_frames
    return list(get(split))


def _keypoint_names(data) -> list[str]:
    get = getattr(data, "per_instance_keypoint_names", None)
    return list(get() if get is not None else data.keypoint_names)


def samples(data, split: str) -> LazySamples:
    """One sample per labelled instance of ``split`` (images decoded on access)."""
    frames = _instances(data, split)
    return LazySamples(len(frames), lambda i: _sample(frames[i]))


def _relative(keypoints: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Keypoints as fractions of their boxes: ``(kp − (x, y)) / (w, h)``."""
    return (keypoints - boxes[:, None, :2]) / np.maximum(boxes[:, None, 2:], 1e-9)


def _check_k(frames: list, k: int, names: list[str], split: str, dataset: str) -> None:
    for f in frames:
        if np.shape(f.keypoints) != (k, 2):
            who = f"{f.source}/{f.instance}" if f.instance is not None else f.source
            raise DataError(
                f"pose2d on {dataset}: {split} instance {who} has keypoints of shape "
                f"{np.shape(f.keypoints)}, but one instance has K={k} keypoints {names[:4]}"
                f"{'...' if k > 4 else ''}; give labeled_instances one animal per item"
            )


def select(data, options: dict) -> EvalSet:
    """Evenly spread labelled instances of the ``test`` split; train statistics for baselines.

    Raises:
        DataError: an instance's keypoints are not ``(K, 2)`` for the dataset's instance K.
    """
    names = _keypoint_names(data)
    test = [f for f in _instances(data, "test") if f.visible().any()]
    test = evenly(test, options["max_test_instances"])
    if not test:
        return EvalSet([], unavailable="no labelled instance in the test split")
    k = len(names) or int(np.shape(test[0].keypoints)[0])
    train = [f for f in _instances(data, "train") if f.visible().any()]
    _check_k(test, k, names, "test", getattr(data, "name", "") or "the dataset")
    _check_k(train, k, names, "train", getattr(data, "name", "") or "the dataset")
    boxes = np.stack([f.bbox() for f in test])
    mean_rel = None
    if train:
        rel = _relative(
            np.stack([np.asarray(f.keypoints, np.float64) for f in train]),
            np.stack([f.bbox() for f in train]),
        )
        with warnings.catch_warnings():  # a keypoint never labelled in train: NaN, said below
            warnings.simplefilter("ignore", RuntimeWarning)
            mean_rel = np.nanmean(rel, axis=0)
    ids = [f"{f.source}/{f.instance}" if f.instance is not None else f.source for f in test]
    own_ids = [getattr(f, "image_id", None) for f in test]
    image_ids = (
        np.array(own_ids, np.int64)
        if all(i is not None for i in own_ids)
        else _image_ids([f.source for f in test])
    )
    return EvalSet(
        inputs=[
            {
                "source": f.source,
                "image_size": tuple(f.image_size),
                "load": f.load,
                "box": b,
                "instance": f.instance,
            }
            for f, b in zip(test, boxes)
        ],
        truth={
            "keypoints": np.stack([np.asarray(f.keypoints, np.float64) for f in test]),
            "visibility": np.stack([f.visible() for f in test]),
            "boxes": boxes,
            "areas": np.array([_area(f, b) for f, b in zip(test, boxes)], np.float64),
            "image_ids": image_ids,
            "instances": [f.instance for f in test],
            "image_sizes": np.array([f.image_size for f in test], np.float64),
            "sigmas": data.oks_sigmas(),
            "keypoint_names": names,
            "flip_pairs": data.left_right(),
            "train_mean_relative": mean_rel,
        },
        ids=ids,
        dims={"N": len(test), "K": k},
        info={"test_instances": len(test), "train_instances": len(train)},
    )


def _area(frame, box: np.ndarray) -> float:
    """OKS object scale px²: the instance's own ``area``, else its box's w·h."""
    area = getattr(frame, "area", None)
    return float(box[2] * box[3]) if area is None else float(area)


def evaluation(evalset: EvalSet, prediction: dict, options: dict) -> dict:
    """The record pose2d metrics score.

    Keys: ``pred`` (N, K, 2) px, ``scores`` (N, K) or None, ``gt`` (N, K, 2) px (NaN where not
    labelled), ``visibility`` (N, K), ``boxes`` (N, 4) px, ``areas`` (N,) px² (box w·h),
    ``pck_normaliser`` (N,) px (box's longer side or diagonal), ``sigmas`` (K,),
    ``keypoint_names``, ``image_sizes`` (N, 2), ``image_ids`` (N,) int (inputs of one image
    share an id: COCO's per-image matching for OKS AP). ``areas`` are the instances' own
    (COCO's annotation ``area``) where the dataset gives them, else box w·h; ``image_ids`` the
    dataset's own (COCO's) when every input has one, else one per ``source`` frame.
    """
    t = evalset.truth
    boxes = t["boxes"]
    if options["pck_normaliser"] == "box_diagonal":
        norm = np.hypot(boxes[:, 2], boxes[:, 3])
    elif options["pck_normaliser"] == "box":
        norm = boxes[:, 2:].max(axis=1)
    else:
        raise ValueError(
            f"pck_normaliser {options['pck_normaliser']!r}: expected box or box_diagonal"
        )
    return {
        "pred": np.asarray(prediction["keypoints"], np.float64),
        "scores": prediction.get("scores"),
        "gt": t["keypoints"],
        "visibility": t["visibility"],
        "boxes": boxes,
        "areas": np.asarray(t["areas"], np.float64)
        if t.get("areas") is not None
        else boxes[:, 2] * boxes[:, 3],
        "pck_normaliser": norm,
        "sigmas": t["sigmas"],
        "keypoint_names": t["keypoint_names"],
        "image_sizes": t["image_sizes"],
        "image_ids": np.asarray(t["image_ids"], np.int64)
        if t.get("image_ids") is not None
        else _image_ids([x["source"] for x in evalset.inputs]),
    }


def _image_ids(sources: list) -> np.ndarray:
    """One int per input, equal for inputs of the same source frame (in order of appearance)."""
    first: dict = {}
    return np.array([first.setdefault(s, len(first)) for s in sources], np.int64)


def baseline_mean_pose(evalset: EvalSet, prediction: dict, seed: int) -> dict:
    """The train split's mean box-relative pose in each test box (box centre if never labelled)."""
    t = evalset.truth
    k = evalset.dims["K"]
    rel = t["train_mean_relative"]
    rel = np.full((k, 2), 0.5) if rel is None else np.where(np.isnan(rel), 0.5, rel)
    boxes = t["boxes"]
    kp = boxes[:, None, :2] + rel[None] * boxes[:, None, 2:]
    return {"keypoints": kp, "scores": np.ones(kp.shape[:2])}


def smoke(seed: int = 0) -> EvalSet:
    """Six 48×48 images of a 3-keypoint bar, its endpoints and middle annotated."""
    rng = np.random.default_rng(seed)
    n, k = 6, 3
    a = rng.uniform(10, 20, (n, 2))
    b = a + rng.uniform(10, 20, (n, 2))
    kp = np.stack([a, (a + b) / 2, b], axis=1)
    boxes = np.concatenate([a - 4, b - a + 8], axis=1)

    def image(i):
        img = np.zeros((48, 48, 3), np.uint8)
        for x, y in kp[i].round().astype(int):
            img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = 255
        return img

    inputs = [
        {"source": f"bar#{i}", "image_size": (48, 48), "load": (lambda i=i: image(i)),
         "box": boxes[i], "instance": None}
        for i in range(n)
    ]  # fmt: skip
    truth = {
        "keypoints": kp,
        "visibility": np.full((n, k), 2),
        "boxes": boxes,
        "areas": boxes[:, 2] * boxes[:, 3],
        "image_ids": np.arange(n),
        "instances": [None] * n,
        "image_sizes": np.full((n, 2), 48.0),
        "sigmas": np.full(k, 0.1),
        "keypoint_names": ["end_a", "middle", "end_b"],
        "flip_pairs": [(0, 2)],
        "train_mean_relative": None,
    }
    return EvalSet(inputs, truth, [f"bar#{i}" for i in range(n)], {"N": n, "K": k})


@hookimpl
def kpbench_tasks():
    return [
        TaskSpec(
            name=NAME,
            description="supervised 2D keypoints per instance (top-down, boxes given)",
            sample=SAMPLE,
            inputs=INPUTS,
            prediction=PREDICTION,
            unit="instance crop",
            samples=samples,
            select=select,
            evaluation=evaluation,
            baselines={"mean_pose": baseline_mean_pose},
            options={"max_test_instances": None, "pck_normaliser": "box"},
            presets={
                "smoke": {"max_test_instances": 20},
                "default": {"max_test_instances": 500},
                "paper": {},
            },
            smoke=smoke,
            protocol=(
                "top-down with the annotated (or keypoint-extent) boxes; up to "
                "{max_test_instances} labelled test-split instances, spread evenly; PCK "
                "normalised by the {pck_normaliser}"
            ),
        )
    ]


@hookimpl
def kpbench_metrics():
    return [
        *(
            MetricSpec(
                name=f"pck@{alpha}",
                task=NAME,
                fn=partial(pm.pck, alpha=alpha),
                unit="%",
                higher_is_better=True,
                description=f"% of labelled keypoints within {alpha} × the PCK normaliser (the "
                "box's longer side, or its diagonal: option pck_normaliser), L2 px",
            )
            for alpha in (0.05, 0.1, 0.2)
        ),
        MetricSpec(
            name="rmse_px",
            task=NAME,
            fn=pm.rmse_px,
            unit="px",
            higher_is_better=False,
            description="root mean squared L2 error over labelled keypoints, px",
        ),
        *(
            MetricSpec(
                name=f"oks_{kind.lower()}",
                task=NAME,
                fn=fn,
                unit="%",
                higher_is_better=True,
                description=f"COCO keypoint {kind} over OKS 0.50:0.05:0.95 (pycocotools "
                "COCOeval, the dataset's sigmas, s² = box area), ×100",
            )
            for kind, fn in (("AP", pm.oks_ap), ("AR", pm.oks_ar))
        ),
    ]


@hookimpl
def kpbench_exporters():
    return [
        ExporterSpec(
            name="coco",
            task=NAME,
            write=pm.write_coco,
            description="COCO keypoint results (predictions.coco.json, read by COCO.loadRes) "
            "and the matching ground truth (ground_truth.coco.json)",
        )
    ]
