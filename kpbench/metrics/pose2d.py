"""``pose2d`` metrics: PCK, RMSE and COCO keypoint AP/AR (OKS) of top-down 2D predictions.

Every metric is a pure function of the ``pose2d`` evaluation record (its keys are documented in
:func:`kpbench.tasks.pose2d.evaluation`): ``pred`` and ``gt`` (N, K, 2) px, ``visibility``
(N, K), ``boxes`` (N, 4) xywh px, ``areas`` (N,) px², ``pck_normaliser`` (N,) px, ``sigmas``
(K,), ``scores`` (N, K) or None, ``image_sizes`` (N, 2) and, optionally, ``image_ids`` (N,).

A keypoint is **labelled** where ``visibility > 0`` and its ground truth is finite; only
labelled keypoints are scored (COCO's ``v > 0``; an occluded but annotated keypoint counts).
Per-keypoint breakdowns give NaN for a keypoint labelled in no instance.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np

Pose2dEvaluation = dict  # the record's form is documented in kpbench.tasks.pose2d
#: Detections per image COCOeval keeps for keypoints (``Params.maxDets = [20]``); raised to the
#: largest number of instances in one image where that is more (see :func:`oks_ap`).
COCO_MAX_DETS = 20


def _arrays(ev: Pose2dEvaluation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``pred``, ``gt`` as float (N, K, 2) and the labelled mask (N, K), shapes checked."""
    pred = np.asarray(ev["pred"], np.float64)
    gt = np.asarray(ev["gt"], np.float64)
    vis = np.asarray(ev["visibility"])
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[2] != 2:
        raise ValueError(
            f"pose2d evaluation: pred {pred.shape} and gt {gt.shape} must both be (N, K, 2)"
        )
    if vis.shape != gt.shape[:2]:
        raise ValueError(f"pose2d evaluation: visibility {vis.shape}, expected {gt.shape[:2]}")
    labelled = (vis > 0) & np.isfinite(gt).all(axis=-1)
    return pred, gt, labelled


def _names(ev: Pose2dEvaluation, k: int) -> list[str]:
    names = list(ev.get("keypoint_names") or [])
    return names if len(names) == k else [f"keypoint_{j}" for j in range(k)]


def _per_keypoint(ev, values: np.ndarray, labelled: np.ndarray, reduce) -> dict[str, float]:
    """``reduce`` of ``values`` over the labelled instances of each keypoint (NaN if none)."""
    k = labelled.shape[1]
    return {
        name: float(reduce(values[labelled[:, j], j])) if labelled[:, j].any() else float("nan")
        for j, name in zip(range(k), _names(ev, k))
    }


def _distances(ev: Pose2dEvaluation) -> tuple[np.ndarray, np.ndarray]:
    """L2 distance (N, K) px between prediction and ground truth, and the labelled mask."""
    pred, gt, labelled = _arrays(ev)
    if not labelled.any():
        raise ValueError("pose2d evaluation: no labelled keypoint to score")
    return np.linalg.norm(pred - gt, axis=-1), labelled


def pck(ev: Pose2dEvaluation, alpha: float) -> tuple[float, dict]:
    """Percentage of correct keypoints at ``alpha`` × the instance's normaliser.

    Definition: % of labelled (instance, keypoint) with ``||pred − gt||₂ ≤ alpha ·
    pck_normaliser[instance]`` (px; the threshold itself counts as correct). Higher is better.

    Args:
        ev: the evaluation record.
        alpha: threshold, fraction of the normaliser (e.g. 0.05, 0.1, 0.2).

    Returns:
        ``(PCK %, {"per_keypoint": {name: PCK %}})``.

    Notes:
        The normaliser is the task's ``pck_normaliser`` option: the box's longer side (default)
        or its diagonal. This is PCK with a box normaliser as in DeepLabCut/SLEAP-style animal
        benchmarks, not MPII's PCKh (0.6 × the head-box diagonal, which needs head boxes) nor
        HRNet's training "Acc" (see ``shared/research/methods-2d.md``, HRNet §2).
    """
    d, labelled = _distances(ev)
    norm = np.asarray(ev["pck_normaliser"], np.float64)
    if norm.shape != d.shape[:1]:
        raise ValueError(f"pose2d evaluation: pck_normaliser {norm.shape}, expected {d.shape[:1]}")
    correct = (d <= alpha * norm[:, None]).astype(np.float64) * 100.0
    return float(correct[labelled].mean()), {
        "per_keypoint": _per_keypoint(ev, correct, labelled, np.mean)
    }


def rmse_px(ev: Pose2dEvaluation) -> tuple[float, dict]:
    """Root mean squared L2 error, px.

    Definition: ``sqrt(mean(||pred − gt||₂²))`` over labelled (instance, keypoint), px of the
    original frame; the per-keypoint breakdown is the same over each keypoint's labelled
    instances. Lower is better.

    Args:
        ev: the evaluation record.

    Returns:
        ``(RMSE px, {"per_keypoint": {name: RMSE px}})``.

    Notes:
        Unnormalised, so comparable only within one dataset (DeepLabCut reports this "RMSE").
    """
    d, labelled = _distances(ev)
    sq = d**2
    return float(np.sqrt(sq[labelled].mean())), {
        "per_keypoint": _per_keypoint(ev, sq, labelled, lambda v: np.sqrt(v.mean()))
    }


def coco_dicts(ev: Pose2dEvaluation, keypoint_names=None) -> tuple[dict, list[dict]]:
    """The record as COCO documents: ``(ground truth dataset, keypoint results)``.

    Images: one per distinct ``image_ids`` value (the dataset's own ids, e.g. COCO's, or one
    int per source frame), so inputs of one frame share an image and COCO's per-image
    matching applies; without ``image_ids``, one image per instance (1..N). Sizes from
    ``image_sizes``.

    Ground truth: one annotation per instance with at least one labelled keypoint: keypoints
    ``[x, y, v]`` (``0, 0, 0`` where not labelled), ``area`` = ``areas``, ``bbox`` = ``boxes``,
    ``iscrowd`` 0, ``num_keypoints``, category 1 (named keypoints when ``keypoint_names``).
    Results (COCO's keypoint results format, what ``COCO.loadRes`` reads): the predicted
    keypoints ``[x, y, s]`` with ``s`` the keypoint's score (1 when ``scores`` is None) and the
    instance score = mean of its keypoint scores, for the same instances.

    Instances with no labelled keypoint are left out on both sides: COCOeval would ignore their
    ground truth, and a top-down prediction for them (an unmatched detection) would count as a
    false positive, so GT-as-prediction would not score AP 100.
    """
    pred, gt, labelled = _arrays(ev)
    n, k = labelled.shape
    vis = np.asarray(ev["visibility"])
    boxes = np.asarray(ev["boxes"], np.float64).reshape(n, 4)
    areas = np.asarray(ev["areas"], np.float64).reshape(n)
    sizes = np.asarray(ev["image_sizes"], np.float64).reshape(n, 2)
    ids = ev.get("image_ids")
    ids = np.arange(1, n + 1) if ids is None else np.asarray(ids).reshape(n)
    scores = ev.get("scores")
    scores = np.ones((n, k)) if scores is None else np.asarray(scores, np.float64).reshape(n, k)
    images: dict[int, dict] = {}
    anns, dets = [], []
    for i in range(n):
        if not labelled[i].any():
            continue
        image = int(ids[i])
        images.setdefault(
            image, {"id": image, "width": int(sizes[i, 0]), "height": int(sizes[i, 1])}
        )
        v = np.where(labelled[i], np.clip(vis[i], 1, 2), 0)
        g = np.where(labelled[i, :, None], gt[i], 0.0)
        anns.append(
            {
                "id": len(anns) + 1,
                "image_id": image,
                "category_id": 1,
                "keypoints": np.column_stack([g, v]).ravel().tolist(),
                "num_keypoints": int(labelled[i].sum()),
                "area": float(areas[i]),
                "bbox": boxes[i].tolist(),
                "iscrowd": 0,
            }
        )
        dets.append(
            {
                "image_id": image,
                "category_id": 1,
                "keypoints": np.column_stack([pred[i], scores[i]]).ravel().tolist(),
                "score": float(np.mean(scores[i])),
            }
        )
    if not anns:
        raise ValueError("pose2d evaluation: no instance with a labelled keypoint to score")
    names = list(keypoint_names or ev.get("keypoint_names") or [f"keypoint_{j}" for j in range(k)])
    gt_doc = {
        "images": list(images.values()),
        "annotations": anns,
        "categories": [{"id": 1, "name": "instance", "keypoints": names}],
    }
    return gt_doc, dets


def write_coco(ev: Pose2dEvaluation, folder) -> dict:
    """Write the record as COCO files (atomically), for pycocotools and every COCO-style tool.

    ``predictions.coco.json``: COCO keypoint results (``COCO.loadRes`` reads it), image ids the
    dataset's own (COCO's for a COCO json; one int per source frame otherwise);
    ``ground_truth.coco.json``: the matching ground truth (images, annotations, the keypoint
    category), so ``COCOeval`` with the dataset's sigmas reproduces ``oks_ap``.

    Returns:
        ``{"predictions": path, "ground_truth": path}``.
    """
    from pathlib import Path

    from kpbench.results import write_json

    gt_doc, dets = coco_dicts(ev)
    folder = Path(folder)
    return {
        "predictions": write_json(folder / "predictions.coco.json", dets),
        "ground_truth": write_json(folder / "ground_truth.coco.json", gt_doc),
    }


def coco_objects(ev: Pose2dEvaluation):
    """The record as in-memory pycocotools objects ``(coco_gt, coco_dt)`` (:func:`coco_dicts`)."""
    from pycocotools.coco import COCO

    gt_doc, dets = coco_dicts(ev)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = gt_doc
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(dets)
    return coco_gt, coco_dt


def _cocoeval(ev: Pose2dEvaluation):
    """COCOeval (keypoints) evaluated and accumulated on the record, pycocotools' output muted."""
    from pycocotools.cocoeval import COCOeval

    sigmas = np.asarray(ev["sigmas"], np.float64)
    if sigmas.shape != np.shape(ev["gt"])[1:2]:
        raise ValueError(f"pose2d evaluation: sigmas {sigmas.shape}, expected (K,)")
    coco_gt, coco_dt = coco_objects(ev)
    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(coco_gt, coco_dt, "keypoints")
        e.params.kpt_oks_sigmas = sigmas
        per_image = np.bincount([a["image_id"] for a in coco_gt.dataset["annotations"]])
        e.params.maxDets = [max(COCO_MAX_DETS, int(per_image.max()))]
        e.evaluate()
        e.accumulate()
    return e


def _mean_valid(values: np.ndarray) -> float:
    """COCOeval's summary: mean over entries > -1 (×100); an empty set is an error."""
    valid = values[values > -1]
    if valid.size == 0:
        raise ValueError("pose2d evaluation: COCOeval found no ground truth to score")
    return float(valid.mean() * 100.0)


def _threshold(e, t: float) -> int:
    return int(np.flatnonzero(np.isclose(e.params.iouThrs, t))[0])


def oks_ap(ev: Pose2dEvaluation) -> tuple[float, dict]:
    """COCO keypoint AP (OKS), averaged over OKS thresholds 0.50:0.05:0.95, in %.

    Computed by pycocotools' ``COCOeval(iouType="keypoints")`` on the record
    (:func:`coco_objects`), with ``params.kpt_oks_sigmas = sigmas``, area range "all",
    ``maxDets`` 20 (COCO's; raised to the most instances in one image where an image has more
    than 20, so that a perfect top-down prediction still scores 100). Higher is better.

    Args:
        ev: the evaluation record.

    Returns:
        ``(AP %, {"oks_threshold": {"0.50": AP50 %, "0.75": AP75 %}})``: COCOeval's AP (a
        fraction) ×100, so it reads as the percentages papers print.

    Notes:
        OKS = Σᵢ exp(−dᵢ²/(2 s² kᵢ²)) δ(vᵢ>0) / Σᵢ δ(vᵢ>0), kᵢ = 2σᵢ, s² = the object area
        (cocodataset/cocoapi ``PythonAPI/pycocotools/cocoeval.py``, ``computeOks``). The area is
        the record's ``areas``: the box w·h for kpbench datasets, COCO's segment area where the
        record carries it. Predictions are top-down (one per ground-truth instance), so AP
        mostly measures localisation; the ranking score is the mean keypoint score.
    """
    e = _cocoeval(ev)
    precision = e.eval["precision"][:, :, :, 0, -1]  # T, R, K(cat), area "all", maxDets
    return _mean_valid(precision), {
        "oks_threshold": {f"{t:.2f}": _mean_valid(precision[_threshold(e, t)]) for t in (0.5, 0.75)}
    }


def oks_ar(ev: Pose2dEvaluation) -> tuple[float, dict]:
    """COCO keypoint AR (OKS), averaged over OKS thresholds 0.50:0.05:0.95, in %.

    Same evaluation as :func:`oks_ap`; the value is COCOeval's recall (area "all", the same
    ``maxDets``) ×100. Higher is better.

    Returns:
        ``(AR %, {"oks_threshold": {"0.50": AR50 %, "0.75": AR75 %}})``.

    Notes:
        See :func:`oks_ap` (cocodataset/cocoapi ``cocoeval.py``, ``_summarizeKps``).
    """
    e = _cocoeval(ev)
    recall = e.eval["recall"][:, :, 0, -1]  # T, K(cat), area "all", maxDets
    return _mean_valid(recall), {
        "oks_threshold": {f"{t:.2f}": _mean_valid(recall[_threshold(e, t)]) for t in (0.5, 0.75)}
    }
