"""pose2d metrics: hand-computed PCK/RMSE, OKS AP/AR against an independent pycocotools run and an
independent numpy OKS, real COCO annotations (coco_person_mini), the registered metrics."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from kpbench.dataset import COCO_PERSON_SIGMAS
from kpbench.evaluation import score
from kpbench.metrics import pose2d as pm
from kpbench.tasks import pose2d
from kpbench.testing import PERFECT

pytest.importorskip("pycocotools")


def make_ev(gt, vis, boxes, pred=None, *, scores=None, norm=None, sigmas=None, image_ids=None):
    gt = np.asarray(gt, float)
    boxes = np.asarray(boxes, float)
    n, k = gt.shape[:2]
    ev = {
        "pred": np.nan_to_num(gt) if pred is None else np.asarray(pred, float),
        "scores": scores,
        "gt": gt,
        "visibility": np.asarray(vis),
        "boxes": boxes,
        "areas": boxes[:, 2] * boxes[:, 3],
        "pck_normaliser": boxes[:, 2:].max(axis=1) if norm is None else np.full(n, float(norm)),
        "sigmas": np.full(k, 0.1) if sigmas is None else np.asarray(sigmas, float),
        "keypoint_names": [f"kp{j}" for j in range(k)],
        "image_sizes": np.full((n, 2), 640.0),
    }
    if image_ids is not None:
        ev["image_ids"] = np.asarray(image_ids)
    return ev


def random_instances(rng, n, k):
    """Integer-valued keypoints inside 100×100 boxes at random places, all visible."""
    corners = rng.integers(0, 400, (n, 1, 2)).astype(float)
    gt = corners + rng.integers(0, 100, (n, k, 2))
    boxes = np.concatenate([corners[:, 0], np.full((n, 2), 100.0)], axis=1)
    return gt, np.full((n, k), 2), boxes


def quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


# -- PCK and RMSE ---------------------------------------------------------------------------------
def test_perfect_prediction_scores_ideal_values():
    gt, vis, boxes = random_instances(np.random.default_rng(0), 5, 4)
    vis[1, 2] = 1  # occluded but labelled: still scored
    ev = make_ev(gt, vis, boxes)
    assert pm.pck(ev, 0.05)[0] == 100.0
    assert pm.rmse_px(ev)[0] == 0.0
    assert pm.oks_ap(ev)[0] == pytest.approx(100.0, abs=1e-9)
    assert pm.oks_ar(ev)[0] == pytest.approx(100.0, abs=1e-9)
    assert pm.oks_ap(ev)[1]["oks_threshold"] == pytest.approx({"0.50": 100.0, "0.75": 100.0})


def test_a_shift_of_3_4_px_is_5_px_against_a_50_px_normaliser():
    gt, vis, boxes = random_instances(np.random.default_rng(1), 4, 3)
    ev = make_ev(gt, vis, boxes, gt + [3.0, 4.0], norm=50)
    assert pm.pck(ev, 0.05)[0] == 0.0  # 5 px > 2.5 px
    assert pm.pck(ev, 0.1)[0] == 100.0  # 5 px <= 5 px: the threshold counts as correct
    assert pm.pck(ev, 0.2)[0] == 100.0
    value, breakdown = pm.rmse_px(ev)
    assert value == 5.0
    assert breakdown == {"per_keypoint": {"kp0": 5.0, "kp1": 5.0, "kp2": 5.0}}


def test_unlabelled_keypoints_are_skipped():
    gt, vis, boxes = random_instances(np.random.default_rng(2), 3, 4)
    pred = gt.copy()
    vis[0, 1] = 0  # not labelled: a wild prediction there does not count
    pred[0, 1] += 500
    gt[1, 2] = np.nan  # NaN ground truth with visibility 2: not labelled either
    pred[1, 2] = 900
    vis[:, 3] = 0  # a keypoint labelled nowhere: NaN in the breakdowns
    pred[:, 3] = -300
    ev = make_ev(gt, vis, boxes, pred)
    pck, pck_parts = pm.pck(ev, 0.05)
    rmse, rmse_parts = pm.rmse_px(ev)
    assert pck == 100.0 and rmse == 0.0
    assert np.isnan(pck_parts["per_keypoint"]["kp3"]) and np.isnan(
        rmse_parts["per_keypoint"]["kp3"]
    )
    assert pm.oks_ap(ev)[0] == pytest.approx(100.0, abs=1e-9)


def test_per_keypoint_breakdown_isolates_the_wrong_keypoint():
    gt, vis, boxes = random_instances(np.random.default_rng(3), 4, 3)
    pred = gt.copy()
    pred[:, 0] += [30.0, 40.0]  # 50 px on keypoint 0 only
    ev = make_ev(gt, vis, boxes, pred, norm=100)
    value, parts = pm.pck(ev, 0.1)
    assert value == pytest.approx(200 / 3) and parts["per_keypoint"] == {
        "kp0": 0.0,
        "kp1": 100.0,
        "kp2": 100.0,
    }
    value, parts = pm.rmse_px(ev)
    assert value == pytest.approx(np.sqrt(2500 / 3))
    assert parts["per_keypoint"] == {"kp0": 50.0, "kp1": 0.0, "kp2": 0.0}


def test_no_labelled_keypoint_is_an_error():
    gt, vis, boxes = random_instances(np.random.default_rng(4), 2, 2)
    ev = make_ev(gt, np.zeros_like(vis), boxes)
    for fn in (lambda e: pm.pck(e, 0.1), pm.rmse_px, pm.oks_ap):
        with pytest.raises(ValueError, match="no (labelled keypoint|instance)"):
            fn(ev)


# -- OKS AP / AR ----------------------------------------------------------------------------------
def direct_cocoeval(gt, vis, boxes, areas, pred, scores, image_ids, sigmas, sizes):
    """COCOeval built here from plain COCO dicts: ``stats`` (AP, AP50, AP75, APm, APl, AR, ...)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anns, dets, images = [], [], {}
    for i in range(len(gt)):
        v = np.where(vis[i] > 0, vis[i], 0)
        xy = np.where(v[:, None] > 0, gt[i], 0)
        images[int(image_ids[i])] = {
            "id": int(image_ids[i]),
            "width": float(sizes[i][0]),
            "height": float(sizes[i][1]),
        }
        anns.append(
            {
                "id": i + 1,
                "image_id": int(image_ids[i]),
                "category_id": 1,
                "keypoints": [
                    float(c) for x, y, vv in zip(xy[:, 0], xy[:, 1], v) for c in (x, y, vv)
                ],
                "num_keypoints": int((v > 0).sum()),
                "area": float(areas[i]),
                "bbox": [float(b) for b in boxes[i]],
                "iscrowd": 0,
            }
        )
        dets.append(
            {
                "image_id": int(image_ids[i]),
                "category_id": 1,
                "keypoints": [float(c) for x, y in pred[i] for c in (x, y, 1.0)],
                "score": float(np.mean(scores[i])),
            }
        )
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = {
            "images": list(images.values()),
            "annotations": anns,
            "categories": [{"id": 1, "name": "person"}],
        }
        coco_gt.createIndex()
        e = COCOeval(coco_gt, coco_gt.loadRes(dets), "keypoints")
        e.params.kpt_oks_sigmas = np.asarray(sigmas, float)
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats


def test_oks_ap_equals_a_direct_cocoeval_run_with_several_instances_per_image():
    rng = np.random.default_rng(5)
    n, k = 24, 6
    gt, vis, boxes = random_instances(rng, n, k)
    vis[rng.random((n, k)) < 0.2] = 0
    vis[rng.random((n, k)) < 0.2] = 1
    vis[:, 0] = 2  # every instance keeps a labelled keypoint
    pred = gt + rng.normal(0, 6, gt.shape) * rng.uniform(0.2, 2.0, (n, 1, 1))
    scores = rng.uniform(0, 1, (n, k))
    image_ids = np.repeat(np.arange(6), 4)  # 4 instances per image
    sigmas = rng.uniform(0.03, 0.1, k)
    gt_nan = np.where(vis[..., None] > 0, gt, np.nan)
    ev = make_ev(gt_nan, vis, boxes, pred, scores=scores, sigmas=sigmas, image_ids=image_ids)
    stats = direct_cocoeval(
        gt, vis, boxes, ev["areas"], pred, scores, image_ids, sigmas, ev["image_sizes"]
    )
    ap, parts = pm.oks_ap(ev)
    assert 0 < ap < 100
    assert ap == pytest.approx(100 * stats[0], abs=1e-9)
    assert parts["oks_threshold"]["0.50"] == pytest.approx(100 * stats[1], abs=1e-9)
    assert parts["oks_threshold"]["0.75"] == pytest.approx(100 * stats[2], abs=1e-9)
    assert pm.oks_ar(ev)[0] == pytest.approx(100 * stats[5], abs=1e-9)


def numpy_oks(gt, vis, pred, area, sigmas) -> float:
    """OKS = mean over labelled keypoints of exp(-d² / (2 s² k²)), s² = area, k = 2σ."""
    labelled = vis > 0
    d2 = ((pred - gt) ** 2).sum(-1)
    k2 = (2 * np.asarray(sigmas)) ** 2
    return float(np.exp(-d2 / (2 * area * k2))[labelled].mean())


def test_single_instance_ap_follows_an_independent_numpy_oks():
    gt = np.array([[[50.0, 50.0], [80.0, 60.0], [60.0, 120.0], [90.0, 150.0]]])
    vis = np.array([[2, 1, 2, 0]])
    boxes = np.array([[20.0, 20.0, 100.0, 150.0]])
    pred = gt + [12.0, 16.0]  # 20 px everywhere
    pred[0, 3] = [-400.0, 900.0]  # unlabelled: no effect
    sigmas = np.array([0.1, 0.1, 0.12, 0.1])
    ev = make_ev(gt, vis, boxes, pred, sigmas=sigmas)
    oks = numpy_oks(gt[0], vis[0], pred[0], ev["areas"][0], sigmas)
    assert 0.5 < oks < 0.75
    thresholds = np.linspace(0.5, 0.95, 10)
    assert not np.isclose(thresholds, oks, atol=1e-3).any()  # no threshold on a knife edge
    ap, parts = pm.oks_ap(ev)
    assert ap == pytest.approx(100 * np.mean(oks >= thresholds), abs=1e-9)
    assert parts["oks_threshold"] == pytest.approx({"0.50": 100.0, "0.75": 0.0}, abs=1e-9)
    assert pm.oks_ar(ev)[0] == pytest.approx(100 * np.mean(oks >= thresholds), abs=1e-9)


def test_without_image_ids_each_instance_is_its_own_image():
    """Two overlapping instances: per instance, each prediction is scored against its own."""
    gt = np.array([[[10.0, 10.0], [30.0, 30.0]], [[12.0, 12.0], [32.0, 32.0]]])
    boxes = np.array([[0.0, 0.0, 40.0, 40.0], [2.0, 2.0, 40.0, 40.0]])
    swapped = gt[::-1].copy()  # each prediction is the other instance's pose
    vis = np.full((2, 2), 2)
    alone = pm.oks_ap(make_ev(gt, vis, boxes, swapped))[0]
    shared = pm.oks_ap(make_ev(gt, vis, boxes, swapped, image_ids=[7, 7]))[0]
    assert shared == pytest.approx(100.0, abs=1e-9)  # COCO matching pairs them up per image
    assert alone < shared


# -- real COCO annotations ------------------------------------------------------------------------
def coco_mini_ev(shared_data, shift=(0.0, 0.0)) -> tuple[dict, dict]:
    path = shared_data / "coco_person_mini" / "annotations" / "person_keypoints_mini.json"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    data = json.loads(path.read_text())
    sizes = {im["id"]: (im["width"], im["height"]) for im in data["images"]}
    anns = data["annotations"]
    kp = np.array([a["keypoints"] for a in anns], float).reshape(len(anns), -1, 3)
    vis = kp[..., 2].astype(int)
    gt = np.where(vis[..., None] > 0, kp[..., :2], np.nan)
    boxes = np.array([a["bbox"] for a in anns], float)
    ev = make_ev(gt, vis, boxes, np.nan_to_num(gt) + shift, sigmas=COCO_PERSON_SIGMAS,
                 image_ids=[a["image_id"] for a in anns])  # fmt: skip
    ev["areas"] = np.array([a["area"] for a in anns], float)
    ev["image_sizes"] = np.array([sizes[a["image_id"]] for a in anns], float)
    return ev, {"path": path, "anns": anns}


def test_coco_person_mini_ground_truth_as_prediction_scores_ap_100(shared_data):
    ev, _ = coco_mini_ev(shared_data)
    assert len(ev["gt"]) == 14 and (ev["visibility"].sum(axis=1) == 0).sum() == 2
    assert pm.oks_ap(ev)[0] == pytest.approx(100.0, abs=1e-9)
    assert pm.oks_ar(ev)[0] == pytest.approx(100.0, abs=1e-9)
    assert pm.pck(ev, 0.05)[0] == 100.0 and pm.rmse_px(ev)[0] == 0.0


def test_coco_person_mini_shifted_prediction_matches_cocoeval_on_the_file(shared_data):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ev, src = coco_mini_ev(shared_data, shift=(4.0, 3.0))  # 5 px on every keypoint
    ap, parts = pm.oks_ap(ev)
    assert ap < 100.0 and parts["oks_threshold"]["0.50"] > parts["oks_threshold"]["0.75"]
    # the same detections through COCO's own loader of the json (zero-keypoint persons included)
    coco_gt = quiet(COCO, str(src["path"]))
    dets = [
        {"image_id": a["image_id"], "category_id": 1, "score": 1.0,
         "keypoints": [c for x, y in ev["pred"][i] for c in (float(x), float(y), 1.0)]}
        for i, a in enumerate(src["anns"]) if a["num_keypoints"] > 0
    ]  # fmt: skip
    with contextlib.redirect_stdout(io.StringIO()):
        e = COCOeval(coco_gt, coco_gt.loadRes(dets), "keypoints")
        e.params.kpt_oks_sigmas = np.asarray(COCO_PERSON_SIGMAS)
        e.evaluate()
        e.accumulate()
        e.summarize()
    assert ap == pytest.approx(100 * e.stats[0], abs=1e-9)
    assert parts["oks_threshold"]["0.50"] == pytest.approx(100 * e.stats[1], abs=1e-9)
    assert parts["oks_threshold"]["0.75"] == pytest.approx(100 * e.stats[2], abs=1e-9)
    assert pm.oks_ar(ev)[0] == pytest.approx(100 * e.stats[5], abs=1e-9)


# -- the task's registered metrics ----------------------------------------------------------------
def test_registered_metrics_and_the_mean_pose_baseline_scores_worse_than_perfect():
    specs = pose2d.kpbench_metrics()
    assert [(m.name, m.unit, m.higher_is_better) for m in specs] == [
        ("pck@0.05", "%", True),
        ("pck@0.1", "%", True),
        ("pck@0.2", "%", True),
        ("rmse_px", "px", False),
        ("oks_ap", "%", True),
        ("oks_ar", "%", True),
    ]
    evalset = pose2d.smoke(0)
    options = {"pck_normaliser": "box"}
    perfect = score(specs, pose2d.evaluation(evalset, PERFECT["pose2d"](evalset), options))
    baseline = pose2d.baseline_mean_pose(evalset, {}, 0)
    base = score(specs, pose2d.evaluation(evalset, baseline, options))
    for m in specs:
        p, b = perfect[m.name]["value"], base[m.name]["value"]
        assert p is not None and b is not None, (m.name, base[m.name].get("error"))
        assert (b < p) if m.higher_is_better else (b > p), (m.name, b, p)
    assert set(perfect["pck@0.1"]["breakdown"]["per_keypoint"]) == {"end_a", "middle", "end_b"}
    assert perfect["oks_ap"]["breakdown"]["oks_threshold"] == pytest.approx(
        {"0.50": 100.0, "0.75": 100.0}
    )


def test_evaluation_gives_instances_of_one_frame_one_image_id():
    assert pose2d._image_ids(["a#1", "b#2", "a#1", "c#3", "b#2"]).tolist() == [0, 1, 0, 2, 1]
