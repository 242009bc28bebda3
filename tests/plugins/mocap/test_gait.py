"""The gait rule of ``mocap`` (heel strikes → phases and cycle progress) on a synthetic walk with
known strike times and on the real CMU takes, and ``mocap``'s ``alignment`` sequences."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.tasks import alignment
from kpbench_plugins.mocap.dataset import build
from kpbench_plugins.mocap.gait import gait_labels, heel_strikes, leads

FPS = 50.0


def _walk(cycle_s=1.0, cycles=4, stand_s=1.0, heading_deg=30.0, stride_mm=300.0):
    """A pelvis standing ``stand_s`` then walking at 1.2 m/s along ``heading_deg``, each ankle's
    lead over the pelvis a sine (left ahead first), 180° apart. Returns the joints and the frames
    where each foot leads most (its true strikes)."""
    stand, walk = int(stand_s * FPS), int(cycles * cycle_s * FPS)
    t = np.arange(walk) / FPS
    heading = np.deg2rad(heading_deg)
    fwd, side = np.array([np.cos(heading), np.sin(heading), 0.0]), np.array([0, 0, 1.0])
    pelvis = np.concatenate([np.zeros(stand), 1200.0 * t])[:, None] * fwd + [0, 0, 950.0]
    phase = np.concatenate([np.zeros(stand), 2 * np.pi * t / cycle_s])
    moving = np.concatenate([np.zeros(stand), np.ones(walk)])[:, None]
    left = pelvis + moving * stride_mm * np.sin(phase)[:, None] * fwd - 870 * side
    right = pelvis - moving * stride_mm * np.sin(phase)[:, None] * fwd - 870 * side
    k = np.arange(cycles)
    true_left = stand + np.round((k + 0.25) * cycle_s * FPS).astype(int)
    true_right = stand + np.round((k + 0.75) * cycle_s * FPS).astype(int)
    return pelvis, left, right, true_left, true_right


def test_strikes_of_a_sine_walk_are_where_each_foot_leads_most():
    pelvis, left, right, true_l, true_r = _walk()
    gait = gait_labels(pelvis, left, right, FPS)
    assert gait is not None
    # the standing second gives no strike; the lead is smoothed, so allow one frame
    assert len(gait.left) == len(true_l) and np.abs(gait.left - true_l).max() <= 1
    assert len(gait.right) == len(true_r) and np.abs(gait.right - true_r).max() <= 1
    # only whole cycles kept: first left strike to the last one
    assert (gait.start, gait.stop) == (gait.left[0], gait.left[-1])
    n = gait.stop - gait.start
    assert gait.phases.shape == gait.progress.shape == (n,)
    # phase 0 from a left strike to the right strike, 1 from there to the next left strike
    rel = np.arange(gait.start, gait.stop)
    after_right = np.zeros(n, bool)
    for r in gait.right:
        nxt = gait.left[gait.left > r]
        if len(nxt):
            after_right |= (rel >= r) & (rel < nxt[0])
    assert np.array_equal(gait.phases, after_right.astype(int))
    assert 0.4 < gait.phases.mean() < 0.6
    # progress: 0 at every left strike, rising linearly to just under 1 before the next
    assert (gait.progress >= 0).all() and (gait.progress < 1).all()
    assert np.allclose(gait.progress[gait.left[:-1] - gait.start], 0.0)
    assert np.allclose(np.diff(gait.progress)[gait.progress[1:] > 0], 1 / FPS / 1.0, atol=0.002)


def test_standing_still_or_one_step_gives_no_cycle():
    pelvis, left, right, *_ = _walk(cycles=1)
    assert gait_labels(pelvis, left, right, FPS) is None
    still = np.zeros((100, 3))
    assert gait_labels(still, still + [100, 0, 0], still - [100, 0, 0], FPS) is None


def test_close_peaks_of_one_foot_keep_the_larger():
    lead = np.zeros(100)
    lead[[40, 50, 80]] = [150.0, 200.0, 120.0]  # 40 and 50 are 0.2 s apart: 50 is kept
    strikes = heel_strikes(lead, np.full(100, 1000.0), FPS)
    assert strikes.tolist() == [50, 80]
    assert heel_strikes(lead, np.zeros(100), FPS).tolist() == []  # pelvis not moving


def test_leads_follow_the_walking_direction():
    pelvis, left, right, *_ = _walk(heading_deg=-120.0)
    lead, speed = leads(pelvis, np.stack([left, right], 1), FPS, heading_s=0.5, smooth_s=0.06)
    walking = slice(int(1.5 * FPS), int(4 * FPS))
    assert np.allclose(speed[walking], 1200.0, rtol=0.01)
    assert lead[walking, 0].max() == pytest.approx(300.0, abs=5)
    assert np.allclose(lead[walking, 0], -lead[walking, 1], atol=1.0)


@pytest.fixture
def cmu(shared_data):
    root = shared_data / "cmu_mocap_131"
    if not root.is_dir():
        pytest.skip("../shared/data/cmu_mocap_131 is not present")
    return root


def test_real_walks_step_at_a_walking_cadence(cmu):
    ds = build(cmu, cameras=1)
    notes = ds.notes["alignment"]
    assert notes["takes"] == ["131_01", "131_02"] and "131_03" in notes["excluded"]
    for stem in ("131_01", "131_02"):
        s = notes["strikes"][stem]
        events = sorted([(t, "L") for t in s["left"]] + [(t, "R") for t in s["right"]])
        steps = np.diff([t for t, _ in events]) / ds.notes["fps_out"]
        assert 0.4 <= np.median(steps) <= 0.8, (stem, steps)
        alternate = np.mean([a[1] != b[1] for a, b in zip(events, events[1:])])
        assert alternate >= 0.7, (stem, events)
        assert len(s["left"]) >= 4 and len(s["right"]) >= 4


def test_alignment_sequences_validate_in_both_splits(cmu):
    ds = build(cmu, test_takes="131_02")
    assert "alignment" in ds.tasks
    train, test = alignment.samples(ds, "train"), alignment.samples(ds, "test")
    assert [s["name"] for s in train] == [f"131_01.cam{c}" for c in range(4)]
    assert [s["name"] for s in test] == [f"131_02.cam{c}" for c in range(4)]
    for s in train + test:
        assert s["set"] == "walk" and s["fps"] == 50.0 and s["keypoints"].shape[1:] == (17, 2)
        assert len(s["keypoints"]) == len(s["phases"]) == len(s["progress"])
        assert set(np.unique(s["phases"])) == {0, 1}
        assert s["progress"].min() == 0.0 and s["progress"].max() < 1.0
    # every view of a take carries the same labels; the views differ
    assert all(np.array_equal(train[0]["phases"], s["phases"]) for s in train)
    assert not np.allclose(train[0]["keypoints"], train[1]["keypoints"])
    # the kept frames are the whole gait cycles of the take's 2D keypoints
    start, stop = ds.notes["alignment"]["strikes"]["131_01"]["kept_frames"]
    cam0 = ds.sequences3d("train")[0]
    assert np.array_equal(train[0]["keypoints"], cam0["keypoints2d"][start:stop])


def test_conformance_check_with_a_test_walk(cmu):
    from kpbench.plugins import get_registry
    from kpbench.testing_data import check_dataset

    spec = get_registry().dataset("mocap")
    report = check_dataset(spec, cmu, build_options={"test_takes": "131_02"})
    assert report["alignment"] == {"train": 4, "test": 4}


def test_default_split_aligns_the_last_walk_and_says_so(cmu):
    ds = build(cmu)  # the default test take, 131_03, is the hop
    assert [s["name"] for s in ds.alignment_sequences("test")] == [
        f"131_02.cam{c}" for c in range(4)
    ]
    assert [s["name"] for s in ds.alignment_sequences("train")] == [
        f"131_01.cam{c}" for c in range(4)
    ]
    assert "131_02, is the alignment test take" in ds.notes["alignment"]["test_split"]
    chosen = build(cmu, test_takes="131_03")  # chosen by the user: no walk to test, said so
    assert chosen.alignment_sequences("test") == []
    assert "test_takes=131_02" in chosen.notes["alignment"]["test_split"]
