"""Issue #13: the ``video`` loader says what it read. SLEAP predictions, truncated videos, an
unreadable DeepLabCut .h5 beside its .csv, and frames of several sizes are each listed in
``notes["files"]`` (used / ignored / skipped) instead of being dropped or misread silently."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from kpbench.errors import ConfigError, DataError
from kpbench.video import VideoReader
from kpbench_plugins.video.dataset import build
from kpbench_plugins.video.synth import KEYPOINTS

from .test_labels import POINTS, STRING_INDEX, dlc_frame, dlc_project


def write_predictions(path: Path, video_name: str, n_frames: int, score: float = 0.5) -> np.ndarray:
    """A ``sleap-track``-like .slp: one predicted instance (2 nodes) per frame, no user instance."""
    import sleap_io as sio

    skel = sio.Skeleton(["head", "tail"], [("head", "tail")])
    video = sio.Video(filename=video_name, open_backend=False)
    pts = np.arange(n_frames * 4, dtype=np.float32).reshape(n_frames, 2, 2)
    frames = [
        sio.LabeledFrame(
            video=video,
            frame_idx=t,
            instances=[
                sio.PredictedInstance.from_numpy(
                    pts[t], skeleton=skel, point_scores=np.full(2, score), score=score
                )
            ],
        )
        for t in range(n_frames)
    ]
    sio.save_slp(
        sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skel]),
        str(path),
        verbose=False,
    )
    return pts


def test_predictions_only_slp_is_listed_as_ignored_or_used_with_the_option(
    tmp_path, write_video, caplog
):
    write_video(tmp_path / "a.mp4", frames=12)
    pts = write_predictions(tmp_path / "a.slp", "a.mp4", 10, score=0.5)
    with caplog.at_level(logging.WARNING):
        data = build(tmp_path)
    files = data.notes["files"]
    why = "predicted instances only (10 frames); count them as labels with --set data.use_predictions=true"
    assert files["ignored"]["a.slp"] == why
    assert [r.getMessage() for r in caplog.records] == [
        f"video dataset: a.slp not used as labels: {why}"
    ]
    assert "pose2d" not in data.tasks and data.notes["label_files"] == []
    data = build(tmp_path, use_predictions=True, test_fraction=0.25)
    assert data.notes["files"]["used"]["a.slp"] == {
        "labels": "predicted",
        "frames": 10,
        "mean_score": 0.5,
    }
    assert "pose2d" in data.tasks and data.notes["use_predictions"] is True
    [train] = data.videos("train")
    np.testing.assert_array_equal(train.keypoints[:10], pts)
    assert np.isnan(train.keypoints[10:]).all()
    with pytest.raises(ConfigError, match="data.use_predictions='yes'"):
        build(tmp_path, use_predictions="yes")


def test_a_pose_run_refused_for_want_of_labels_names_the_ignored_file(
    tmp_path, write_video, capsys
):
    """The run's one error line says which file was not used as labels, and why."""
    from kpbench.cli import main

    write_video(tmp_path / "a.mp4", frames=12)
    write_predictions(tmp_path / "a.slp", "a.mp4", 10)
    argv = ["run", "--method", "hrnet", "--dataset", "video", "--data-dir", str(tmp_path)]
    argv += ["--task", "pose2d", "--no-mlflow", "--results", str(tmp_path / "results")]
    assert main(argv) == 2
    [line] = capsys.readouterr().err.strip().splitlines()[-1:]
    assert "serves discovery2d" in line and "not pose2d" in line
    assert "a.slp not used: predicted instances only (10 frames)" in line
    assert "--set data.use_predictions=true" in line


def test_predictions_file_beside_user_labels_gives_way(pen_copy):
    shutil.copy(pen_copy / "pen.slp", pen_copy / "pen.predictions.slp")
    data = build(pen_copy)
    assert "pen.predictions.slp" in data.notes["files"]["ignored"]
    write_predictions(pen_copy / "pen.predictions.slp", "pen.mp4", 5)
    data = build(pen_copy, use_predictions=True)
    files = data.notes["files"]
    assert files["used"]["pen.slp"] == {"labels": "user", "frames": 60}
    assert files["ignored"]["pen.predictions.slp"] == (
        "predictions for pen.mp4, already labelled by pen.slp"
    )


def write_avi(path: Path, frames: int = 60, size=(64, 48)) -> Path:
    """An MJPG .avi of noise (each frame a few kB, so a byte prefix keeps some frames)."""
    import cv2

    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (w, h))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 256, (h, w, 3), np.uint8))
    writer.release()
    return path


def test_truncated_video_reports_its_usable_frames(tmp_path, caplog):
    full = write_avi(tmp_path / "full.avi")
    cut = tmp_path / "data" / "cut.avi"
    cut.parent.mkdir()
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    reader = VideoReader(cut)
    decoded = sum(1 for _ in VideoReader(full).iter_frames())
    assert decoded == 60 and reader.header_frames == 60 and 5 < reader.num_frames < 30
    assert len(list(reader.iter_frames())) == reader.num_frames  # every usable frame decodes
    with caplog.at_level(logging.WARNING):
        data = build(tmp_path / "data")
    assert data.notes["files"]["used"]["cut.avi"] == {
        "size": [64, 48],
        "frames_header": 60,
        "frames_usable": reader.num_frames,
    }
    assert data.videos()[0].frame_range == range(reader.num_frames)
    [line] = [r.getMessage() for r in caplog.records if "truncated" in r.getMessage()]
    assert f"cut.avi is truncated: its header says 60 frames, only {reader.num_frames}" in line


def test_truncated_faststart_mp4_is_not_fooled_by_seeking(tmp_path, write_video):
    """The reporter's case: an H.264 mp4 with its index first, cut short. Seeking past the end
    lands on the last decodable frame (a seek-and-decode check alone says 120 of 120), so the
    check asks where the seek landed."""
    import subprocess

    ffmpeg = pytest.importorskip("imageio_ffmpeg").get_ffmpeg_exe()
    src = write_avi(tmp_path / "src.avi", frames=120, size=(64, 48))
    full = tmp_path / "full.mp4"
    cmd = [ffmpeg, "-loglevel", "error", "-i", str(src), "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    subprocess.run([*cmd, "-movflags", "faststart", str(full)], check=True)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    reader = VideoReader(cut)
    assert reader.header_frames == 120 and 5 < reader.num_frames < 60
    assert sum(1 for _ in reader.iter_frames()) == reader.num_frames
    assert VideoReader(full).num_frames == 120


def test_unreadable_dlc_h5_falls_back_to_the_csv_beside_it(tmp_path, write_image, caplog):
    folder = dlc_project(tmp_path, write_image)
    dlc_frame(STRING_INDEX).to_csv(folder / "CollectedData_me.csv")
    (folder / "CollectedData_me.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(300))
    with caplog.at_level(logging.WARNING):
        data = build(tmp_path, test_fraction=0.0)
    files = data.notes["files"]
    assert files["used"]["labeled-data/v1/CollectedData_me.csv"] == {"labels": "user", "images": 3}
    error = files["skipped"]["labeled-data/v1/CollectedData_me.h5"]
    assert error.startswith("cannot read this DeepLabCut .h5 table") and "\n" not in error
    assert error.endswith("; read CollectedData_me.csv instead")
    kp = np.stack([f.keypoints for f in data.labeled_frames("train")])
    np.testing.assert_array_equal(kp, POINTS)
    assert "CollectedData_me.h5" in caplog.text and "HDF5 error back trace" not in caplog.text
    (folder / "CollectedData_me.csv").unlink()  # no .csv to fall back on: one line, naming it
    with pytest.raises(DataError) as exc:
        build(tmp_path)
    assert "\n" not in str(exc.value) and "CollectedData_me.h5: cannot read" in str(exc.value)


def test_readable_h5_is_used_and_the_csv_beside_it_listed(tmp_path, write_image):
    folder = dlc_project(tmp_path, write_image)
    dlc_frame(STRING_INDEX).to_csv(folder / "CollectedData_me.csv")
    dlc_frame(STRING_INDEX).to_hdf(folder / "CollectedData_me.h5", key="df_with_missing")
    files = build(tmp_path).notes["files"]
    assert "labeled-data/v1/CollectedData_me.h5" in files["used"] and not files["skipped"]
    assert files["ignored"]["labeled-data/v1/CollectedData_me.csv"] == (
        "the same labels as CollectedData_me.h5, which is read"
    )


def test_frames_of_several_sizes_are_refused_at_load(tmp_path, write_image, write_video):
    for i in range(3):
        write_image(tmp_path / "mixed" / f"f{i}.png", size=(40, 30) if i < 2 else (80, 60))
    write_video(tmp_path / "ok.mp4", frames=6, size=(64, 48))
    data = build(tmp_path)
    assert data.notes["files"]["skipped"]["mixed"] == (
        "frame images of different sizes (40x30: 2 frames, e.g. f0.png; 80x60: 1 frames, "
        "e.g. f2.png); resize them to one size or put each size in its own folder"
    )
    assert [v.name for v in data.videos()] == ["ok"]
    (tmp_path / "ok.mp4").unlink()  # nothing else: one line before any training
    with pytest.raises(DataError, match=r"no readable video .*mixed: frame images of different"):
        build(tmp_path)


def test_videos_of_different_sizes_keep_their_own_size(tmp_path, write_video):
    write_video(tmp_path / "a.mp4", frames=6, size=(64, 48))
    write_video(tmp_path / "b.mp4", frames=6, size=(32, 24))
    data = build(tmp_path)
    used = data.notes["files"]["used"]
    assert (used["a.mp4"]["size"], used["b.mp4"]["size"]) == ([64, 48], [32, 24])
    for item in data.videos():
        frame = item.reader.read(item.reader.num_frames - 1)
        assert frame.shape == (item.reader.height, item.reader.width, 3)


def test_labelled_frames_of_several_sizes_are_named_at_load(pen_copy, write_image, caplog):
    from kpbench.tasks import discovery2d

    folder = dlc_project(pen_copy, write_image, config="bodyparts: [tip, mid, pivot, end]\n")
    dlc_frame(STRING_INDEX, parts=list(KEYPOINTS), values=np.ones((3, 8))).to_csv(
        folder / "CollectedData_me.csv"
    )
    with caplog.at_level(logging.WARNING):
        data = build(pen_copy)
    assert data.notes["labelled_frame_sizes"] == {"40x30": ["v1"], "96x96": ["pen.mp4"]}
    [line] = [r.getMessage() for r in caplog.records if "several sizes" in r.getMessage()]
    assert "(40x30: v1; 96x96: pen.mp4)" in line
    options = {"max_fit_frames": None, "max_test_frames": None}
    with pytest.raises(DataError, match=r"different sizes \[\(40, 30\), \(96, 96\)\]"):
        discovery2d.select(data, options)  # the run's selection, before any training
