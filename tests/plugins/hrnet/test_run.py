"""HRNet end to end with the smoke preset: synthetic clips, the CalMS21 twin (two mice a frame),
real DeepLabCut / SLEAP / COCO samples, COCO files out, pretrained weights from a local file."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from kpbench.plugins import get_registry
from kpbench.runner import RunOptions, run
from kpbench_plugins.hrnet.model import HRNet


def _run(tmp_path_factory, dataset, data_dir, **over) -> dict:
    rec = run(
        RunOptions(
            method="hrnet",
            dataset=dataset,
            data_dir=data_dir,
            preset="smoke",
            results_dir=tmp_path_factory.mktemp("results"),
            mlflow=False,
            progress=False,
            task="pose2d",
            **over,
        )
    )
    path = Path(rec["_path"])
    return {**json.loads(path.read_text()), "_path": str(path)}


def _files(rec: dict) -> tuple[dict, list]:
    folder = Path(rec["_path"]).parent
    gt = json.loads((folder / rec["artifacts"]["ground_truth"]).read_text())
    return gt, json.loads((folder / rec["artifacts"]["predictions"]).read_text())


def _coco_ap(rec: dict, sigmas) -> float:
    """OKS AP of the run's COCO files by pycocotools, as a user would compute it."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    folder = Path(rec["_path"]).parent
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(folder / rec["artifacts"]["ground_truth"]))
        dt = gt.loadRes(str(folder / rec["artifacts"]["predictions"]))
        e = COCOeval(gt, dt, "keypoints")
        e.params.kpt_oks_sigmas = np.asarray(sigmas, float)
        e.params.maxDets = [max(20, max(len(gt.getAnnIds(imgIds=i)) for i in gt.getImgIds()))]
        e.evaluate()
        e.accumulate()
        e.summarize()
    return e.stats[0] * 100


@pytest.fixture(scope="module")
def video_record(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("clips")
    get_registry().dataset("video").synthesize(out, 0, frames=60, width=96, height=96)
    return _run(tmp_path_factory, "video", out)


def test_smoke_run_record(video_record):
    rec = video_record
    assert rec["status"] == "finished" and rec["task"] == "pose2d" and rec["trains"]
    assert set(rec["metrics"]) == {"pck@0.05", "pck@0.1", "pck@0.2", "rmse_px", "oks_ap", "oks_ar"}
    assert set(rec["baselines"]) == {"mean_pose"}
    assert rec["notes"]["pretrained"].startswith("none")
    assert rec["notes"]["train_instances"] > 0
    assert [h["epoch"] for h in rec["history"]] == [0, 1]
    assert rec["flops"]["sample"] == "instance crop" and rec["timing"]["train_step_on"]
    assert {"predictions", "ground_truth", "prediction_arrays", "checkpoint"} <= set(
        rec["artifacts"]
    )
    gt, results = _files(rec)
    k = len(gt["categories"][0]["keypoints"])
    assert rec["params"] == sum(p.numel() for p in HRNet(8, k).parameters())
    assert len(results) == rec["evaluation"]["inputs"]


def test_coco_files_of_a_run_score_what_the_record_says(video_record):
    gt, _ = _files(video_record)
    sigmas = np.full(len(gt["categories"][0]["keypoints"]), 0.1)  # the video dataset's default
    ap = _coco_ap(video_record, sigmas)
    assert ap == pytest.approx(video_record["metrics"]["oks_ap"]["value"], abs=1e-6)


def test_calms21_twin_gives_one_crop_per_mouse(tmp_path_factory):
    out = tmp_path_factory.mktemp("calms")
    get_registry().dataset("calms21").synthesize(
        out, 0, n_train=1, n_test=1, frames=24, width=128, height=96
    )
    rec = _run(tmp_path_factory, "calms21", out)
    gt, results = _files(rec)
    assert rec["status"] == "finished" and len(gt["categories"][0]["keypoints"]) == 7
    with np.load(Path(rec["_path"]).parent / rec["artifacts"]["prediction_arrays"]) as z:
        mice = {str(i).rsplit("/", 1)[-1] for i in z["ids"]}
    assert mice == {"resident", "intruder"}
    assert rec["metrics"]["rmse_px"]["value"] > 0


def test_pretrained_backbone_from_a_local_file_is_loaded_and_recorded(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    get_registry().dataset("video").synthesize(out, 1, frames=30, width=64, height=64)
    donor = HRNet(8, 4)
    state = {f"module.{k}": v for k, v in donor.state_dict().items()}
    state["classifier.weight"] = torch.zeros(10, 2048)  # an ImageNet file's extra head
    path = tmp_path_factory.mktemp("weights") / "hrnet_w8_imagenet.pth"
    torch.save(state, path)
    rec = _run(tmp_path_factory, "video", out, sets=[f"pretrained={path}"])
    note = rec["notes"]["pretrained"]
    assert note["source"] == str(path) and note["skipped"] >= 1
    assert note["loaded"] > 0 and note["loaded"] <= note["of"]


def test_dlc_project_with_missing_keypoints(shared_data, tmp_path_factory):
    rec = _run(tmp_path_factory, "video", shared_data / "dlc_openfield_mouse")
    assert rec["status"] == "finished" and rec["evaluation"]["inputs"] > 0
    assert set(rec["metrics"]) >= {"rmse_px", "oks_ap"} and "mean_pose" in rec["baselines"]


def test_coco_person_mini_keeps_coco_image_ids(shared_data, tmp_path_factory):
    from kpbench.dataset import COCO_PERSON_SIGMAS

    rec = _run(
        tmp_path_factory, "video", shared_data / "coco_person_mini", sets=["data.test_fraction=0.5"]
    )
    gt, results = _files(rec)
    official = json.loads(
        next((shared_data / "coco_person_mini" / "annotations").glob("*.json")).read_text()
    )
    assert {r["image_id"] for r in results} <= {im["id"] for im in official["images"]}
    ap = _coco_ap(rec, COCO_PERSON_SIGMAS)
    assert ap == pytest.approx(rec["metrics"]["oks_ap"]["value"], abs=1e-6)
