"""Issue #13: eight ``kpbench run`` processes started at once in a fresh folder (no
``mlflow.db`` yet, so they create MLflow's default store ``./mlflow.db`` themselves) lose
nothing: eight records, eight complete MLflow runs, and the store stays readable.

The processes are forked from this one after a warm-up run (imports done once), so eight real
processes race for the fresh store in seconds rather than minutes of imports each; each runs
the ``kpbench`` command line (:func:`kpbench.cli.main`) with the toy plugin.
"""

from __future__ import annotations

import multiprocessing
import os
import sys

from kpbench.cli import main
from kpbench.results import load_records
from kpbench.tracking import COMPLETE_TAG, RUN_ID_TAG

RUNS = 8


def kpbench_in(folder, argv: list[str]) -> None:
    """A forked process: ``kpbench ARGV`` run from ``folder``; its exit code is main's."""
    os.chdir(folder)
    sys.exit(main(argv))


def test_concurrent_runs_into_a_fresh_folder_lose_nothing(
    toy_registry, toy_data, tmp_path, monkeypatch
):
    import mlflow
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401  (imported once, before forking)

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    argv = ["run", "--method", "toymethod", "--dataset", "toy", "--data-dir", str(toy_data)]
    argv += ["--preset", "smoke", "--threads", "1", "--no-progress", "--results", "results"]
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--no-mlflow"]) == 0  # warm-up: lazy imports happen here, once
    folder = tmp_path / "fresh"
    folder.mkdir()

    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=kpbench_in, args=(folder, [*argv, "--seed", str(seed)]))
        for seed in range(RUNS)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    assert [p.exitcode for p in procs] == [0] * RUNS

    records, warnings = load_records(folder / "results")
    assert warnings == [] and len(records) == RUNS
    assert sorted(r["seed"] for r in records) == list(range(RUNS))
    store = f"sqlite:///{folder / 'mlflow.db'}"
    for rec in records:
        tracking = rec["tracking"]
        assert tracking["error"] is None and tracking["synced"] is True, tracking
        assert tracking["tracking_uri"] == store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    runs = mlflow.search_runs(experiment_names=["toy"], output_format="list")  # readable
    assert len(runs) == RUNS
    assert {r.data.tags[RUN_ID_TAG] for r in runs} == {r["run_id"] for r in records}
    assert {r.info.run_id for r in runs} == {r["tracking"]["run_id"] for r in records}
    assert all(r.info.status == "FINISHED" and r.data.tags[COMPLETE_TAG] == "true" for r in runs)
    assert [e.name for e in mlflow.search_experiments()].count("toy") == 1
