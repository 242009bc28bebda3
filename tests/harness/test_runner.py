"""One run end to end with the in-process toy plugin: record, failure, resume, MLflow."""

from __future__ import annotations

import json
import socket

import pytest

import kpbench
from kpbench.errors import ConfigError, IncompatibleError, KpbenchError
from kpbench.results import REQUIRED_KEYS, validate_record
from kpbench.runner import RunOptions, choose_device, run
from kpbench.specs import DatasetSpec


def opts(toy_data, tmp_path, **kw) -> RunOptions:
    base = dict(
        method="toymethod",
        dataset="toy",
        data_dir=toy_data,
        results_dir=tmp_path / "res",
        mlflow=False,
        progress=False,
    )
    return RunOptions(**{**base, **kw})


def test_record_has_everything(toy_registry, toy_data, tmp_path):
    rec = run(opts(toy_data, tmp_path, sets=["lr=0.3"], seed=3), toy_registry)
    on_disk = json.loads(open(rec["_path"]).read())
    validate_record(on_disk)
    assert set(REQUIRED_KEYS) <= set(on_disk)
    assert (
        on_disk["status"] == "finished" and on_disk["seed"] == 3 and on_disk["preset"] == "default"
    )
    assert on_disk["config"] == {"num_keypoints": 1, "lr": 0.3, "epochs": 3, "fail_at_epoch": None}
    assert [h["epoch"] for h in on_disk["history"]] == [0, 1, 2]
    err = on_disk["metrics"]["regression_error"]
    assert err["unit"] == "%" and err["higher_is_better"] is False and err["value"] >= 0
    assert on_disk["params"] == 3 * 1 + 1  # one 1x1 conv, 3 -> 1 channels
    assert on_disk["flops"]["per_sample"] == 2 * 3 * 32 * 32
    t = on_disk["timing"]
    assert t["inference_latency_median"]["unit"] == "ms/sample" and "cpu" in t["device"]
    assert on_disk["env"]["torch"] and on_disk["artifacts"]["checkpoint"].endswith("checkpoint.pt")
    assert (tmp_path / "res" / "toy" / "toymethod" / on_disk["artifacts"]["checkpoint"]).is_file()


def test_failed_run_writes_a_failed_record_and_resume_continues(toy_registry, toy_data, tmp_path):
    with pytest.raises(KpbenchError, match="train failed: RuntimeError: planned failure"):
        run(opts(toy_data, tmp_path, sets=["fail_at_epoch=2"]), toy_registry)
    (path,) = (tmp_path / "res" / "toy" / "toymethod").glob("*.json")
    failed = json.loads(path.read_text())
    validate_record(failed)
    assert failed["status"] == "failed" and "planned failure" in failed["error"]
    assert [h["epoch"] for h in failed["history"]] == [0, 1]
    rec = run(opts(toy_data, tmp_path, resume="latest"), toy_registry)
    assert rec["run_id"] == failed["run_id"] and rec["status"] == "finished"
    assert [h["epoch"] for h in rec["history"]] == [0, 1, 2]


def test_mlflow_run_in_a_temporary_sqlite_store(toy_registry, toy_data, tmp_path, monkeypatch):
    import mlflow

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    rec = run(
        opts(toy_data, tmp_path, mlflow=True, tracking_uri=uri, experiment="toyexp"), toy_registry
    )
    assert rec["tracking"]["error"] is None
    client = mlflow.MlflowClient(uri)
    runs = mlflow.search_runs(experiment_names=["toyexp"], output_format="pandas")
    assert len(runs) == 1
    row = runs.iloc[0]
    assert (
        row["params.lr"] == "0.5"
        and row["tags.method"] == "toymethod"
        and row["status"] == "FINISHED"
    )
    assert row["metrics.regression_error"] == pytest.approx(
        rec["metrics"]["regression_error"]["value"]
    )
    history = client.get_metric_history(row["run_id"], "train/loss")
    assert [m.step for m in history] == [0, 1, 2]
    artifacts = [a.path for a in client.list_artifacts(row["run_id"])]
    assert {"record.json", "checkpoint.pt", "predictions.npz"} <= set(artifacts)
    assert row["metrics.baseline/grid/regression_error"] == pytest.approx(
        rec["baselines"]["grid"]["regression_error"]
    )


def test_unreachable_tracking_server_still_writes_the_record(toy_registry, toy_data, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rec = run(
        opts(toy_data, tmp_path, mlflow=True, tracking_uri=f"http://127.0.0.1:{port}"), toy_registry
    )
    assert rec["status"] == "finished"
    assert rec["tracking"]["error"]
    assert json.loads(open(rec["_path"]).read())["status"] == "finished"


class BehaviourOnly:
    __name__ = "behaviour_only"

    @kpbench.hookimpl
    def kpbench_datasets(self):
        return [DatasetSpec(name="labelsonly", tasks=("behavior",), build=lambda d, **o: None)]


def test_impossible_pair_names_the_datasets_that_work(toy_registry, tmp_path):
    toy_registry.register(BehaviourOnly(), name="behaviour_only")
    with pytest.raises(IncompatibleError) as exc:
        run(
            RunOptions(method="toymethod", dataset="labelsonly", results_dir=tmp_path), toy_registry
        )
    msg = str(exc.value)
    assert "cannot run on dataset labelsonly (behavior)" in msg
    assert "datasets that work with toymethod:" in msg and "toy" in msg and "calms21" in msg
    assert not (tmp_path / "labelsonly").exists()


def test_cuda_requested_without_gpu_is_a_clear_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(
        ConfigError, match="no CUDA device is available here; use --device cpu or auto"
    ):
        choose_device("cuda")
    assert choose_device("auto").type == "cpu"


def test_build_gets_task_and_dims_only_when_it_takes_them():
    from kpbench.method import Method
    from kpbench.runner import build_method
    from kpbench.specs import MethodSpec

    seen = {}

    class Fixed(Method):
        def predict(self, inputs, ctx):
            return {}

        def example_batch(self, batch_size, data=None):
            return None

        def infer(self, batch):
            return None

    def old_style(config, num_keypoints=None):
        seen["old"] = num_keypoints
        return Fixed()

    def new_style(config, num_keypoints=None, task=None, dims=None):
        seen["new"] = (num_keypoints, task, dims)
        return Fixed()

    for name, fn in (("old", old_style), ("new", new_style)):
        spec = MethodSpec(name=name, tasks=("behavior",), build=fn, trains=False)
        build_method(spec, {}, None, 7, task="behavior", dims={"F": 10, "C": 3})
    assert seen == {"old": 7, "new": (7, "behavior", {"F": 10, "C": 3})}
