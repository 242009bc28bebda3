"""The console summary of ``kpbench run`` (issue #13): it repeats each skipped file, counts the
ignored ones, says why a run has no metrics and what to do, and names sparse joints left out."""

from __future__ import annotations

from pathlib import Path

import pytest
from toy_plugin import ToyData, ToyPlugin, synthesize

import kpbench
from kpbench.cli import main
from kpbench.cli.run import print_summary
from kpbench.dataset import FileLedger, VideoItem
from kpbench.specs import DatasetSpec


class UnlabelledTestData(ToyData):
    """The toy square whose test split has no labels, with a file ledger."""

    name = "toytrainonly"

    def __init__(self, root: Path):
        super().__init__(root)
        ledger = FileLedger(root)
        ledger.used(root / "centres.npy", frames=len(self.kp))
        ledger.skipped(root / "broken.json", "not JSON: line 1 column 1; write it again")
        ledger.ignored(root / "README.txt", "not a label file")
        ledger.ignored(root / "notes.md", "not a label file")
        self.notes["files"] = ledger.as_dict()

    def videos(self, split=None):
        items = [
            VideoItem(self.reader, "train", 0, 16, self.kp),
            VideoItem(self.reader, "test", 16, None, None),
        ]
        return [v for v in items if split in (None, v.split)]


class TrainOnlyPlugin:
    __name__ = "toytrainonly"

    @kpbench.hookimpl
    def kpbench_datasets(self):
        return [
            DatasetSpec(
                name="toytrainonly",
                tasks=("discovery2d",),
                build=lambda data_dir, **o: UnlabelledTestData(Path(data_dir)),
                synthesize=synthesize,
                description="a moving square, test split unlabelled",
            )
        ]


@pytest.fixture
def registry():
    from kpbench.plugins import Registry, reset_registry

    reg = Registry()
    reg.register(ToyPlugin(), name="toy")
    reg.register(TrainOnlyPlugin(), name="toytrainonly")
    reset_registry(reg)
    yield reg
    reset_registry(None)


def test_run_without_metrics_says_why_and_repeats_skipped_files(registry, tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    synthesize(data)
    argv = ["run", "--method", "toygrid", "--dataset", "toytrainonly", "--data-dir", str(data)]
    argv += ["--preset", "smoke", "--no-mlflow", "--no-progress", "--threads", "1"]
    argv += ["--device", "cpu", "--results", str(tmp_path / "results")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "  skipped broken.json: not JSON: line 1 column 1; write it again\n" in out
    assert "  2 files ignored (why for each: data.files.ignored in the record)\n" in out
    lines = [line for line in out.splitlines() if "no metrics:" in line]
    assert len(lines) == 1
    assert "no labelled frames in the test split" in lines[0]
    assert "give the dataset labelled frames" in lines[0]


def _record(**extra) -> dict:
    return {
        "run_id": "r1",
        "method": "m",
        "dataset": "d",
        "task": "discovery2d",
        "preset": "smoke",
        "metrics": {},
        "params": 0,
        "_path": "results/d/m/r1.json",
        **extra,
    }


def test_older_records_list_skipped_files(capsys):
    print_summary(_record(data={"skipped": ["a.json: truncated", "b.json: not UTF-8"]}))
    out = capsys.readouterr().out
    assert "  skipped a.json: truncated\n" in out and "  skipped b.json: not UTF-8\n" in out
    print_summary(_record(data={"skipped": {"c.json": "empty"}, "files": ["x.npz"]}))
    assert "  skipped c.json: empty\n" in capsys.readouterr().out


def test_no_metrics_reason_from_the_notes_and_sparse_joints(capsys):
    print_summary(_record(notes={"metrics_unavailable": "no labelled frames"}))
    assert "  no metrics: no labelled frames; " in capsys.readouterr().out
    why = "joint tail excluded: labelled on 13 fit frames, the regression from K=10 keypoints needs ≥ 20"
    metrics = {"regression_error": {"value": 1.5, "unit": "%", "higher_is_better": False}}
    print_summary(_record(metrics=metrics, evaluation={"selection": {"excluded": {"tail": why}}}))
    out = capsys.readouterr().out
    assert f"  {why}\n" in out and "no metrics" not in out


def test_a_run_the_tracker_missed_says_how_to_sync_it(capsys):
    tracking = {"error": "start failed: ConnectionError: refused", "synced": False}
    print_summary(_record(tracking=tracking, _path="out/res/d/m/r1.json"))
    out = capsys.readouterr().out
    assert "MLflow: tracking failed (start failed: ConnectionError: refused)" in out
    assert "`kpbench sync out/res`" in out


def test_results_that_is_a_file_is_one_line_before_anything_runs(registry, tmp_path, capsys):
    (tmp_path / "results").write_text("not a folder")
    argv = ["run", "--method", "toygrid", "--dataset", "toy", "--data-dir", str(tmp_path)]
    argv += ["--no-mlflow", "--results", str(tmp_path / "results")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"kpbench: error: --results {tmp_path / 'results'} is a file; it takes the folder records are written to"
    ]
