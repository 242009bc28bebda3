"""pose2d predictions out as COCO files: pycocotools reads them and scores what the record says."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from kpbench.evaluation import EvalSet, evaluate
from kpbench.metrics import pose2d as pm
from kpbench.plugins import get_registry

pytest.importorskip("pycocotools")


def _record(rng, n=9, k=5):
    corners = rng.integers(0, 300, (n, 1, 2)).astype(float)
    gt = corners + rng.uniform(0, 80, (n, k, 2))
    vis = rng.choice([0, 1, 2], (n, k), p=[0.2, 0.2, 0.6])
    vis[:, 0] = 2
    gt[vis == 0] = np.nan
    boxes = np.concatenate([corners[:, 0], np.full((n, 2), 80.0)], axis=1)
    return {
        "pred": np.nan_to_num(gt) + rng.normal(0, 3, (n, k, 2)),
        "scores": rng.uniform(0.2, 1.0, (n, k)),
        "gt": gt,
        "visibility": vis,
        "boxes": boxes,
        "areas": rng.uniform(2000, 7000, n),
        "pck_normaliser": boxes[:, 2:].max(axis=1),
        "sigmas": rng.uniform(0.03, 0.1, k),
        "keypoint_names": [f"kp{j}" for j in range(k)],
        "image_sizes": np.full((n, 2), 400.0),
        "image_ids": np.array([139, 139, 139, 785, 785, 0, 12, 12, 12])[:n],  # COCO-like ids
    }


def test_written_files_reproduce_oks_ap_through_pycocotools(tmp_path):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    ev = _record(np.random.default_rng(3))
    paths = pm.write_coco(ev, tmp_path)
    assert set(paths) == {"predictions", "ground_truth"}
    results = json.loads(paths["predictions"].read_text())
    assert len(results) == len(ev["gt"])
    assert {r["image_id"] for r in results} == {0, 12, 139, 785}  # the dataset's own ids
    first = np.asarray(results[0]["keypoints"]).reshape(-1, 3)
    np.testing.assert_allclose(first[:, :2], ev["pred"][0])
    np.testing.assert_allclose(first[:, 2], ev["scores"][0])
    assert results[0]["score"] == pytest.approx(ev["scores"][0].mean())
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(paths["ground_truth"]))
        coco_dt = coco_gt.loadRes(str(paths["predictions"]))
        e = COCOeval(coco_gt, coco_dt, "keypoints")
        e.params.kpt_oks_sigmas = ev["sigmas"]
        e.evaluate()
        e.accumulate()
        e.summarize()
    value, _ = pm.oks_ap(ev)
    assert 0 < value < 100
    assert e.stats[0] * 100 == pytest.approx(value)
    assert coco_gt.loadCats(1)[0]["keypoints"] == ev["keypoint_names"]


class _Ctx:
    is_main = True

    def __init__(self, run_dir):
        self.run_dir = run_dir
        self.artifacts = {}

    def add_artifact(self, key, path):
        self.artifacts[key] = path


class _Truth:
    name = "truth"

    def __init__(self, evalset: EvalSet):
        self.kp = np.nan_to_num(evalset.truth["keypoints"])

    def predict(self, inputs, ctx):
        return {"keypoints": self.kp[: len(inputs)], "scores": np.ones(self.kp.shape[:2])}


def test_a_pose2d_run_lists_coco_files_and_the_arrays(tmp_path):
    task = get_registry().task("pose2d")
    evalset = task.smoke(0)
    ctx = _Ctx(tmp_path)
    options = dict(task.options)
    exporters = get_registry().exporters("pose2d")
    rec = evaluate(task, evalset, _Truth(evalset), options, [], ctx, 0, exporters)
    assert rec["evaluation"]["unavailable"] is None
    assert ctx.artifacts["predictions"].name == "predictions.coco.json"
    assert ctx.artifacts["ground_truth"].name == "ground_truth.coco.json"
    assert ctx.artifacts["prediction_arrays"].name == "predictions.npz"
    with np.load(ctx.artifacts["prediction_arrays"]) as z:
        np.testing.assert_allclose(z["keypoints"], np.nan_to_num(evalset.truth["keypoints"]))


def test_a_task_without_its_own_format_keeps_the_npz_as_predictions(tmp_path):
    task = get_registry().task("discovery2d")
    assert get_registry().exporters("discovery2d") == []
    evalset = task.smoke(0)

    class Grid:
        name = "grid"

        def predict(self, inputs, ctx):
            return {"keypoints": np.zeros((len(inputs), 3, 2))}

    ctx = _Ctx(tmp_path)
    evaluate(task, evalset, Grid(), dict(task.options), [], ctx, 0, [])
    assert set(ctx.artifacts) == {"predictions"}
    assert ctx.artifacts["predictions"].name == "predictions.npz"


def test_a_failing_exporter_is_noted_by_name_and_the_others_still_write(tmp_path):
    from kpbench import hookimpl
    from kpbench.plugins import Registry
    from kpbench.specs import ExporterSpec

    class Fragile:
        @hookimpl
        def kpbench_exporters(self):
            def write(evaluation, folder):
                raise OSError("disk full")

            return [ExporterSpec("fragile", "pose2d", write)]

    reg = Registry()
    reg.register(Fragile(), name="fragile_plugin")
    exporters = reg.exporters("pose2d")
    assert [e.spec.name for e in exporters] == ["coco", "fragile"]
    task = reg.task("pose2d")
    evalset = task.smoke(0)

    class NotingCtx(_Ctx):
        notes: dict = {}

        def note(self, key, value):
            self.notes[key] = value

    ctx = NotingCtx(tmp_path)
    evaluate(task, evalset, _Truth(evalset), dict(task.options), [], ctx, 0, exporters)
    assert ctx.artifacts["predictions"].name == "predictions.coco.json"
    assert ctx.notes["export_errors"] == {"fragile": "plugin fragile_plugin: OSError: disk full"}
