"""--resume through the runner: a finished run is never touched, an interrupted one continues and
its record says from where, and ``--resume latest`` is the unfinished run checkpointed last."""

from __future__ import annotations

import os

import pytest

from kpbench.errors import ConfigError, KpbenchError
from kpbench.runner import RunOptions, _find_resume, run


def _opts(toy_data, tmp_path, **kw) -> RunOptions:
    return RunOptions(method="toymethod", dataset="toy", data_dir=toy_data, mlflow=False,
                      results_dir=tmp_path / "res", progress=False, **kw)  # fmt: skip


def test_a_finished_run_is_never_resumed(toy_registry, toy_data, tmp_path):
    rec = run(_opts(toy_data, tmp_path), toy_registry)
    record = rec["_path"]
    before = open(record, "rb").read(), os.stat(record).st_mtime_ns
    with pytest.raises(ConfigError, match="that run finished"):
        run(_opts(toy_data, tmp_path, resume=rec["run_id"]), toy_registry)
    with pytest.raises(ConfigError, match="no interrupted run with a checkpoint"):
        run(_opts(toy_data, tmp_path, resume="latest"), toy_registry)
    assert (open(record, "rb").read(), os.stat(record).st_mtime_ns) == before


def test_a_resumed_record_notes_where_it_resumed(toy_registry, toy_data, tmp_path):
    with pytest.raises(KpbenchError, match="planned failure"):
        run(_opts(toy_data, tmp_path, sets=["fail_at_epoch=2"]), toy_registry)
    rec = run(_opts(toy_data, tmp_path, resume="latest"), toy_registry)
    assert rec["notes"]["resumed_from"] == {"epoch": 2, "step": 0}
    assert [h["epoch"] for h in rec["history"]] == [0, 1, 2]


def test_latest_is_the_unfinished_run_checkpointed_last(tmp_path):
    folder = tmp_path / "toy" / "toymethod"
    for name, when in (("b-older", 1_000), ("a-newer", 2_000), ("c-done", 3_000)):
        (folder / name).mkdir(parents=True)
        (folder / name / "checkpoint.pt").write_bytes(b"")
        os.utime(folder / name / "checkpoint.pt", (when, when))
    (folder / "c-done.json").write_text('{"status": "finished"}')
    assert _find_resume(tmp_path, "toy", "toymethod", "latest") == "a-newer"
