"""MLflow tracking: a real SQLite store, an unreachable server, and --no-mlflow."""

from __future__ import annotations

import json
import logging
import os
import socket

import pytest

from kpbench.errors import KpbenchError
from kpbench.tracking import (
    COMPLETE_TAG,
    HTTP_ENV,
    MAX_PARAM_LENGTH,
    RUN_ID_TAG,
    Tracker,
    flatten,
    http_env,
    mlflow_key,
    prepare_store,
    resolve_uri,
)


def kpbench_warnings(caplog) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "kpbench" and r.levelno == logging.WARNING
    ]


def test_flatten_nested_dicts():
    assert flatten(
        {"lr": 0.1, "model": {"k": 10, "head": {"dim": 3}}, "empty": {}, "ids": [1, 2]}
    ) == {
        "lr": 0.1,
        "model.k": 10,
        "model.head.dim": 3,
        "empty": {},
        "ids": [1, 2],
    }


def test_mlflow_key_replaces_refused_characters():
    assert mlflow_key("pck@0.1") == "pck_0.1"
    assert mlflow_key("train/loss rec-x.y") == "train/loss rec-x.y"


def test_http_env_sets_short_values_only_where_unset(monkeypatch):
    for key in HTTP_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    with http_env():
        assert os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "1"
        assert os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] == "1"
        assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"  # the user's choice stands
    assert "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    assert os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] == "60"


def test_sqlite_store_gets_params_metrics_tags_and_artifacts(mlflow_uri, tmp_path, caplog):
    from mlflow import MlflowClient

    extra = tmp_path / "overlay.txt"
    extra.write_text("frames")
    params = flatten({"lr": 0.001, "model": {"k": 10}, "long": "x" * 7000, "pck@0.1": True})
    tracker = Tracker(tracking_uri=mlflow_uri, experiment="calms21")
    tracker.start("20260101-run", params, {"method": "bkind", "seed": 0})
    assert tracker.active and tracker.error is None
    tracker.log_metrics({"train/loss": 1.0}, step=0)
    tracker.log_metrics({"train/loss": 0.5}, step=1)
    tracker.log_metrics({"regression_error": 3.2, "missing": None})
    tracker.log_dict({"status": "finished", "seed": 0}, "record.json")
    tracker.log_artifact(extra, "overlays")
    tracker.finish("FINISHED")
    assert not tracker.active and kpbench_warnings(caplog) == []
    tracker.log_metrics({"late": 1.0})  # after finish: a no-op

    client = MlflowClient(tracking_uri=mlflow_uri)
    exp = client.get_experiment_by_name("calms21")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.run_id == tracker.run_id and run.info.run_name == "20260101-run"
    assert run.info.status == "FINISHED"
    assert run.data.params["model.k"] == "10" and run.data.params["lr"] == "0.001"
    assert run.data.params["pck_0.1"] == "True"
    assert len(run.data.params["long"]) == MAX_PARAM_LENGTH
    assert run.data.tags["method"] == "bkind" and run.data.tags["seed"] == "0"
    assert run.data.tags[RUN_ID_TAG] == "20260101-run" and run.data.tags[COMPLETE_TAG] == "true"
    assert run.data.metrics == {"train/loss": 0.5, "regression_error": 3.2}
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5)]
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"record.json", "overlays"}
    record = client.download_artifacts(run.info.run_id, "record.json", str(tmp_path / "dl"))
    assert json.loads(open(record).read()) == {"status": "finished", "seed": 0}
    assert client.list_artifacts(run.info.run_id, "overlays")[0].path == "overlays/overlay.txt"
    assert tracker.info() == {
        "enabled": True,
        "tracking_uri": mlflow_uri,
        "experiment": "calms21",
        "run_id": run.info.run_id,
        "error": None,
        "synced": True,
        "tags": {"method": "bkind", "seed": "0"},
    }

    again = Tracker(tracking_uri=mlflow_uri, experiment="calms21")
    again.start("second", {}, {})
    again.finish("FAILED")
    assert len(client.search_runs([exp.experiment_id])) == 2
    assert client.get_run(again.run_id).info.status == "FAILED"


def test_log_artifacts_uploads_a_whole_folder(mlflow_uri, tmp_path, caplog):
    from mlflow import MlflowClient

    folder = tmp_path / "20260101-run"
    (folder / "overlays").mkdir(parents=True)
    (folder / "checkpoint.pt").write_bytes(b"weights")
    (folder / "predictions.npz").write_bytes(b"keypoints")
    (folder / "overlays" / "frame_0.png").write_bytes(b"png")
    tracker = Tracker(tracking_uri=mlflow_uri, experiment="e")
    tracker.start("r", {}, {})
    tracker.log_artifacts(folder, "artifacts")
    tracker.finish()
    assert tracker.error is None and kpbench_warnings(caplog) == []

    client = MlflowClient(tracking_uri=mlflow_uri)

    def files(path):
        return [
            name
            for a in client.list_artifacts(tracker.run_id, path)
            for name in (files(a.path) if a.is_dir else [a.path])
        ]

    assert sorted(files("artifacts")) == [
        "artifacts/checkpoint.pt",
        "artifacts/overlays/frame_0.png",
        "artifacts/predictions.npz",
    ]


def test_log_artifacts_failure_warns_once_and_never_raises(
    mlflow_uri, tmp_path, caplog, monkeypatch
):
    tracker = Tracker(tracking_uri=mlflow_uri, experiment="e")
    tracker.start("r", {}, {})
    tracker.log_artifacts(tmp_path / "missing")  # a run without artifacts: nothing to upload
    assert tracker.active and tracker.error is None

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(tracker._client, "log_artifacts", broken)
    tracker.log_artifacts(tmp_path)
    tracker.log_artifacts(tmp_path)  # tracking is off: a no-op
    tracker.log_metrics({"loss": 1.0})
    assert not tracker.active and tracker.error == "log_artifacts failed: OSError: disk full"
    assert len(kpbench_warnings(caplog)) == 1


def test_error_mid_run_turns_tracking_off_once(mlflow_uri, caplog, monkeypatch):
    tracker = Tracker(tracking_uri=mlflow_uri, experiment="e")
    tracker.start("r", {"a": 1}, {})

    def broken(*args, **kwargs):
        raise RuntimeError("database is locked\nmore detail")

    monkeypatch.setattr(tracker._client, "log_batch", broken)
    monkeypatch.setattr(tracker._client, "set_terminated", broken)
    tracker.log_metrics({"loss": 1.0}, step=0)
    tracker.log_metrics({"loss": 0.5}, step=1)
    tracker.finish("FINISHED")
    assert not tracker.active
    assert tracker.error == "log_metrics failed: RuntimeError: database is locked"
    assert len(kpbench_warnings(caplog)) == 1 and tracker.error in kpbench_warnings(caplog)[0]
    assert tracker.info()["synced"] is False and tracker.info()["run_id"] == tracker.run_id


def test_unreachable_server_fails_fast_and_quietly(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    for key in HTTP_ENV:  # kpbench's short retries must apply, not MLflow's ~4 min default
        monkeypatch.delenv(key, raising=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the socket is
    tracker = Tracker(tracking_uri=f"http://127.0.0.1:{port}", experiment="e")
    tracker.start("r", {"a": 1}, {"t": "v"})
    assert not tracker.active and tracker.run_id is None
    assert tracker.error.startswith("start failed: MLflow store http://127.0.0.1:")
    assert "MlflowException" in tracker.error
    tracker.log_metrics({"loss": 1.0}, step=0)
    tracker.log_dict({"a": 1}, "record.json")
    tracker.log_artifact(tmp_path / "nothing.txt")
    tracker.log_artifacts(tmp_path)
    tracker.finish("FAILED")
    assert len(kpbench_warnings(caplog)) == 1
    info = tracker.info()
    assert info["error"] == tracker.error and info["run_id"] is None and info["enabled"] is True
    assert info["synced"] is False and info["tags"] == {"t": "v"}
    assert not (tmp_path / "mlflow.db").exists()


def test_disabled_tracker_does_nothing(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)
    tracker = Tracker(enabled=False, experiment="calms21")
    tracker.start("r", {"a": 1}, {})
    tracker.log_metrics({"loss": 1.0}, step=0)
    tracker.log_dict({"a": 1}, "record.json")
    tracker.log_artifacts(tmp_path)
    tracker.finish("FINISHED")
    assert not tracker.active and kpbench_warnings(caplog) == []
    assert tracker.info() == {
        "enabled": False,
        "tracking_uri": None,
        "experiment": "calms21",
        "run_id": None,
        "error": None,
        "synced": False,
        "tags": {},
    }
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", ["FINISHED", "FAILED"])
def test_finish_status_reaches_mlflow(mlflow_uri, status):
    from mlflow import MlflowClient

    tracker = Tracker(tracking_uri=mlflow_uri, experiment="e")
    tracker.start("r", {}, {})
    tracker.finish(status)
    assert MlflowClient(tracking_uri=mlflow_uri).get_run(tracker.run_id).info.status == status


def test_first_error_names_the_sync_command(tmp_path, caplog):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = tmp_path / "results"
    tracker = Tracker(tracking_uri=f"http://127.0.0.1:{port}", results_dir=results)
    tracker.start("r", {}, {})
    (warning,) = kpbench_warnings(caplog)
    assert warning.startswith(f"MLflow unreachable or failing at http://127.0.0.1:{port} (")
    assert f"the JSON record is kept; upload it later with `kpbench sync {results}`" in warning


def test_resolve_uri_makes_local_stores_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None) == f"sqlite:///{tmp_path}/mlflow.db"  # MLflow's default store
    assert (
        resolve_uri("sqlite:///sub/m.db?timeout=20") == f"sqlite:///{tmp_path}/sub/m.db?timeout=20"
    )
    assert resolve_uri(f"sqlite:///{tmp_path}/m.db") == f"sqlite:///{tmp_path}/m.db"
    assert resolve_uri("file:mlruns") == (tmp_path / "mlruns").as_uri()
    assert resolve_uri("runs/mlruns") == (tmp_path / "runs" / "mlruns").as_uri()
    assert resolve_uri("runs/store.db") == f"sqlite:///{tmp_path}/runs/store.db"
    assert resolve_uri("http://host:5000") == "http://host:5000"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracker:5000")
    assert resolve_uri(None) == "http://tracker:5000"


def test_prepare_store_on_a_file_store(tmp_path, monkeypatch):
    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    with pytest.raises(KpbenchError, match="MLFLOW_ALLOW_FILE_STORE=true; set it, or log to"):
        prepare_store("runs/mlruns", "exp")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = prepare_store("runs/mlruns", "exp")
    assert uri == (tmp_path / "runs" / "mlruns").as_uri()
    assert MlflowClient(uri).get_experiment_by_name("exp").lifecycle_stage == "active"


def _prepare_at_once(barrier, uri: str) -> None:
    barrier.wait()
    prepare_store(uri, "race")


def test_prepare_store_from_concurrent_processes_migrates_once(tmp_path, monkeypatch):
    """Four processes preparing one fresh SQLite store at the same moment: all succeed, the
    store is readable and holds one experiment (without the lock, MLflow's migration races)."""
    import multiprocessing

    from mlflow import MlflowClient

    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'fresh' / 'mlflow.db'}"
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(4)
    procs = [ctx.Process(target=_prepare_at_once, args=(barrier, uri)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    client = MlflowClient(uri)
    assert [e.name for e in client.search_experiments()].count("race") == 1
    (exp,) = [e for e in client.search_experiments() if e.name == "race"]
    assert client.search_runs([exp.experiment_id]) == []
    assert (tmp_path / "fresh" / "mlflow.db.lock").exists()
