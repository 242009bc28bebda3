"""``kpbench sync``: records whose tracker was down, failed mid-run or was off reach MLflow
later, once, with what the live run would have logged."""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path

import pytest

from kpbench.cli import main
from kpbench.runner import RunOptions, run
from kpbench.tracking import COMPLETE_TAG, RUN_ID_TAG


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toy_run(toy_registry, toy_data, results: Path, **kw) -> dict:
    opts = dict(
        method="toymethod", dataset="toy", data_dir=toy_data, results_dir=results, progress=False
    )
    return run(RunOptions(**{**opts, **kw}), toy_registry)


def tagged_runs(uri: str, run_id: str, experiment: str = "toy") -> list:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    return client.search_runs([exp.experiment_id], f"tags.`{RUN_ID_TAG}` = '{run_id}'")


def sync_lines(capsys, *argv: str) -> tuple[int, list[str]]:
    code = main(["sync", *argv])
    return code, capsys.readouterr().out.strip().splitlines()


def test_down_tracker_keeps_the_record_and_sync_uploads_it_once(
    toy_registry, toy_data, tmp_path, mlflow_uri, capsys
):
    from mlflow import MlflowClient

    results = tmp_path / "results"
    t0 = time.perf_counter()
    rec = toy_run(toy_registry, toy_data, results, tracking_uri=f"http://127.0.0.1:{closed_port()}")
    print(f"run with the tracker down: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    on_disk = json.loads(Path(rec["_path"]).read_text())
    assert on_disk["status"] == "finished"
    tracking = on_disk["tracking"]
    assert tracking["synced"] is False and tracking["run_id"] is None
    assert tracking["error"].startswith("start failed: MLflow store http://")
    assert tracking["tags"]["method"] == "toymethod" and tracking["tags"]["device"] == "cpu"

    code, lines = sync_lines(capsys, str(results), "--tracking-uri", mlflow_uri)
    assert code == 0
    assert lines[0].startswith(f"uploaded: {rec['_path']}: MLflow run ")
    assert lines[-1] == f"sync {results}: 1 record(s): 1 uploaded"
    (mlrun,) = tagged_runs(mlflow_uri, rec["run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.info.run_name == rec["run_id"]
    assert mlrun.data.tags[COMPLETE_TAG] == "true" and mlrun.data.tags["method"] == "toymethod"
    assert mlrun.data.tags["evaluation_inputs"] == rec["evaluation"]["inputs_hash"]
    assert mlrun.data.params["lr"] == "0.5" and mlrun.data.params["epochs"] == "3"
    assert mlrun.data.metrics["regression_error"] == pytest.approx(
        rec["metrics"]["regression_error"]["value"]
    )
    assert mlrun.data.metrics["baseline/grid/regression_error"] == pytest.approx(
        rec["baselines"]["grid"]["regression_error"]
    )
    client = MlflowClient(mlflow_uri)
    history = client.get_metric_history(mlrun.info.run_id, "train/loss")
    assert [m.step for m in history] == [0, 1, 2]
    artifacts = {a.path for a in client.list_artifacts(mlrun.info.run_id)}
    assert {"record.json", "checkpoint.pt", "predictions.npz"} <= artifacts

    synced = json.loads(Path(rec["_path"]).read_text())["tracking"]
    assert synced["synced"] is True and synced["run_id"] == mlrun.info.run_id
    assert synced["tracking_uri"] == mlflow_uri and synced["error"] is None
    assert synced["live_error"] == tracking["error"]

    code, lines = sync_lines(capsys, str(results), "--tracking-uri", mlflow_uri)
    assert code == 0 and lines[-1] == f"sync {results}: 1 record(s): 1 already tracked"
    code, lines = sync_lines(capsys, str(results))  # to where the record now says it is
    assert code == 0 and lines[-1] == f"sync {results}: 1 record(s): 1 already tracked"
    assert len(tagged_runs(mlflow_uri, rec["run_id"])) == 1


def test_tracker_failing_mid_run_leaves_a_partial_run_that_sync_replaces(
    toy_registry, toy_data, tmp_path, mlflow_uri, monkeypatch, capsys
):
    from mlflow import MlflowClient

    def disk_full(*args, **kwargs):
        raise OSError("disk full")

    results = tmp_path / "results"
    with monkeypatch.context() as mp:
        mp.setattr(MlflowClient, "log_artifacts", disk_full)
        rec = toy_run(toy_registry, toy_data, results, tracking_uri=mlflow_uri)
    tracking = json.loads(Path(rec["_path"]).read_text())["tracking"]
    assert tracking["synced"] is False and tracking["run_id"]
    assert tracking["error"] == "log_artifacts failed: OSError: disk full"
    (partial,) = tagged_runs(mlflow_uri, rec["run_id"])
    assert COMPLETE_TAG not in partial.data.tags

    code, lines = sync_lines(capsys, str(results))  # back to the store the run was using
    assert code == 0 and lines[0].endswith("; deleted 1 partial run(s) of the live run")
    (whole,) = tagged_runs(mlflow_uri, rec["run_id"])
    assert whole.info.run_id != partial.info.run_id and whole.data.tags[COMPLETE_TAG] == "true"
    assert MlflowClient(mlflow_uri).get_run(partial.info.run_id).info.lifecycle_stage == "deleted"


def test_untracked_runs_sync_only_when_asked(toy_registry, toy_data, tmp_path, mlflow_uri, capsys):
    results = tmp_path / "results"
    rec = toy_run(toy_registry, toy_data, results, mlflow=False)
    assert rec["tracking"]["synced"] is False and rec["tracking"]["enabled"] is False

    code, lines = sync_lines(capsys, str(results), "--tracking-uri", mlflow_uri)
    assert code == 0 and lines[0].startswith(f"skipped: {rec['_path']}: tracking was off")
    assert lines[-1] == f"sync {results}: 1 record(s): 1 skipped"
    code, lines = sync_lines(
        capsys, str(results), "--tracking-uri", mlflow_uri, "--include-untracked"
    )
    assert code == 0 and lines[-1] == f"sync {results}: 1 record(s): 1 uploaded"
    assert len(tagged_runs(mlflow_uri, rec["run_id"])) == 1


def test_sync_to_a_down_tracker_fails_each_record_and_keeps_it(
    toy_registry, toy_data, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    down = f"http://127.0.0.1:{closed_port()}"
    rec = toy_run(toy_registry, toy_data, results, tracking_uri=down)
    before = Path(rec["_path"]).read_text()
    code, lines = sync_lines(capsys, str(results))
    assert code == 1
    assert lines[0].startswith(f"failed: {rec['_path']}: MLflow store {down} could not be prepared")
    assert lines[-1] == f"sync {results}: 1 record(s): 1 failed"
    assert Path(rec["_path"]).read_text() == before


def test_sync_of_a_missing_folder_is_one_error_line(tmp_path, capsys):
    assert main(["sync", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"kpbench: error: kpbench sync: {tmp_path / 'nope'} is not a folder; pass a results folder"
    )
