"""The task contract end to end: tasks own evaluation, methods only predict, baselines and
metrics through one code path, predictors that never train, refusals before training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import kpbench
from kpbench.cli import main
from kpbench.errors import ConfigError, IncompatibleError
from kpbench.evaluation import PredictionError
from kpbench.results import validate_record
from kpbench.runner import RunOptions, run
from kpbench.specs import MetricSpec


def opts(toy_data, tmp_path, **kw) -> RunOptions:
    base = dict(
        method="toymethod",
        dataset="toy",
        data_dir=toy_data,
        results_dir=tmp_path / "res",
        mlflow=False,
        progress=False,
        preset="smoke",
    )
    return RunOptions(**{**base, **kw})


def test_a_method_that_does_not_train_gets_a_finished_record_without_training(
    toy_registry, toy_data, tmp_path, capsys
):
    argv = ["run", "--method", "toygrid", "--dataset", "toy", "--data-dir", str(toy_data),
            "--preset", "smoke", "--no-mlflow", "--no-progress", "--results", str(tmp_path)]  # fmt: skip
    assert main(argv) == 0
    (path,) = (tmp_path / "toy" / "toygrid").glob("*.json")
    rec = json.loads(path.read_text())
    validate_record(rec)
    assert rec["status"] == "finished" and rec["trains"] is False and rec["history"] == []
    assert "train_step_median" not in rec["timing"] and "train_step_p90" not in rec["timing"]
    assert rec["timing"]["train_step_on"] is None and "train_step" not in rec["timing"]["covers"]
    assert rec["params"] == 0 and rec["metrics"]["regression_error"]["value"] >= 0
    assert "checkpoint" not in rec["artifacts"] and "predictions" in rec["artifacts"]


def test_two_methods_are_scored_on_identical_inputs(toy_registry, toy_data, tmp_path):
    a = run(opts(toy_data, tmp_path, method="toymethod"), toy_registry)
    b = run(opts(toy_data, tmp_path, method="toygrid"), toy_registry)
    assert a["evaluation"]["inputs_hash"] == b["evaluation"]["inputs_hash"]
    assert a["evaluation"]["inputs"] == b["evaluation"]["inputs"] == 24
    # the baselines come from the task, through the same metric code, for both
    assert set(a["baselines"]) == set(b["baselines"]) == {"random", "grid"}
    # the grid method is the grid baseline (same K=4 grid) -> the same regression error
    grid = b["metrics"]["regression_error"]["value"]
    assert b["baselines"]["grid"]["regression_error"] == pytest.approx(grid)
    # another selection (fewer test frames) is another hash
    c = run(
        opts(toy_data, tmp_path, method="toygrid", sets=["task.max_test_frames=4"]), toy_registry
    )
    assert c["evaluation"]["inputs_hash"] != b["evaluation"]["inputs_hash"]
    assert c["evaluation"]["options"]["max_test_frames"] == 4


def test_the_method_never_sees_ground_truth(toy_registry, toy_data, tmp_path, monkeypatch):
    seen = []
    from toy_plugin import ToyMethod

    original = ToyMethod.predict

    def spy(self, inputs, ctx):
        seen.extend(inputs)
        return original(self, inputs, ctx)

    monkeypatch.setattr(ToyMethod, "predict", spy)
    run(opts(toy_data, tmp_path), toy_registry)
    assert seen and all(set(x) == {"source", "image_size", "load", "video", "index"} for x in seen)


def test_a_failing_metric_is_recorded_and_the_others_still_score(toy_registry, toy_data, tmp_path):
    class Broken:
        __name__ = "broken_metric"

        @kpbench.hookimpl
        def kpbench_metrics(self):
            def fails(ev):
                raise ZeroDivisionError("on purpose")

            return [MetricSpec("always_fails", "discovery2d", fails, "%", False)]

    toy_registry.register(Broken(), name="broken_metric")
    rec = run(opts(toy_data, tmp_path), toy_registry)
    assert rec["status"] == "finished"
    bad = rec["metrics"]["always_fails"]
    assert bad["value"] is None and "ZeroDivisionError: on purpose" in bad["error"]
    assert rec["metrics"]["regression_error"]["value"] is not None
    assert rec["baselines"]["grid"]["always_fails"] is None
    assert rec["metrics"]["pck@0.1"]["breakdown"]["per_joint"]["centre"] >= 0  # by keypoint name


def test_a_task_without_metrics_refuses_to_run(toy_registry, toy_data, tmp_path, monkeypatch):
    monkeypatch.setattr(toy_registry, "metrics", lambda task=None: [])
    with pytest.raises(IncompatibleError, match="task discovery2d has no metric installed"):
        run(opts(toy_data, tmp_path), toy_registry)
    assert not (tmp_path / "res").exists()


def test_a_prediction_of_the_wrong_shape_fails_the_run_naming_the_field(
    toy_registry, toy_data, tmp_path, monkeypatch
):
    from toy_plugin import GridMethod

    monkeypatch.setattr(
        GridMethod,
        "predict",
        lambda self, inputs, ctx: {"keypoints": np.zeros((len(inputs), 4, 3))},
    )
    with pytest.raises(
        kpbench.errors.KpbenchError, match=r"method toygrid: field 'keypoints' has shape"
    ):
        run(opts(toy_data, tmp_path, method="toygrid"), toy_registry)
    assert issubclass(PredictionError, kpbench.errors.KpbenchError)


def test_unknown_task_option_is_a_clear_error(toy_registry, toy_data, tmp_path):
    with pytest.raises(ConfigError, match="task discovery2d has no option 'nope'"):
        run(opts(toy_data, tmp_path, sets=["task.nope=1"]), toy_registry)


def test_resume_never_touches_a_finished_run(toy_registry, toy_data, tmp_path):
    done = run(opts(toy_data, tmp_path), toy_registry)
    before = Path(done["_path"]).read_text()
    with pytest.raises(ConfigError, match="no interrupted run"):
        run(opts(toy_data, tmp_path, resume="latest"), toy_registry)
    with pytest.raises(ConfigError, match="that run finished"):
        run(opts(toy_data, tmp_path, resume=done["run_id"]), toy_registry)
    assert Path(done["_path"]).read_text() == before


def test_data_dir_is_recorded_resolved_and_threads_are_recorded(
    toy_registry, toy_data, tmp_path, monkeypatch
):
    import torch

    monkeypatch.chdir(toy_data.parent)
    threads = torch.get_num_threads()
    try:
        rec = run(opts(Path(toy_data.name), tmp_path, threads=1), toy_registry)
    finally:
        torch.set_num_threads(threads)
    assert rec["data"]["dir"] == str(toy_data.resolve())
    assert rec["timing"]["threads"] == 1 and rec["env"]["threads"] == 1
    assert rec["timing"]["n"] >= 1 and rec["timing"]["warmup"] >= 0 and rec["timing"]["dtype"]
    with pytest.raises(ConfigError, match="--threads 0"):
        run(opts(toy_data, tmp_path, threads=0), toy_registry)


def test_list_and_info_show_the_seven_tasks(capsys):
    assert main(["list", "tasks", "--format", "json"]) == 0
    tasks = {t["name"]: t for t in json.loads(capsys.readouterr().out)["tasks"]}
    assert set(tasks) == {
        "discovery2d", "pose2d", "lifting3d", "multiview3d", "alignment", "behavior", "propagation",
    }  # fmt: skip
    assert main(["info", "pose2d", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["baselines"] == ["mean_pose"] and info["unit"] == "instance crop"
    assert any(line.startswith("visibility (K,)") for line in info["sample"])
    assert any(line.startswith("keypoints (N, K, 2)") for line in info["prediction"])
    assert main(["info", "discovery2d"]) == 0
    text = capsys.readouterr().out
    assert "regression_error [%]" in text and "baselines random, grid" in text


def test_a_dataset_can_serve_frames_from_memory_and_from_an_image_list(
    toy_registry, toy_data, tmp_path
):
    """``VideoItem.reader`` is any :class:`kpbench.video.Frames`: memory and image lists run too."""
    from toy_plugin import ToyData

    from kpbench.dataset import VideoItem
    from kpbench.video import ArrayFrames, VideoReader

    files = sorted((toy_data / "frames").glob("*.png"))
    listed = VideoReader(files, name="listed")
    memory = ArrayFrames(listed.read_all(), name="memory", fps=25.0)
    assert (listed.num_frames, memory.num_frames, memory.path) == (24, 24, None)
    np.testing.assert_array_equal(memory.read(5), listed.read(5))

    class MemoryData(ToyData):
        def videos(self, split=None):
            items = [
                VideoItem(memory, "train", 0, 16, self.kp),
                VideoItem(listed, "test", 16, None, self.kp),
            ]
            return [v for v in items if split in (None, v.split)]

    spec = toy_registry.datasets()["toy"].spec
    monkey = type(spec)(**{**spec.__dict__, "build": lambda d, **o: MemoryData(Path(d))})
    toy_registry.datasets()["toy"].spec = monkey
    rec = run(opts(toy_data, tmp_path, method="toymethod"), toy_registry)
    assert rec["status"] == "finished" and rec["evaluation"]["inputs"] == 24
    assert rec["metrics"]["regression_error"]["value"] is not None


def test_a_missing_data_folder_says_how_to_get_the_data(toy_registry, tmp_path, capsys):
    spec = toy_registry.datasets()["toy"].spec
    toy_registry.datasets()["toy"].spec = type(spec)(**{**spec.__dict__, "data_hint": "run synth"})
    rc = main(["run", "--method", "toygrid", "--dataset", "toy", "--data-dir", str(tmp_path / "no"),
               "--no-mlflow", "--results", str(tmp_path)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.endswith("; to get the data: run synth") and "\n" not in err
    assert main(["list", "datasets", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)["datasets"]
    assert next(d for d in listed if d["name"] == "toy")["data_hint"] == "run synth"
