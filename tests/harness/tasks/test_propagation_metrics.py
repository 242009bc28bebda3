"""Propagation PCK: hand-computed cases, an independent loop (CRW/UVC eval_pck's structure),
held-still scored exactly, the over-time breakdown and bins, and the PNG exporter."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.metrics import propagation as pm
from kpbench.tasks import propagation as task
from kpbench.video import ArrayFrames


def _record(target, predicted, visible, lengths, names=()) -> dict:
    target, visible = np.asarray(target, float), np.asarray(visible, bool)
    lengths = np.asarray(lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return {
        "predicted": np.asarray(predicted, float),
        "target": target,
        "visible": visible,
        "normaliser": task.normaliser(target, visible),
        "frame": np.arange(lengths.sum()) - starts,
        "video": np.repeat(np.arange(len(lengths)), lengths),
        "lengths": lengths,
        "image_size": np.tile([100, 100], (len(lengths), 1)),
        "keypoint_names": list(names),
    }


def _hand() -> dict:
    """Joints at (0, 0) and (30, 40): diagonal 50, normaliser 30 (α 0.1 → 3 px, 0.2 → 6 px)."""
    target = np.tile([[0.0, 0.0], [30.0, 40.0]], (3, 1, 1))
    pred = target.copy()
    pred[0] += 100.0  # frame 0 is never scored
    pred[1, 0] += [2.0, 0.0]  # 2 px
    pred[1, 1] += [3.0, 4.0]  # 5 px
    pred[2, 0] += [0.0, 3.0]  # 3 px: on the 0.1 threshold, counted (≤)
    pred[2, 1] += [7.0, 0.0]  # 7 px
    return _record(target, pred, np.ones((3, 2), bool), [3], ["head", "hand"])


def test_hand_computed_pck():
    value, parts = pm.pck(_hand(), 0.1)
    assert value == pytest.approx(50.0)
    assert parts["per_keypoint"] == {"head": 100.0, "hand": 0.0}
    assert parts["per_frame"] == {"1": 50.0, "2": 50.0}
    value, parts = pm.pck(_hand(), 0.2)
    assert value == pytest.approx(75.0)
    assert parts["per_keypoint"] == {"head": 100.0, "hand": 50.0}
    assert parts["per_frame"] == {"1": 100.0, "2": 50.0}


def test_invisible_joints_and_frames_without_extent_are_not_scored():
    ev = _hand()
    ev["visible"][2, 1] = False  # hand hidden in frame 2: only head visible, no box → frame out
    ev["normaliser"] = task.normaliser(ev["target"], ev["visible"])
    value, parts = pm.pck(ev, 0.1)
    assert value == pytest.approx(50.0) and parts["per_frame"]["2"] != parts["per_frame"]["2"]
    ev["visible"][1:] = False
    with pytest.raises(ValueError, match="nothing to score"):
        pm.pck(ev, 0.1)


def _reference_pck(target, pred, visible, lengths, alpha):
    """CRW/UVC eval_pck's structure: per joint, a list of normalised distances over all videos'
    frames after the first; PCK per joint = % ≤ α; mean over joints."""
    dists = [[] for _ in range(target.shape[1])]
    start = 0
    for n in lengths:
        for t in range(start + 1, start + n):
            pts = [target[t, j] for j in range(target.shape[1]) if visible[t, j]]
            if len(pts) < 2:
                continue
            pts = np.array(pts)
            w, h = pts.max(0) - pts.min(0)
            size = 0.6 * np.sqrt(w**2 + h**2)
            if size == 0:
                continue
            for j in range(target.shape[1]):
                if visible[t, j]:
                    dx, dy = pred[t, j] - target[t, j]
                    dists[j].append(np.sqrt(dx * dx + dy * dy) / size)
        start += n
    per_joint = [100.0 * np.mean(np.array(d) <= alpha) for d in dists if d]
    return float(np.mean(per_joint))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pck_matches_an_independent_loop(seed):
    rng = np.random.default_rng(seed)
    lengths = [5, 9, 3]
    f, k = sum(lengths), 6
    target = rng.uniform(0, 200, (f, k, 2))
    pred = target + rng.normal(0, 15, (f, k, 2))
    visible = rng.random((f, k)) > 0.25
    ev = _record(target, pred, visible, lengths)
    for alpha in (0.1, 0.2):
        expected = _reference_pck(target, pred, visible, lengths, alpha)
        assert pm.pck(ev, alpha)[0] == pytest.approx(expected, abs=1e-9)


def test_held_still_scores_exactly_what_is_expected():
    """Two still joints and one that jumps 10 px at frame 2: held still is right on the still
    joints everywhere, on the mover only in frame 1 (normaliser 0.6 × 50 = 30 px)."""
    kp = np.tile([[0.0, 0.0], [30.0, 40.0], [15.0, 20.0]], (4, 1, 1))
    kp[2:, 2] += [10.0, 0.0]
    video = {"name": "v", "frames": ArrayFrames(np.zeros((4, 50, 50, 3), np.uint8), "v"),
             "start": 0, "keypoints": kp, "visibility": np.ones((4, 3), bool), "fps": 30.0}  # fmt: skip
    ev = task._evalset([video], {}, {}, ["a", "b", "c"])
    rec = task.evaluation(ev, task.baseline_held_still(ev, None, 0), {})
    value, parts = pm.pck(rec, 0.2)  # threshold 6 px: the 10 px jump is an error
    assert parts["per_keypoint"] == {"a": 100.0, "b": 100.0, "c": pytest.approx(100 / 3)}
    assert value == pytest.approx((200 + 100 / 3) / 3)
    assert pm.pck(rec, 0.5)[0] == 100.0  # threshold 15 px


def test_long_videos_are_binned_over_time():
    bins, labels = pm.time_bins(np.r_[np.arange(120), np.arange(7)])
    assert len(labels) == 40 and labels[0] == "1-3" and labels[-1] == "118-119"
    assert (
        bins[0] == -1
        and bins[1] == bins[3] == 0
        and bins[4] == 1
        and bins[-4] == 0
        and bins[-1] == 1
    )
    short, labels = pm.time_bins(np.arange(5))
    assert labels == ["1", "2", "3", "4"] and short.tolist() == [-1, 0, 1, 2, 3]


def test_metrics_and_exporter_are_registered_and_the_plot_is_a_png(tmp_path):
    assert [m.name for m in task.kpbench_metrics()] == ["pck@0.1", "pck@0.2"]
    (exporter,) = task.kpbench_exporters()
    out = exporter.write(_hand(), tmp_path / "run")
    assert set(out) == {"pck_plot"} and out["pck_plot"].name == "pck_over_time.png"
    assert out["pck_plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((tmp_path / "run").glob(".*tmp"))


def test_the_smoke_set_scores_through_every_metric():
    ev = task.smoke(0)
    rec = task.evaluation(ev, task.baseline_held_still(ev, None, 0), dict(task.SMOKE_PROTOCOL))
    for metric in task.kpbench_metrics():
        value, parts = metric.fn(rec)
        assert 0 <= value <= 100 and set(parts) == {"per_keypoint", "per_frame"}
