"""compare: mean ± std over seeds from a folder of records, every output format, plots."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest

from kpbench import results
from kpbench.compare import SUMMARY_COLUMNS, compare, format_table
from kpbench.errors import ConfigError, KpbenchError
from kpbench.plots import plot_comparison

ERRORS = {"bkind": [3.1, 3.4, 2.9], "other": [5.0, 5.5, 6.1]}
PCK = {"bkind": [81.0, 79.5, 80.2], "other": [70.0, 72.5, 71.0]}
LATENCY = {"bkind": [2.0, 2.2, 2.1], "other": [1.0, 1.1, 0.9]}


@pytest.fixture
def folder(tmp_path, make_record):
    """Two methods × three seeds, one failed run, one corrupt file."""
    root = tmp_path / "results"
    for method in ERRORS:
        for seed in range(3):
            rec = make_record(
                method=method,
                seed=seed,
                run_id=f"r-{method}-{seed}",
                metrics={
                    "regression_error": {
                        "value": ERRORS[method][seed],
                        "unit": "%",
                        "higher_is_better": False,
                    },
                    "pck": {"value": PCK[method][seed], "unit": "%", "higher_is_better": True},
                },
            )
            rec["timing"]["inference_latency_median"]["value"] = LATENCY[method][seed]
            results.write_record(results.record_path(root, "calms21", method, rec["run_id"]), rec)
    failed = make_record(
        method="bkind",
        seed=9,
        run_id="r-failed",
        status="failed",
        metrics={},
        timing={},
        error="train failed: RuntimeError: out of memory",
    )
    results.write_record(results.record_path(root, "calms21", "bkind", "r-failed"), failed)
    (root / "calms21" / "broken.json").write_text("{not json")
    return root


def row(summary, method, name):
    hit = summary[(summary["method"] == method) & (summary["metric"] == name)]
    assert len(hit) == 1
    return hit.iloc[0]


def test_mean_std_n_match_numpy(folder):
    summary, warnings = compare(folder)
    assert list(summary.columns) == SUMMARY_COLUMNS
    for method in ERRORS:
        for name, values in (
            ("regression_error", ERRORS[method]),
            ("pck", PCK[method]),
            ("inference_latency_median", LATENCY[method]),
        ):
            r = row(summary, method, name)
            assert r["mean"] == pytest.approx(np.mean(values))
            assert r["std"] == pytest.approx(np.std(values, ddof=1))
            assert r["n"] == 3
    assert row(summary, "bkind", "pck")["higher_is_better"] is True
    assert row(summary, "bkind", "regression_error")["higher_is_better"] is False
    assert row(summary, "bkind", "throughput")["higher_is_better"] is True
    assert row(summary, "bkind", "params")["kind"] == "model"
    assert row(summary, "bkind", "regression_error")["failed"] == 1
    assert row(summary, "other", "regression_error")["failed"] == 0
    assert len(warnings) == 2
    assert "broken.json: skipped (not valid JSON" in warnings[0]
    assert (
        "r-failed.json: failed run left out (train failed: RuntimeError: out of memory)"
        in warnings[1]
    )


def test_single_seed_has_nan_std_and_plain_cell(tmp_path, make_record):
    results.write_record(tmp_path / "calms21" / "bkind" / "r.json", make_record())
    summary, warnings = compare(tmp_path)
    r = row(summary, "bkind", "regression_error")
    assert r["n"] == 1 and math.isnan(r["std"]) and warnings == []
    text = format_table(summary, "table")
    assert "3.20" in text and "±" not in text


def test_table_format(folder):
    text = format_table(compare(folder)[0], "table")
    lines = text.splitlines()
    assert lines[0] == "dataset=calms21 task=discovery2d"
    header = lines[1]
    for column in (
        "regression_error ↓ [%]",
        "pck ↑ [%]",
        "train step [ms]",
        "latency [ms/sample]",
        "throughput [samples/s]",
        "peak mem [MiB]",
        "params",
        "GFLOPs",
        "failed",
    ):
        assert column in header
    assert (
        header.index("pck ↑")
        < header.index("train step")
        < header.index("params")
        < header.index("GFLOPs")
    )
    bkind = next(line for line in lines if line.lstrip().startswith("bkind"))
    mean, std = np.mean(ERRORS["bkind"]), np.std(ERRORS["bkind"], ddof=1)
    assert f"{mean:.2f} ± {std:.2f} (n=3)" in bkind
    assert "1,000" in bkind and "2.00" in bkind  # params, GFLOPs


def test_markdown_format(folder):
    text = format_table(compare(folder)[0], "markdown")
    assert text.startswith("**dataset=calms21 task=discovery2d**")
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) == 4  # header, rule, two methods
    assert table[0].startswith("| method | preset | regression_error ↓ [%]")
    assert set(table[1].replace(" ", "")) == {"|", "-"}
    assert all(line.count("|") == table[0].count("|") for line in table)


def test_csv_format(folder):
    rows = list(csv.DictReader(io.StringIO(format_table(compare(folder)[0], "csv"))))
    assert list(rows[0]) == SUMMARY_COLUMNS
    pck = next(r for r in rows if r["method"] == "other" and r["metric"] == "pck")
    assert float(pck["mean"]) == pytest.approx(np.mean(PCK["other"]))
    assert pck["unit"] == "%" and pck["higher_is_better"] == "True" and pck["n"] == "3"


def test_json_format(folder):
    rows = json.loads(format_table(compare(folder)[0], "json"))
    err = next(r for r in rows if r["method"] == "bkind" and r["metric"] == "regression_error")
    assert err["std"] == pytest.approx(np.std(ERRORS["bkind"], ddof=1))
    assert err["kind"] == "metric" and err["higher_is_better"] is False and err["failed"] == 1
    flops = next(r for r in rows if r["method"] == "bkind" and r["metric"] == "flops")
    assert flops["higher_is_better"] is None and flops["std"] == 0.0


def test_unknown_format_lists_the_valid_ones(folder):
    with pytest.raises(ConfigError, match="valid formats: csv, json, markdown, table"):
        format_table(compare(folder)[0], "xlsx")


def test_plots_are_written(folder, tmp_path):
    paths = plot_comparison(compare(folder)[0], tmp_path / "plots")
    names = sorted(p.name for p in paths)
    assert names == [
        "calms21_discovery2d_pck.png",
        "calms21_discovery2d_pck_vs_latency.png",
        "calms21_discovery2d_regression_error.png",
        "calms21_discovery2d_regression_error_vs_latency.png",
    ]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_missing_or_empty_folder_says_how_to_make_records(tmp_path):
    with pytest.raises(KpbenchError, match=r"no results folder at .*kpbench run .*kpbench demo"):
        compare(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(KpbenchError, match=r"no kpbench run records under .*empty.*kpbench demo"):
        compare(tmp_path / "empty")


def test_only_failed_runs_is_an_error(tmp_path, make_record):
    rec = make_record(
        status="failed", error="evaluate failed: ValueError: x", metrics={}, timing={}
    )
    results.write_record(tmp_path / "calms21" / "bkind" / "r.json", rec)
    with pytest.raises(KpbenchError, match="no finished runs .*1 failed.*evaluate failed"):
        compare(tmp_path)


def test_presets_and_datasets_form_separate_groups(tmp_path, make_record):
    for i, (dataset, preset) in enumerate(
        [("calms21", "smoke"), ("calms21", None), ("video", "smoke")]
    ):
        rec = make_record(run_id=f"r{i}", dataset=dataset, preset=preset)
        results.write_record(tmp_path / dataset / "bkind" / f"r{i}.json", rec)
    summary, _ = compare(tmp_path)
    groups = summary[summary["metric"] == "regression_error"][["dataset", "preset"]].values.tolist()
    assert groups == [["calms21", "none"], ["calms21", "smoke"], ["video", "smoke"]]
    text = format_table(summary, "table")
    assert "dataset=calms21 task=discovery2d" in text and "dataset=video task=discovery2d" in text


def test_one_dataset_on_several_data_folders_is_several_groups(tmp_path, make_record):
    folders = ["/data/a/dlc_project", "/data/b/flies", "/data/c/flies", "/data/a/dlc_project"]
    for i, folder in enumerate(folders):
        rec = make_record(run_id=f"r{i}", dataset="video", seed=i)
        rec["data"] = {"dir": folder}
        results.write_record(tmp_path / "video" / "bkind" / f"r{i}.json", rec)
    summary, warnings = compare(tmp_path)
    rows = summary[summary["metric"] == "regression_error"]
    assert dict(zip(rows["dataset"], rows["n"])) == {
        "video[dlc_project]": 2,  # two seeds on one folder: one group
        "video[/data/b/flies]": 1,  # two folders named alike: their full paths
        "video[/data/c/flies]": 1,
    }
    assert not any("was run" in w for w in warnings)


def test_runs_without_values_give_an_empty_summary(tmp_path, make_record):
    rec = make_record(metrics={}, timing={}, params=None, flops=None)
    results.write_record(tmp_path / "calms21" / "bkind" / "r.json", rec)
    summary, warnings = compare(tmp_path)
    assert summary.empty and list(summary.columns) == SUMMARY_COLUMNS
    assert warnings == [
        f"{tmp_path}/calms21/bkind/r.json: finished without metrics (no reason recorded)"
    ]
    assert format_table(summary, "table").startswith("no values to compare")
    assert json.loads(format_table(summary, "json")) == []
    assert plot_comparison(summary, tmp_path / "plots") == []


def test_runs_with_different_configs_are_not_averaged_as_seeds(tmp_path, make_record):
    def metric(v):
        return {"regression_error": {"value": v, "unit": "%", "higher_is_better": False}}

    for seed, (pre, value) in enumerate([("none", 10.0), ("none", 12.0), ("colour_mask", 6.0)]):
        rec = make_record(
            seed=seed,
            metrics=metric(value),
            config={"lr": 0.001, "preprocess": pre},
            run_id=f"20260101-000000-bkind-s{seed}-{pre[:4]}",
        )
        results.write_record(tmp_path / "calms21" / "bkind" / f"{rec['run_id']}.json", rec)
    summary, _ = compare(tmp_path)
    err = summary[summary["metric"] == "regression_error"].set_index("variant")
    assert (
        err.loc["preprocess=none", "mean"] == pytest.approx(11.0)
        and err.loc["preprocess=none", "n"] == 2
    )
    assert (
        err.loc["preprocess=colour_mask", "mean"] == pytest.approx(6.0)
        and err.loc["preprocess=colour_mask", "n"] == 1
    )
    table = format_table(summary, "table")
    assert "variant" in table and "preprocess=colour_mask" in table


def err(value, **extra):
    return {"regression_error": {"value": value, "unit": "%", "higher_is_better": False, **extra}}


def write(root, rec):
    results.write_record(
        results.record_path(root, rec["dataset"], rec["method"], rec["run_id"]), rec
    )


def test_runs_with_one_seed_are_one_repeat_the_latest(tmp_path, make_record):
    for run_id, seed, value, finished in [
        ("r-a", 0, 3.0, "2026-01-01T00:01:00+00:00"),
        ("r-b", 0, 5.0, "2026-01-02T00:01:00+00:00"),  # the same seed again, later
        ("r-c", 0, 4.0, "2026-01-01T12:00:00+00:00"),
        ("r-d", 1, 7.0, "2026-01-01T00:01:00+00:00"),
    ]:
        write(
            tmp_path,
            make_record(run_id=run_id, seed=seed, metrics=err(value), finished_at=finished),
        )
    summary, warnings = compare(tmp_path)
    r = row(summary, "bkind", "regression_error")
    assert r["n"] == 2 and r["mean"] == pytest.approx(6.0)  # r-b and r-d
    assert warnings == [
        "dataset=calms21 task=discovery2d method=bkind preset=smoke: seed 0 was run 3 times "
        "(r-a, r-b, r-c); only the latest, r-b, counts"
    ]


def test_one_seed_twice_is_not_a_spread(tmp_path, make_record):
    for run_id in ("r-a", "r-b"):  # same finished_at: the run id decides
        write(tmp_path, make_record(run_id=run_id))
    summary, warnings = compare(tmp_path)
    assert row(summary, "bkind", "regression_error")["n"] == 1
    assert "only the latest, r-b, counts" in warnings[0]
    assert "±" not in format_table(summary, "table")


def test_failed_metric_is_no_value_and_a_warning(tmp_path, make_record):
    write(tmp_path, make_record(run_id="r0", seed=0, metrics=err(None, error="ValueError: empty")))
    write(tmp_path, make_record(run_id="r1", seed=1, metrics=err(4.0)))
    summary, warnings = compare(tmp_path)
    r = row(summary, "bkind", "regression_error")
    assert r["n"] == 1 and r["mean"] == 4.0 and r["failed"] == 0
    assert len(warnings) == 1
    assert warnings[0].endswith(
        "r0.json: metric regression_error failed (ValueError: empty); left out"
    )


def test_baselines_are_rows_averaged_over_seeds(tmp_path, make_record):
    for method in ("bkind", "other"):
        for seed in range(3):
            rec = make_record(
                method=method,
                seed=seed,
                run_id=f"r-{method}-{seed}",
                metrics=err(3.0 + seed),
                baselines={"random": {"regression_error": 50.0 + seed}},
            )
            write(tmp_path, rec)
    summary, warnings = compare(tmp_path)
    assert warnings == []
    base = summary[summary["method"] == "baseline:random"]
    assert base["metric"].tolist() == ["regression_error"]  # metric values only
    r = base.iloc[0]
    assert r["n"] == 3 and r["mean"] == pytest.approx(51.0) and r["preset"] == "smoke"
    assert summary["method"].drop_duplicates().tolist() == ["bkind", "other", "baseline:random"]
    lines = format_table(summary, "table").splitlines()
    assert lines[-1].lstrip().startswith("baseline:random")
    assert "51.00 ± 1.00 (n=3)" in lines[-1] and "1,000" not in lines[-1]


def test_baselines_that_differ_per_method_are_shown_per_method(tmp_path, make_record):
    for method, value in (("bkind", 50.0), ("other", 60.0)):  # e.g. shaped after K
        rec = make_record(
            method=method, run_id=f"r-{method}", baselines={"random": {"regression_error": value}}
        )
        write(tmp_path, rec)
    summary, _ = compare(tmp_path)
    assert row(summary, "baseline:random (bkind)", "regression_error")["mean"] == 50.0
    assert row(summary, "baseline:random (other)", "regression_error")["mean"] == 60.0


def test_runs_scored_on_different_inputs_are_warned(tmp_path, make_record):
    def evaluation(digest):
        return {"inputs_hash": digest, "inputs": 20, "unit": "frame", "options": {}, "protocol": ""}

    write(tmp_path, make_record(run_id="r-b0", seed=0, evaluation=evaluation("aaaaaaaaaaaa")))
    write(tmp_path, make_record(run_id="r-b1", seed=1, evaluation=evaluation("aaaaaaaaaaaa")))
    write(
        tmp_path,
        make_record(method="other", run_id="r-o0", evaluation=evaluation("bbbbbbbbbbbb")),
    )
    write(tmp_path, make_record(method="old", run_id="r-old"))  # no evaluation: not judged
    write(
        tmp_path,
        make_record(run_id="r-p", preset="paper", evaluation=evaluation("cccccccccccc")),
    )  # another preset: another protocol, not compared
    _, warnings = compare(tmp_path)
    assert warnings == [
        "dataset=calms21 task=discovery2d preset=smoke: runs were scored on different "
        "evaluation inputs, their numbers do not compare (inputs aaaaaaaaaaaa: bkind (r-b0, "
        "r-b1); inputs bbbbbbbbbbbb: other (r-o0))"
    ]


@pytest.fixture
def breakdown_folder(tmp_path, make_record):
    for seed, (nose, tail) in enumerate([(90.0, 60.0), (80.0, 70.0)]):
        metrics = {
            "pck": {
                "value": (nose + tail) / 2,
                "unit": "%",
                "higher_is_better": True,
                "breakdown": {"per_keypoint": {"nose": nose, "tail": tail}},
            }
        }
        write(tmp_path, make_record(run_id=f"r{seed}", seed=seed, metrics=metrics))
    return tmp_path


def test_breakdown_only_on_request(breakdown_folder):
    summary, _ = compare(breakdown_folder)
    assert "breakdown" not in set(summary["kind"])
    assert "nose" not in format_table(summary, "table")


def test_breakdown_rows_mean_std_over_seeds(breakdown_folder):
    summary, _ = compare(breakdown_folder, breakdown=True)
    nose = row(summary, "bkind", "pck/per_keypoint/nose")
    assert nose["kind"] == "breakdown" and nose["unit"] == "%" and nose["higher_is_better"]
    assert nose["mean"] == pytest.approx(85.0) and nose["n"] == 2
    assert nose["std"] == pytest.approx(np.std([90.0, 80.0], ddof=1))
    header = format_table(summary, "table").splitlines()[1]
    assert header.index("pck ↑ [%]") < header.index("pck/per_keypoint/nose ↑ [%]")
    assert header.index("pck/per_keypoint/tail ↑ [%]") < header.index("train step")
    assert "pck/per_keypoint/tail" in format_table(summary, "markdown")
    rows = json.loads(format_table(summary, "json"))
    assert {r["metric"] for r in rows if r["kind"] == "breakdown"} == {
        "pck/per_keypoint/nose",
        "pck/per_keypoint/tail",
    }


def test_cli_breakdown_flag(breakdown_folder, capsys):
    from kpbench.cli import main

    assert main(["compare", str(breakdown_folder), "--format", "csv", "--breakdown"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    tail = next(r for r in rows if r["metric"] == "pck/per_keypoint/tail")
    assert tail["kind"] == "breakdown" and float(tail["mean"]) == pytest.approx(65.0)
    assert main(["compare", str(breakdown_folder), "--format", "csv"]) == 0
    assert "per_keypoint" not in capsys.readouterr().out
