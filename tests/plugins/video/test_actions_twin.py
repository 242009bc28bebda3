"""The ``actions`` twin: written through the CLI, read back by the ``actions`` / ``video`` loader
as valid ``alignment`` splits, deterministic, labelled with its own truth, and learnable from
raw pixels (better than chance)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kpbench.cli import main
from kpbench.errors import ConfigError
from kpbench.plugins import get_registry
from kpbench.tasks import alignment
from kpbench.video import VideoReader
from kpbench_plugins.video.actions import PHASES, render, synthesize, timeline

SMALL = {"videos": 4, "min_frames": 20, "max_frames": 30}


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    out = tmp_path_factory.mktemp("actions") / "twin"
    assert main(["data", "synth", "actions", "--out", str(out), "--seed", "3",
                 *[f"--set={k}={v}" for k, v in SMALL.items()]]) == 0  # fmt: skip
    return out


def test_layout_and_tables(twin):
    assert sorted(p.name for p in twin.iterdir()) == ["README.md", "pen_rotate", "pour"]
    assert "pen_rotate/" in (twin / "README.md").read_text()
    for action, names in PHASES.items():
        files = sorted(p.name for p in (twin / action).iterdir())
        assert files == sorted(
            f"{action}_{i:02d}{ext}" for i in range(4) for ext in (".mp4", ".phases.csv")
        )
        for i in range(4):
            table = pd.read_csv(twin / action / f"{action}_{i:02d}.phases.csv")
            frames, u, phases = render(
                action, 3, i, width=64, height=64, min_frames=20, max_frames=30
            )
            assert table.columns.tolist() == ["frame", "phase", "progress"]
            assert table["frame"].tolist() == list(range(len(frames))) and 20 <= len(frames) <= 30
            assert table["phase"].tolist() == [names[p] for p in phases]
            np.testing.assert_allclose(table["progress"], u, atol=1e-5)
            decoded = VideoReader(twin / action / f"{action}_{i:02d}.mp4").read_all()
            assert decoded.shape == frames.shape == (len(frames), 64, 64, 3)
            assert np.abs(decoded.astype(float) - frames).mean() < 6  # mp4v is lossy, mildly


@pytest.mark.parametrize("dataset", ["actions", "video"])
def test_round_trip_through_build_and_the_task(twin, dataset):
    data = get_registry().dataset(dataset).build(twin)
    assert data.name == dataset and "alignment" in data.tasks
    train, test = alignment.samples(data, "train"), alignment.samples(data, "test")
    # 4 clips per action, test_fraction 0.2: the first 3 of each set train, the last one test
    assert [s["name"] for s in test] == ["pen_rotate/pen_rotate_03", "pour/pour_03"]
    assert len(train) == 6 and {s["set"] for s in train} == set(PHASES)
    for s in train + test:
        action, i = s["set"], int(s["name"][-2:])
        _, u, phases = render(action, 3, i, min_frames=20, max_frames=30)
        assert s["phases"].tolist() == phases.tolist()  # names in order of first appearance
        np.testing.assert_allclose(s["progress"], u, atol=1e-5)
        assert s["fps"] == 30.0 and s["frames"].dtype == np.uint8


def test_deterministic_per_seed(tmp_path):
    a = synthesize(tmp_path / "a", 5, actions="pour", videos=2, min_frames=20, max_frames=24)
    b = synthesize(tmp_path / "b", 5, actions="pour", videos=2, min_frames=20, max_frames=24)
    c = synthesize(tmp_path / "c", 6, actions="pour", videos=2, min_frames=20, max_frames=24)
    for i in range(2):
        name = f"pour/pour_{i:02d}"
        same = [(d / f"{name}.phases.csv").read_text() for d in (a, b)]
        assert same[0] == same[1] != (c / f"{name}.phases.csv").read_text()
        va, vb = (VideoReader(d / f"{name}.mp4").read_all() for d in (a, b))
        np.testing.assert_array_equal(va, vb)


def test_timeline_idles_pauses_and_ends():
    for seed in range(20):
        rng = np.random.default_rng(seed)
        u = timeline(rng, 60)
        assert len(u) == 60 and u[0] == 0.0 and u[-1] == 1.0 and (np.diff(u) >= 0).all()
        moving = u[np.argmax(u > 0) - 1 :]  # from the last idle frame on
        assert (np.diff(moving) == 0).sum() >= 1  # at least one held (paused) frame


def test_every_phase_appears_in_order():
    for action, names in PHASES.items():
        for i in range(4):
            _, u, phases = render(action, 0, i)
            assert (np.diff(phases) >= 0).all() and set(phases) == set(range(len(names)))
            assert phases[0] == 0 and u[0] == 0.0  # idle start: first phase, progress 0


def test_every_clip_has_its_own_camera():
    """Zoom and shift are drawn per clip: the upright pen's dark pixels sit at a different
    place in each clip's first frame (spread well beyond the old ±3 px offset)."""
    import cv2

    centres = []
    for i in range(8):
        frames, _, _ = render("pen_rotate", 0, i, min_frames=20, max_frames=20)
        ys, xs = np.nonzero(cv2.cvtColor(frames[0], cv2.COLOR_RGB2GRAY) < 120)
        centres.append((xs.mean(), ys.mean()))
    spread = np.ptp(np.array(centres), axis=0)
    assert (spread > 8).all(), spread


def _pixels(frames: np.ndarray) -> np.ndarray:
    """The alignment task's ``raw`` baseline features: grey, 8×8 (INTER_AREA), flattened."""
    import cv2

    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return (
        np.stack([cv2.resize(g, (8, 8), interpolation=cv2.INTER_AREA) for g in grey])
        .reshape(len(frames), 64)
        .astype(np.float64)
    )


def test_raw_pixels_tell_the_phases_apart():
    """Leave-one-clip-out 1-NN on the alignment task's raw 8×8 grey pixels beats chance."""
    for action, names in PHASES.items():
        clips = [render(action, 1, i, min_frames=30, max_frames=40) for i in range(6)]
        feats = [_pixels(f) for f, _, _ in clips]
        hits = []
        for i, (_, _, phases) in enumerate(clips):
            others = [j for j in range(6) if j != i]
            x = np.concatenate([feats[j] for j in others])
            y = np.concatenate([clips[j][2] for j in others])
            d = ((feats[i][:, None] - x[None]) ** 2).sum(-1)
            hits.append(y[d.argmin(1)] == phases)
        accuracy = np.concatenate(hits).mean()
        assert accuracy > 2.5 / len(names), (action, accuracy)


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"actions": "juggle"}, "actions='juggle': unknown"),
        ({"videos": 0}, "videos=0: must be a whole number >= 1"),
        ({"width": 63}, "width=63: must be an even whole number >= 32"),
        ({"min_frames": 50, "max_frames": 40}, "20 <= min_frames <= max_frames"),
        ({"min_frames": 10}, "20 <= min_frames <= max_frames"),
        ({"fps": 0}, "fps=0: must be a number > 0"),
    ],
)
def test_bad_options_are_one_line(tmp_path, options, problem):
    with pytest.raises(ConfigError, match=problem) as err:
        synthesize(tmp_path, 0, **options)
    assert "\n" not in str(err.value)


def test_conformance_check_on_the_twin(twin):
    from kpbench.testing_data import check_dataset

    report = check_dataset(get_registry().dataset("actions"), twin)
    assert report["alignment"] == {"train": 6, "test": 2}
    assert report["discovery2d"]["train"] > 0  # every frame of every clip, for training
