"""``kpbench compare`` and ``--data-dir`` messages (issue #13): plots asked for runs without
metrics say why none were written and leave no empty folder; a file where a folder is expected
is named as such."""

from __future__ import annotations

import json

import pytest

from kpbench.cli import main
from kpbench.dataset import find_data_dir
from kpbench.errors import DataError


def _write(folder, rec):
    path = folder / rec["dataset"] / rec["method"] / f"{rec['run_id']}.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rec))


@pytest.fixture
def no_metric_runs(tmp_path, make_record):
    results = tmp_path / "results"
    why = "no labelled frames in the test split: regression metrics skipped"
    _write(results, make_record(metrics={}, evaluation={"unavailable": why}))
    return results


def test_plots_without_metrics_say_why_and_leave_no_folder(no_metric_runs, tmp_path, capsys):
    plots = tmp_path / "plots"
    assert main(["compare", str(no_metric_runs), "--plots", str(plots)]) == 0
    err = capsys.readouterr().err
    assert not plots.exists()
    lines = [line for line in err.splitlines() if "no plots" in line]
    assert len(lines) == 1 and "the runs have no metric values" in lines[0]
    assert "finished without metrics (no labelled frames in the test split" in err


def test_plots_into_a_file_is_one_error_line(make_record, tmp_path, capsys):
    results = tmp_path / "results"
    _write(results, make_record())
    target = tmp_path / "plots.png"
    target.write_text("x")
    assert main(["compare", str(results), "--plots", str(target)]) != 0
    err = capsys.readouterr().err.strip()
    assert err.splitlines() == [f"kpbench: error: --plots {target} is a file, not a folder; "
                                "name a folder for the PNGs"]  # fmt: skip


def test_compare_of_a_file(no_metric_runs, capsys):
    record = next(no_metric_runs.rglob("*.json"))
    assert main(["compare", str(record)]) != 0
    err = capsys.readouterr().err.strip()
    assert (
        err == f"kpbench: error: {record} is a file, not a folder; compare takes a results folder"
    )


def test_data_dir_that_is_a_file(tmp_path):
    f = tmp_path / "labels.json"
    f.write_text("{}")
    with pytest.raises(DataError, match="is a file, not a folder; --data-dir takes the calms21"):
        find_data_dir("calms21", f, "hint")


def test_run_with_a_data_dir_file_is_one_line(tmp_path, capsys):
    f = tmp_path / "labels.json"
    f.write_text("{}")
    argv = ["run", "--method", "bkind", "--dataset", "calms21", "--data-dir", str(f)]
    assert main(argv + ["--no-mlflow", "--preset", "smoke"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0], err


def test_out_that_is_a_folder_or_under_a_file_is_one_line(make_record, tmp_path, capsys):
    results = tmp_path / "results"
    _write(results, make_record())
    assert main(["compare", str(results), "--out", str(tmp_path)]) != 0
    assert capsys.readouterr().err.strip() == (
        f"kpbench: error: --out {tmp_path} is a folder, not a file; name the table's file"
    )
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert main(["compare", str(results), "--out", str(blocker / "t.md")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"kpbench: error: --out {blocker / 't.md'}: {blocker} is a file, not a folder; "
                   "pick another place"]  # fmt: skip
    assert main(["compare", str(results), "--out", str(tmp_path / "new" / "t.md")]) == 0
    assert "bkind" in (tmp_path / "new" / "t.md").read_text()
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["t.md"]  # no temporary file left
