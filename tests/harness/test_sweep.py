"""``kpbench sweep`` with the local executor: the suite format and its one-line errors, the
live table, and 8 concurrent cells (one failing) into one fresh folder and a fresh SQLite
MLflow store, then a second invocation that skips finished cells and resumes the failed one.

Cells run the toy plugin (``toy_plugin.py``, installed for subprocesses by ``sweep_testing``)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from sweep_testing import install_toy, toy_data, write_suite

from kpbench.cli import main
from kpbench.errors import ConfigError
from kpbench.results import load_records
from kpbench.sweep.driver import sweep
from kpbench.sweep.suite import load_suite
from kpbench.sweep.table import LiveTable


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory):
    return install_toy(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return toy_data(tmp_path_factory.mktemp("toy"))


@pytest.fixture
def env(toy_site, tmp_path, monkeypatch):
    """Cells (subprocesses) find the toy plugin; MLflow's default store is tmp_path/mlflow.db."""
    monkeypatch.setenv("PYTHONPATH", str(toy_site))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_suite_cells_and_deterministic_ids(tmp_path, data):
    path = write_suite(tmp_path / "s.yaml", data, [0, 1, 2], failing=True,
                       sets=[[], ["lr=0.1"]])  # fmt: skip
    suite = load_suite(path)
    assert len(suite.cells) == 3 * 2 + 1 and len({c.id for c in suite.cells}) == 7
    assert [c.id for c in load_suite(path).cells] == [c.id for c in suite.cells]
    assert suite.results == (tmp_path / "results").resolve()
    assert suite.cells[-1].sets == ("fail_at_epoch=1",) and suite.cells[-1].data_dir == str(data)
    assert suite.cells[0].id.startswith("toymethod-s0-")
    assert load_suite(path, tmp_path / "elsewhere").results == (tmp_path / "elsewhere").resolve()


@pytest.mark.parametrize(
    "text, key",
    [
        ("methods: [a]\ndatasets: [d]\nseed: [1]\n", "'seed'"),
        ("methods: [a]\ndatasets: [d]\nseeds: [x]\n", "'seeds'"),
        ("methods: []\ndatasets: [d]\n", "'methods'"),
        ("methods: [a]\ndatasets: [d]\nsets: [[lr]]\n", "'sets[0]'"),
        ("methods: [a]\ndatasets: [d]\nrun: {threads: 0}\n", "'run.threads'"),
        ("methods: [a]\ndatasets: [d]\nslurm: {gpus: 1}\n", "'slurm.gpus'"),
        ("methods: [a]\ndatasets: [d]\ncells: [{method: a}]\n", "'cells[0]'"),
        ("methods: [a\n", "not valid YAML at line"),
    ],
)
def test_bad_suites_name_the_key(tmp_path, text, key):
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(key)) as err:
        load_suite(tmp_path / "s.yaml")
    assert "\n" not in str(err.value) and str(tmp_path / "s.yaml") in str(err.value)


def test_cli_reports_a_missing_suite_in_one_line(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "none.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kpbench: error: suite") and "\n" not in err


def test_live_table_redraws_on_a_terminal(tmp_path, data):
    suite = load_suite(write_suite(tmp_path / "s.yaml", data, [0, 1], failing=False))

    class Tty(io.StringIO):
        def isatty(self):
            return True

    stream = Tty()
    table = LiveTable(suite.cells, stream)
    table.set(suite.cells[0].id, "running")
    table.set(suite.cells[0].id, "failed", "boom")
    assert "\x1b[2F" in stream.getvalue() and "failed" in stream.getvalue().splitlines()[-1]
    assert table.report()[1].endswith(": boom")


def test_local_sweep_of_8_concurrent_cells_loses_nothing_then_skips_and_resumes(env, data):
    """8 cells (one failing in its second epoch) start at once into a fresh folder and a fresh
    SQLite store: 8 records, 8 MLflow runs; a second invocation skips the 7 finished cells and
    resumes the failed one from its epoch-0 checkpoint."""
    from mlflow import MlflowClient

    suite_file = write_suite(env / "suite.yaml", data, list(range(7)), failing=True)
    out = io.StringIO()
    table = sweep(load_suite(suite_file), "local", max_parallel=8, stream=out)
    counts = table.counts()
    assert (counts["finished"], counts["failed"], counts["queued"]) == (7, 1, 0), table.report()
    failing = next(c for c in table.cells.values() if c.sets)
    assert table.errors[failing.id].endswith("planned failure for the test")
    assert any(line.endswith("planned failure for the test") for line in table.report())
    assert "running" in out.getvalue() and "\x1b[" not in out.getvalue()  # plain lines

    records, warnings = load_records(env / "results")
    assert not warnings and len(records) == 8
    by_id = {r["run_id"]: r for r in records}
    assert set(by_id) == set(table.cells)  # every record under its cell's id
    assert by_id[failing.id]["status"] == "failed"
    assert all(r["tracking"]["error"] is None for r in records)
    client = MlflowClient(tracking_uri=records[0]["tracking"]["tracking_uri"])
    runs = client.search_runs([client.get_experiment_by_name("toy").experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(by_id)
    assert sorted(r.info.status for r in runs) == ["FAILED"] + ["FINISHED"] * 7
    assert main(["compare", str(env / "results")]) == 0

    again = sweep(load_suite(suite_file), "local", max_parallel=2, stream=io.StringIO())
    assert again.counts()["skipped"] == 7 and again.counts()["failed"] == 1
    log = (env / "results" / ".sweep" / "logs" / f"{failing.id}.log").read_text()
    assert f"--resume {failing.id}" in log  # its epoch-0 checkpoint was picked up
    done = env / "results" / ".sweep" / "state" / f"{failing.id}.done"
    assert json.loads(done.read_text())["error"].endswith("planned failure for the test")


def test_ray_executor_runs_cells_when_ray_is_installed(env, data):
    pytest.importorskip("ray", reason="Ray not installed (optional extra kpbench[ray])")
    suite = load_suite(write_suite(env / "suite.yaml", data, [0, 1], failing=False))
    suite.run["mlflow"] = False
    assert sweep(suite, "ray", stream=io.StringIO()).counts()["finished"] == 2


def test_the_example_suite_is_valid():
    example = Path(__file__).resolve().parents[2] / "examples" / "suites" / "smoke.yaml"
    suite = load_suite(example)
    assert len(suite.cells) == 6 and {c.method for c in suite.cells} == {"hrnet"}
    assert suite.run["threads"] == 1 and suite.slurm["max_parallel"] == 4
