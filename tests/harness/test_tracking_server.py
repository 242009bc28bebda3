"""The team tracking recipe of docs/scale.md, for real: PostgreSQL on 127.0.0.1, ``mlflow server``
with a ``postgresql+psycopg2://`` backend and an artifact destination, a 2-cell sweep logging to
it; and a run whose tracker is down still finishes with its record.

Skips with one line where PostgreSQL (``initdb``, ``pg_ctl``) or psycopg2 is missing."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from sweep_testing import install_toy, toy_data, write_suite

from kpbench.results import load_records
from kpbench.sweep.driver import sweep
from kpbench.sweep.suite import load_suite


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    """A PostgreSQL server on 127.0.0.1 (run as the postgres user when we are root)."""
    pytest.importorskip("psycopg2", reason="psycopg2 not installed (pip install psycopg2-binary)")
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL's initdb/pg_ctl are not on PATH (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="kpbench-pg-"))  # reachable by the postgres user
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    subprocess.run([*as_user, "initdb", "-D", str(data), "-U", "kpbench", "--auth=trust"],
                   check=True, capture_output=True)  # fmt: skip
    subprocess.run(
        [*as_user, "pg_ctl", "-D", str(data), "-l", str(root / "pg.log"), "-w", "start",
         "-o", f"-h 127.0.0.1 -p {port} -k {root}"],
        check=True, capture_output=True,
    )  # fmt: skip
    yield f"postgresql+psycopg2://kpbench@127.0.0.1:{port}/postgres"
    subprocess.run([*as_user, "pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def mlflow_server(postgres, tmp_path_factory):
    """``mlflow server`` on 127.0.0.1 backed by ``postgres``; stopped by its process group."""
    root, port = tmp_path_factory.mktemp("mlflow-server"), free_port()
    log = (root / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", postgres,
         "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # until it answers, or dies
            assert proc.poll() is None, (root / "server.log").read_text()[-2000:]
            try:
                urllib.request.urlopen(f"{url}/health", timeout=5)
                break
            except OSError:
                time.sleep(1)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture
def toy_env(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(install_toy(tmp_path / "site")))
    monkeypatch.chdir(tmp_path)
    return toy_data(tmp_path / "toy")


def test_a_sweep_logs_to_the_team_server(mlflow_server, toy_env, tmp_path):
    from mlflow import MlflowClient

    suite = load_suite(write_suite(tmp_path / "s.yaml", toy_env, [0, 1], failing=False,
                                   run={"threads": 1, "device": "cpu",
                                        "tracking_uri": mlflow_server}))  # fmt: skip
    table = sweep(suite, "local", max_parallel=2, stream=io.StringIO())
    assert table.counts()["finished"] == 2, table.report()
    records, _ = load_records(suite.results)
    assert all(r["tracking"]["error"] is None for r in records)
    client = MlflowClient(tracking_uri=mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(r["run_id"] for r in records)
    artifacts = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert "record.json" in artifacts  # through the server's artifact proxy


def test_a_tracker_that_is_down_does_not_stop_the_run(toy_env, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "kpbench.cli", "run", "--method", "toymethod", "--dataset", "toy",
         "--data-dir", str(toy_env), "--preset", "smoke", "--threads", "1", "--device", "cpu",
         "--results", str(tmp_path / "results"), "--tracking-uri", down, "--no-progress"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    (record,) = load_records(tmp_path / "results")[0]
    assert record["status"] == "finished" and record["tracking"]["error"]
