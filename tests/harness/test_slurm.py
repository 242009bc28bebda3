"""``kpbench sweep --executor slurm`` against a real Slurm controller on 127.0.0.1 (started by
the test, no accounting database): 6 toy cells in one submitit job array, one of them failing;
a second invocation skips the finished cells and resumes the failed one from its checkpoint.
Skips with one line where slurm-wlm and munge cannot be installed. The same suite through the
local executor is in ``test_sweep.py``."""

from __future__ import annotations

import io

import pytest
from slurm_cluster import Cluster, skip_reason
from sweep_testing import install_toy, toy_data, write_suite

from kpbench.results import load_records
from kpbench.sweep import slurm
from kpbench.sweep.driver import sweep
from kpbench.sweep.suite import load_suite


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    cluster = Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield cluster
    cluster.stop()


def test_slurm_sweep_with_a_failing_cell_then_a_rerun(cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(cluster.conf))
    monkeypatch.setenv("PYTHONPATH", str(install_toy(tmp_path / "site")))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(slurm, "POLL_S", 0.5)
    resources = {"partition": "debug", "cpus_per_task": 1, "mem_gb": 1, "time_min": 10}
    suite_file = write_suite(tmp_path / "suite.yaml", toy_data(tmp_path / "toy"),
                             [0, 1, 2, 3, 4], failing=True, slurm=resources,
                             run={"threads": 1, "device": "cpu", "mlflow": False})  # fmt: skip
    suite = load_suite(suite_file)
    out = io.StringIO()
    table = sweep(suite, "slurm", max_parallel=2, stream=out)
    counts = table.counts()
    assert (counts["finished"], counts["failed"]) == (5, 1), table.report()
    failing = next(c for c in suite.cells if c.sets)
    assert table.errors[failing.id].endswith("planned failure for the test")
    records, warnings = load_records(suite.results)
    assert not warnings and len(records) == 6
    assert {r["run_id"] for r in records} == {c.id for c in suite.cells}
    sbatch = next((suite.results / ".sweep" / "slurm").rglob("*_submission.sh")).read_text()
    assert "#SBATCH --array=0-5%2" in sbatch and "#SBATCH --signal=USR2@120" in sbatch

    again = sweep(load_suite(suite_file), "slurm", max_parallel=2, stream=io.StringIO())
    assert again.counts()["skipped"] == 5 and again.counts()["failed"] == 1
    log = (suite.results / ".sweep" / "logs" / f"{failing.id}.log").read_text()
    assert f"--resume {failing.id}" in log
