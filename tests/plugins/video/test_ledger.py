"""kpbench.dataset.FileLedger: every file of a data folder listed as used, ignored or skipped."""

import logging

from kpbench.dataset import FileLedger


def test_ledger_lists_files_relative_to_the_root_and_logs_skips(tmp_path, caplog):
    ledger = FileLedger(tmp_path)
    ledger.used(tmp_path / "a" / "clip.mp4", frames=10)
    ledger.used(tmp_path / "a" / "clip.mp4", frames_usable=7)
    ledger.ignored(tmp_path / "notes.txt", "not a video or label file")
    with caplog.at_level(logging.WARNING):
        ledger.skipped(tmp_path / "bad.mp4", "cannot open\nthis video")
    assert ledger.as_dict() == {
        "used": {"a/clip.mp4": {"frames": 10, "frames_usable": 7}},
        "ignored": {"notes.txt": "not a video or label file"},
        "skipped": {"bad.mp4": "cannot open this video"},
    }
    assert [r.getMessage() for r in caplog.records] == ["skipped bad.mp4: cannot open this video"]
