"""Fixtures for the harness tests: run records and a ready-made MLflow SQLite store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def make_record():
    """Factory for a valid, finished run record; keyword arguments override its keys."""

    def make(
        method: str = "bkind", seed: int = 0, metrics: dict | None = None, **overrides
    ) -> dict:
        rec = {
            "schema_version": 1,
            "run_id": f"20260101-000000-{method}-s{seed}-abcd",
            "method": method,
            "dataset": "calms21",
            "task": "discovery2d",
            "preset": "smoke",
            "seed": seed,
            "config": {"lr": 0.001, "model": {"k": 10}},
            "config_hash": "0123456789ab",
            "metrics": metrics
            if metrics is not None
            else {"regression_error": {"value": 3.2, "unit": "%", "higher_is_better": False}},
            "timing": {
                "train_step_median": {"value": 12.5, "unit": "ms"},
                "inference_latency_median": {"value": 2.0, "unit": "ms/sample"},
                "throughput": {"value": 500.0, "unit": "samples/s"},
                "peak_memory": {"value": 64.0, "unit": "MiB"},
                "batch_size": 4,
                "device": "cpu (test CPU, 2 threads)",
            },
            "params": 1000,
            "flops": {"per_sample": 2_000_000_000, "input": "(1, 3, 128, 128)"},
            "env": {"python": "3.11"},
            "started_at": "2026-01-01T00:00:00+00:00",
            "finished_at": "2026-01-01T00:01:00+00:00",
            "status": "finished",
            "artifacts": {},
        }
        rec.update(overrides)
        return rec

    return make


@pytest.fixture(scope="session")
def mlflow_template(tmp_path_factory) -> Path:
    """An MLflow SQLite store migrated once per session (migrations take seconds)."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("mlflow-template")
    db = folder / "mlflow.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@pytest.fixture
def mlflow_uri(mlflow_template, tmp_path, monkeypatch) -> str:
    """A private copy of the migrated store; the test runs in ``tmp_path`` (artifacts land there)."""
    db = tmp_path / "mlflow.db"
    shutil.copyfile(mlflow_template, db)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return f"sqlite:///{db}"
