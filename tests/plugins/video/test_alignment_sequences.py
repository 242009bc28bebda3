"""``video`` clips with ``<stem>.phases.csv`` tables as ``alignment`` sequences: sets per folder,
splits, phase order, progress (given or derived), and the one-line refusals."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.errors import ConfigError, DataError
from kpbench.tasks import alignment
from kpbench.video import VideoReader
from kpbench_plugins.video.dataset import build
from kpbench_plugins.video.phases import derived_progress


def _table(path, phases, progress=None) -> None:
    rows = ["frame,phase" + (",progress" if progress is not None else "")]
    for t, p in enumerate(phases):
        rows.append(f"{t},{p}" + (f",{progress[t]}" if progress is not None else ""))
    path.write_text("\n".join(rows) + "\n")


@pytest.fixture
def folder(tmp_path, write_video):
    """pour/ (3 clips, progress given), wave/ (2 clips, numeric phases, derived progress, plus a
    behaviour table), one top-level clip, and a clip without a table."""
    root = tmp_path / "acts"
    for name, n in (("a", 5), ("b", 6), ("c", 4)):
        write_video(root / "pour" / f"{name}.mp4", frames=n)
    _table(root / "pour" / "a.phases.csv", ["reach", "reach", "grasp", "lift", "lift"],
           [0, 0.1, 0.4, 0.7, 1.0])  # fmt: skip
    _table(root / "pour" / "b.phases.csv", ["reach"] * 2 + ["lift"] * 2 + ["grasp"] * 2,
           np.linspace(0, 1, 6).round(3))  # fmt: skip
    _table(root / "pour" / "c.phases.csv", ["grasp", "grasp", "lift", "lift"], [0.3, 0.5, 0.8, 1])
    write_video(root / "pour" / "untabled.mp4", frames=4)
    write_video(root / "wave" / "w1.mp4", frames=5)
    write_video(root / "wave" / "w2.mp4", frames=3)
    _table(root / "wave" / "w1.phases.csv", ["2", "2", "10", "10", "10"])
    _table(root / "wave" / "w2.phases.csv", ["10", "10", "10"])
    write_video(root / "wave" / "x.mp4", frames=4)
    (root / "wave" / "x.behavior.csv").write_text("frame,behavior\n0,walk\n")
    write_video(root / "solo.mp4", frames=3)
    _table(root / "solo.phases.csv", ["go", "go", "stop"])
    return root


def test_sets_splits_and_labels(folder):
    data = build(folder)  # test_fraction 0.2: per set, the first floor(0.8·N) clips train
    assert data.tasks == ("discovery2d", "alignment")
    train, test = alignment.samples(data, "train"), alignment.samples(data, "test")
    assert [(s["set"], s["name"]) for s in train] == [
        ("pour", "pour/a"), ("pour", "pour/b"), ("wave", "wave/w1"),
    ]  # fmt: skip
    assert [(s["set"], s["name"]) for s in test] == [
        ("acts", "acts/solo"), ("pour", "pour/c"), ("wave", "wave/w2"),
    ]  # fmt: skip
    a, b, w1 = train
    solo, c, w2 = test
    # pour: phases numbered by first appearance (a: reach, grasp, lift), shared by b and c
    assert a["phases"].tolist() == [0, 0, 1, 2, 2] and b["phases"].tolist() == [0, 0, 2, 2, 1, 1]
    assert c["phases"].tolist() == [1, 1, 2, 2]
    assert a["progress"].tolist() == [0, 0.1, 0.4, 0.7, 1.0]
    # wave: whole-number names keep numeric order (2 before 10); progress derived per run
    assert w1["phases"].tolist() == [0, 0, 1, 1, 1] and w2["phases"].tolist() == [1, 1, 1]
    np.testing.assert_allclose(w1["progress"], [0, 0.25, 0.5, 0.5 + 1 / 6, 0.5 + 2 / 6])
    np.testing.assert_allclose(w2["progress"], [0.5, 0.5 + 1 / 6, 0.5 + 2 / 6])
    np.testing.assert_allclose(solo["progress"], [0, 0.25, 0.5])
    # frames: the whole clip, decoded as the reader decodes it
    assert a["frames"].shape == (5, 48, 64, 3) and a["frames"].dtype == np.uint8
    np.testing.assert_array_equal(a["frames"], VideoReader(folder / "pour" / "a.mp4").read_all())
    assert {s["fps"] for s in train + test} == {30.0}
    notes = data.notes["alignment"]
    assert notes["sets"] == ["acts", "pour", "wave"]
    assert notes["sequences"] == {"train": 3, "test": 3}
    assert notes["without_phase_table"] == ["pour/untabled.mp4", "wave/x.mp4"]
    assert "wave/x.behavior.csv" in data.notes["label_files"]


def test_split_follows_test_fraction(folder):
    data = build(folder, test_fraction=0.5)
    assert [s["name"] for s in data.alignment_sequences("train")] == ["pour/a", "wave/w1"]
    assert len(data.alignment_sequences("test")) == 4


def test_missing_frames_are_refused_naming_them(folder):
    _table(folder / "pour" / "b.phases.csv", ["reach"] * 3)
    data = build(folder)  # the build serves discovery2d; alignment refuses the clip
    with pytest.raises(DataError) as err:
        data.alignment_sequences("train")
    msg = str(err.value)
    assert "b.phases.csv: 3 of b.mp4's 6 frames have no phase row (frames 3, 4, 5)" in msg
    assert "\n" not in msg


def test_blank_phase_counts_as_missing(folder):
    (folder / "solo.phases.csv").write_text("frame,phase\n0,go\n1,\n2,stop\n")
    with pytest.raises(DataError, match=r"1 of solo.mp4's 3 frames have no phase row \(frames 1\)"):
        build(folder).alignment_sequences("test")


def test_rows_beyond_the_clip_are_refused_at_build(folder):
    _table(folder / "solo.phases.csv", ["go"] * 5)
    with pytest.raises(DataError, match=r"solo.phases.csv: frame 4 is beyond solo.mp4's 3 frames"):
        build(folder)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "", "soon"])
def test_bad_progress_is_refused(folder, value):
    (folder / "solo.phases.csv").write_text(f"frame,phase,progress\n0,go,0\n1,go,{value}\n2,go,1\n")
    with pytest.raises(DataError, match=r"solo.phases.csv: progress .* at frame 1 is not a number"):
        build(folder).alignment_sequences("test")


def test_memory_limit_refuses_before_decoding(folder, monkeypatch):
    data = build(folder, max_alignment_mb=0.01)
    monkeypatch.setattr(VideoReader, "read_all", lambda *a, **k: pytest.fail("decoded"))
    with pytest.raises(DataError, match=r"3 train alignment clips would take 0 MB decoded, above "
                       r"max_alignment_mb=0.01; raise it \(--set data.max_alignment_mb=1\)"):  # fmt: skip
        data.alignment_sequences("train")
    for bad in (0, -1, "lots", True):
        with pytest.raises(ConfigError, match="data.max_alignment_mb="):
            build(folder, max_alignment_mb=bad)


def test_no_table_no_alignment(tmp_path, write_video):
    write_video(tmp_path / "a.mp4")
    data = build(tmp_path)
    assert data.tasks == ("discovery2d",) and data.alignment_sequences("test") == []


def test_derived_progress_restarts_for_each_run():
    np.testing.assert_allclose(derived_progress(np.array([0, 0, 1, 0]), 2), [0, 0.25, 0.5, 0])
