"""BKinD end to end with the smoke preset: CalMS21 twin, an unlabelled clip, exports and overlays."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from kpbench.plugins import get_registry
from kpbench.runner import RunOptions, run
from kpbench_plugins.bkind.method import to_pixels


@pytest.fixture(scope="module")
def calms_twin(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("calms")
    get_registry().dataset("calms21").synthesize(
        out, 0, n_train=2, n_test=1, frames=48, width=128, height=128
    )
    return out


@pytest.fixture(scope="module")
def smoke_record(calms_twin, tmp_path_factory) -> dict:
    results = tmp_path_factory.mktemp("results")
    return run(
        RunOptions(
            method="bkind",
            dataset="calms21",
            data_dir=calms_twin,
            preset="smoke",
            results_dir=results,
            mlflow=False,
            progress=False,
        )
    )


def test_smoke_run_record(smoke_record):
    rec = json.loads(Path(smoke_record["_path"]).read_text())
    assert rec["status"] == "finished" and rec["preset"] == "smoke" and rec["task"] == "discovery2d"
    assert rec["config"]["image_size"] == 64 and rec["config"]["backbone"] == "resnet18"
    assert set(rec["metrics"]) >= {"regression_error", "regression_error_px", "pck@0.05", "pck@0.1"}
    assert set(rec["baselines"]) == {"random", "grid"}
    assert rec["notes"]["encoder_weights"].startswith("random init")
    assert "pixel" in rec["notes"]["perceptual_loss"]
    ev = rec["evaluation"]
    assert ev["selection"]["fit_frames"] > 0 and ev["selection"]["test_frames"] > 0
    assert ev["inputs"] == ev["selection"]["fit_frames"] + ev["selection"]["test_frames"]
    assert ev["unit"] == "frame" and len(ev["inputs_hash"]) == 12
    assert ev["options"]["regression_origin"] == "centre" and "centre-origin" in ev["protocol"]
    assert rec["trains"] and rec["timing"]["train_step_on"] and rec["timing"]["n"] > 0
    assert rec["flops"]["sample"] == "frame"
    assert Path(rec["data"]["dir"]).is_absolute()
    assert [h["epoch"] for h in rec["history"]] == [0, 1]
    assert (
        rec["history"][0]["equivariance"] == 0 and rec["history"][1]["equivariance"] > 0
    )  # curriculum 1


def test_exported_keypoints_follow_the_documented_format(smoke_record):
    folder = Path(smoke_record["_path"]).parent
    files = sorted(
        smoke_record["artifacts"][k]
        for k in smoke_record["artifacts"]
        if k.startswith("keypoints/")
    )
    assert len(files) == 3  # one per video, all splits
    with np.load(folder / files[0]) as z:
        n, k = z["keypoints"].shape[:2]
        assert k == 10 and z["keypoints"].shape == (n, k, 2) and z["covariance"].shape == (n, k, 3)
        assert tuple(z["image_size"]) == (128, 128) and float(z["fps"]) == 30.0
        assert (np.diff(z["frame_index"]) > 0).all()
        assert ((z["confidence"] > 0) & (z["confidence"] <= 1)).all()
        assert (z["keypoints"] > -1).all() and (z["keypoints"] < 128).all()
        assert (z["covariance"][..., :2] >= 0).all()


def test_overlays_are_images_and_video(smoke_record):
    import cv2

    folder = Path(smoke_record["_path"]).parent
    img = cv2.imread(str(folder / smoke_record["artifacts"]["overlay_image"]))
    assert img is not None and img.shape == (640, 640, 3)
    cap = cv2.VideoCapture(str(folder / smoke_record["artifacts"]["overlay_video"]))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 12  # overlay_frames of the smoke preset


def test_unlabelled_clip_gives_discovery_and_overlays_without_metrics(calms_twin, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    shutil.copy(next((calms_twin / "videos").glob("*.mp4")), clips / "session.mp4")
    rec = run(
        RunOptions(
            method="bkind",
            dataset="video",
            data_dir=clips,
            preset="smoke",
            results_dir=tmp_path / "r",
            mlflow=False,
            progress=False,
            sets=["preprocess=colour_mask", "hsv_lower=[0, 0, 0]"],
        )
    )
    assert rec["status"] == "finished" and rec["metrics"] == {}
    assert "no labelled frames" in rec["notes"]["metrics_unavailable"]
    assert rec["notes"]["preprocess"] == "colour_mask"
    assert {"keypoints/session", "overlay_image", "overlay_video"} <= set(rec["artifacts"])


def test_to_pixels_maps_grid_ends_to_pixel_centres():
    pred = {
        "keypoints": np.array([[[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]]),
        "confidence": np.ones((1, 3)),
        "covariance": np.array([[[1.0, 4.0, 0.5]] * 3]),
    }
    # heatmap as large as the frame: -1 and 1 are the first and last pixel centres
    out = to_pixels(pred, (64, 32), 64)  # y: 64 heatmap rows over 32 px, first centre at 0.25 - 0.5
    assert out["keypoints"][0, 0] == pytest.approx([0.0, -0.25])
    same = to_pixels(pred, (64, 64), 64)
    assert same["keypoints"][0, 0] == pytest.approx([0.0, 0.0])
    assert same["keypoints"][0, 1] == pytest.approx([63.0, 63.0])
    assert same["keypoints"][0, 2] == pytest.approx([31.5, 31.5])
    slope = 63 / 2
    assert same["covariance"][0, 0] == pytest.approx([slope**2, 4 * slope**2, 0.5 * slope**2])


def test_the_trained_encoder_is_scored_under_the_propagation_protocol(
    smoke_record, calms_twin, tmp_path
):
    rec = run(
        RunOptions(
            method="bkind",
            dataset="calms21",
            data_dir=calms_twin,
            task="propagation",
            preset="smoke",
            sets=[
                f"checkpoint={smoke_record['_path']}",
                "task.max_frames=6",
                "task.size=64",
                "task.max_videos=1",
            ],
            results_dir=tmp_path,
            mlflow=False,
            progress=False,
        )  # fmt: skip
    )
    assert rec["status"] == "finished" and rec["task"] == "propagation" and not rec["trains"]
    assert rec["history"] == [] and "train_step_median" not in rec["timing"]
    assert rec["notes"]["encoder_weights"].endswith("tensors under 'encoder.')")
    assert "checkpoint.pt" in rec["notes"]["encoder_weights"]
    assert 0 <= rec["metrics"]["pck@0.1"]["value"] <= 100
    assert "held_still" in rec["baselines"]
