"""Result records: ids, paths, hashing, environment, schema checks, atomic writes, loading."""

from __future__ import annotations

import json
import logging
import math
import platform
import re
from pathlib import Path

import numpy as np
import pytest

from kpbench import results

REPO = Path(__file__).resolve().parents[2]


def test_new_run_id_is_sortable_and_unique():
    ids = [results.new_run_id("bkind", 3) for _ in range(50)]
    assert all(re.fullmatch(r"\d{8}-\d{6}-bkind-s3-[0-9a-f]{4}", i) for i in ids)
    assert len(set(ids)) > 45  # 4 random hex digits: collisions within one second are rare


def test_record_path_layout(tmp_path):
    assert (
        results.record_path(tmp_path, "calms21", "bkind", "r1")
        == tmp_path / "calms21" / "bkind" / "r1.json"
    )


def test_config_hash_ignores_key_order_and_sees_values():
    a = results.config_hash({"lr": 0.1, "model": {"k": 10, "depth": 2}})
    b = results.config_hash({"model": {"depth": 2, "k": 10}, "lr": 0.1})
    assert a == b and re.fullmatch(r"[0-9a-f]{12}", a)
    assert results.config_hash({"lr": 0.2, "model": {"k": 10, "depth": 2}}) != a


def test_environment_inside_and_outside_a_git_repo(tmp_path, monkeypatch):
    import torch

    if not (REPO / ".git").exists():
        pytest.skip("the repository has no .git folder here")
    monkeypatch.chdir(REPO)
    env = results.environment()
    assert env["python"] == platform.python_version()
    assert env["torch"] == torch.__version__
    assert env["cuda"] == (torch.version.cuda if torch.cuda.is_available() else None)
    assert env["device_count"] == (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    assert env["device"].startswith("cuda" if torch.cuda.is_available() else "cpu (")
    assert re.fullmatch(r"[0-9a-f]{40}", env["git_revision"])
    assert isinstance(env["git_dirty"], bool)
    monkeypatch.chdir(tmp_path)
    outside = results.environment()
    assert outside["git_revision"] is None and outside["git_dirty"] is None


def test_validate_accepts_a_good_record(make_record):
    results.validate_record(make_record())


def test_validate_accepts_a_failed_run_with_empty_metrics(make_record):
    rec = make_record(
        status="failed",
        error="train failed: RuntimeError: boom",
        metrics={},
        timing={},
        params=None,
        flops=None,
        preset=None,
    )
    results.validate_record(rec)


def test_validate_accepts_breakdowns_failed_metrics_baselines_and_evaluation(make_record):
    rec = make_record(
        metrics={
            "pck@0.1": {
                "value": 80.0,
                "unit": "%",
                "higher_is_better": True,
                "breakdown": {"per_keypoint": {"nose": 90.0, "tail": None}},
            },
            "regression_error": {
                "value": None,
                "unit": "%",
                "higher_is_better": False,
                "error": "ValueError: no annotated frames",
                "traceback": "Traceback ...",
            },
        },
        baselines={"random": {"pck@0.1": 10.0, "regression_error": None}},
        evaluation={"inputs_hash": "0123456789ab", "inputs": 20, "unit": "frame", "options": {}},
    )
    results.validate_record(rec)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: (r.pop("seed"), r.pop("run_id")), "missing run_id, seed"),
        (lambda r: r.update(seed="0"), "seed must be int, got str"),
        (lambda r: r.update(seed=True), "seed must be int, got bool"),
        (lambda r: r.update(params=1.5), "params must be int or null"),
        (
            lambda r: r["metrics"]["regression_error"].pop("unit"),
            "metrics.regression_error lacks 'unit'",
        ),
        (
            lambda r: r["metrics"]["regression_error"].update(higher_is_better="no"),
            "higher_is_better has type str",
        ),
        (lambda r: r["metrics"].update(pck=0.5), "metrics.pck must be an object"),
        (
            lambda r: r["timing"]["throughput"].update(value="fast"),
            "timing.throughput.value has type str",
        ),
        (lambda r: r.update(status="done"), "status must be one of finished, failed"),
        (lambda r: r.update(status="failed"), "a failed run needs an 'error' string"),
        (lambda r: r.update(schema_version=2), "schema_version 2 is not 1"),
        (lambda r: r.update(flops={"per_sample": "many"}), "flops.per_sample must be int"),
        (
            lambda r: r["metrics"]["regression_error"].update(value=None, error=["boom"]),
            "metrics.regression_error.error must be str, got list",
        ),
        (
            lambda r: r["metrics"]["regression_error"].update(breakdown={"per_joint": [1.0]}),
            "metrics.regression_error.breakdown.per_joint must be object, got list",
        ),
        (
            lambda r: r["metrics"]["regression_error"].update(
                breakdown={"per_joint": {"nose": "1.0"}}
            ),
            "metrics.regression_error.breakdown.per_joint.nose has type str",
        ),
        (lambda r: r.update(baselines={"random": 3.0}), "baselines.random must be object"),
        (
            lambda r: r.update(baselines={"random": {"pck": "high"}}),
            "baselines.random.pck has type str",
        ),
        (lambda r: r.update(evaluation="abc"), "evaluation must be object, got str"),
    ],
)
def test_validate_rejects_bad_records(make_record, change, message):
    rec = make_record()
    change(rec)
    with pytest.raises(ValueError, match=re.escape(message)):
        results.validate_record(rec)


def test_validate_rejects_foreign_json():
    with pytest.raises(ValueError, match="no schema_version"):
        results.validate_record({"name": "package.json"})
    with pytest.raises(ValueError, match="a JSON list"):
        results.validate_record([1, 2])


def test_write_record_round_trip_with_nan_and_numpy(tmp_path, make_record):
    rec = make_record(seed=2)
    rec["metrics"]["pck"] = {"value": float("nan"), "unit": "%", "higher_is_better": True}
    rec["timing"]["peak_memory"]["value"] = np.float32(64.5)
    rec["notes"] = {"inf": float("inf"), "count": np.int64(7), "where": tmp_path}
    path = results.write_record(
        results.record_path(tmp_path, "calms21", "bkind", rec["run_id"]), rec
    )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    back = json.loads(text)
    assert back["metrics"]["pck"]["value"] is None
    assert back["timing"]["peak_memory"]["value"] == 64.5
    assert back["notes"] == {"inf": None, "count": 7, "where": str(tmp_path)}
    assert back["config"] == rec["config"]
    results.validate_record(back)


def test_write_record_failure_keeps_the_old_file(tmp_path, make_record):
    path = tmp_path / "calms21" / "bkind" / "r.json"
    results.write_record(path, make_record(seed=1))
    before = path.read_bytes()
    bad = make_record(seed=2)
    bad["config"]["callback"] = object()  # valid schema, not serialisable: fails midway
    with pytest.raises(TypeError, match="record not written"):
        results.write_record(path, bad)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["r.json"]


def test_write_record_refuses_an_invalid_record(tmp_path, make_record):
    path = tmp_path / "r.json"
    with pytest.raises(ValueError, match="missing status"):
        rec = make_record()
        del rec["status"]
        results.write_record(path, rec)
    assert not path.exists()


def test_load_records_skips_corrupt_and_foreign_files(tmp_path, make_record, caplog):
    folder = tmp_path / "results"
    good = results.write_record(folder / "calms21" / "bkind" / "a.json", make_record())
    (folder / "calms21" / "bkind" / "a").mkdir()
    (folder / "calms21" / "bkind" / "a" / "predictions.json").write_text("[1, 2]")  # an artifact
    (folder / "calms21" / "bad.json").write_text('{"schema_version": 1, "run_id": ')
    (folder / "package.json").write_text('{"name": "x"}')
    with caplog.at_level(logging.WARNING, logger="kpbench"):
        records, warnings = results.load_records(folder)
    assert [r["_path"] for r in records] == [str(good)]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"{folder / 'calms21' / 'bad.json'}: skipped (not valid JSON: ")
    assert "at line 1)" in warnings[0]
    assert (
        warnings[1]
        == f"{folder / 'package.json'}: skipped (not a kpbench record: no schema_version)"
    )
    assert [r.getMessage() for r in caplog.records] == warnings


def test_records_frame_columns_units_and_directions(make_record):
    recs = [make_record(seed=0), make_record(method="other", seed=1, preset=None)]
    recs[1]["metrics"]["pck"] = {"value": 80.0, "unit": "%", "higher_is_better": True}
    df = results.records_frame(recs)
    assert list(df.columns[:11]) == [
        "run_id",
        "dataset",
        "task",
        "method",
        "preset",
        "seed",
        "status",
        "config_hash",
        "params",
        "flops",
        "device",
    ]
    assert "timing:batch_size" not in df.columns and "timing:device" not in df.columns
    assert df["metric:regression_error"].tolist() == [3.2, 3.2]
    assert math.isnan(df.loc[0, "metric:pck"]) and df.loc[1, "metric:pck"] == 80.0
    assert (
        df.loc[0, "flops"] == 2_000_000_000 and df.loc[0, "device"] == "cpu (test CPU, 2 threads)"
    )
    assert (
        df.attrs["units"]["metric:pck"] == "%"
        and df.attrs["units"]["timing:throughput"] == "samples/s"
    )
    assert df.attrs["higher"] == {"metric:regression_error": False, "metric:pck": True}


def test_records_frame_has_breakdown_columns_and_nan_for_failed_metrics(make_record):
    rec = make_record(
        metrics={
            "pck@0.1": {
                "value": 80.0,
                "unit": "%",
                "higher_is_better": True,
                "breakdown": {"per_keypoint": {"nose": 90.0, "tail": 70.0}},
            },
            "regression_error": {
                "value": None,
                "unit": "%",
                "higher_is_better": False,
                "error": "ValueError: boom",
            },
        }
    )
    df = results.records_frame([rec])
    assert df.loc[0, "breakdown:pck@0.1/per_keypoint/nose"] == 90.0
    assert df.loc[0, "breakdown:pck@0.1/per_keypoint/tail"] == 70.0
    assert math.isnan(df.loc[0, "metric:regression_error"])
    assert df.attrs["units"]["breakdown:pck@0.1/per_keypoint/nose"] == "%"
    assert df.attrs["higher"]["breakdown:pck@0.1/per_keypoint/tail"] is True


def test_records_frame_of_nothing_has_the_base_columns():
    df = results.records_frame([])
    assert len(df) == 0 and "run_id" in df.columns and "device" in df.columns
