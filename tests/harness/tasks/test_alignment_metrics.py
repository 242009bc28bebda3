"""The alignment metrics (TCC's evaluation), the untrained baseline and the alignment plot."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fake_data import SplitData

from kpbench.evaluation import score
from kpbench.metrics import alignment as am
from kpbench.tasks import alignment as task

SPEC = task.kpbench_tasks()[0]
OPTIONS = dict(SPEC.options)


def _rec(embs, phases=None, progress=None, sets=None, split=None, stride=1) -> dict:
    """An evaluation record from per-sequence embeddings (1-D lists become (T, 1))."""
    embs = [np.asarray(e, np.float64).reshape(len(e), -1) for e in embs]
    lengths = np.array([len(e) for e in embs])
    phases = phases or [np.zeros(n, np.int64) for n in lengths]
    progress = progress or [np.linspace(0, 1, n) for n in lengths]
    return {
        "embeddings": np.concatenate(embs),
        "phases": np.concatenate([np.asarray(p, np.int64) for p in phases]),
        "progress": np.concatenate([np.asarray(p, np.float64) for p in progress]),
        "sequence": np.repeat(np.arange(len(lengths)), lengths),
        "frame": np.concatenate([np.arange(n) for n in lengths]),
        "lengths": lengths,
        "sets": np.array(sets or ["a"] * len(lengths)),
        "names": np.array([f"s{i}" for i in range(len(lengths))]),
        "split": np.array(split or ["test"] * len(lengths)),
        "stride": stride,
    }


def _tau_b(x, y) -> float:
    """Kendall's τ-b counted pair by pair (independent of scipy)."""
    c = d = tx = ty = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            sx, sy = np.sign(x[j] - x[i]), np.sign(y[j] - y[i])
            c, d = c + (sx * sy > 0), d + (sx * sy < 0)
            tx, ty = tx + (sx == 0), ty + (sy == 0)
    n0 = len(x) * (len(x) - 1) // 2
    return (c - d) / math.sqrt((n0 - tx) * (n0 - ty))


# ---- Kendall's τ -------------------------------------------------------------------------


def test_tau_is_one_for_identical_and_minus_one_for_reversed_sequences():
    seq = np.arange(10.0)
    assert am.kendalls_tau(_rec([seq, seq]))[0] == pytest.approx(1.0)
    assert am.kendalls_tau(_rec([seq, seq[::-1]]))[0] == pytest.approx(-1.0)


def test_tau_by_hand_with_a_tied_match_and_an_independent_count():
    a, b = [0.0, 1.0, 2.0, 3.0, 4.0], [0.2, 3.1, 1.9, 4.5]
    value, breakdown = am.kendalls_tau(_rec([a, b]))
    # a → b: nearest [0, 0, 2, 1, 3]: 8 concordant, 1 discordant, 1 tie of 10 pairs
    # b → a: nearest [0, 3, 2, 4]: 5 concordant, 1 discordant of 6 pairs
    by_hand = (7 / math.sqrt(10 * 9) + 4 / 6) / 2
    assert value == pytest.approx(by_hand) and breakdown["per_set"] == {"a": pytest.approx(by_hand)}
    counted = (_tau_b(range(5), [0, 0, 2, 1, 3]) + _tau_b(range(4), [0, 3, 2, 4])) / 2
    assert value == pytest.approx(counted)


def test_tau_matches_an_independent_count_on_random_embeddings_and_stride():
    rng = np.random.default_rng(3)
    seqs = [rng.normal(size=(n, 4)) for n in (13, 17, 11)]
    for stride in (1, 2, 3):
        expected = []
        for i in range(3):
            for j in range(3):
                if i != j:
                    q, c = seqs[i][::stride], seqs[j][::stride]
                    nn = [int(np.argmin(((c - f) ** 2).sum(1))) for f in q]
                    expected.append(_tau_b(range(len(nn)), nn))
        value, _ = am.kendalls_tau(_rec(seqs, stride=stride))
        assert value == pytest.approx(np.nanmean(expected))


def test_a_time_warped_copy_is_aligned_along_the_warp():
    u = np.linspace(0, 1, 40)
    curve = lambda s: np.stack([np.cos(np.pi * s), np.sin(np.pi * s)], -1)  # noqa: E731
    k = np.arange(60)
    warped = curve((k / 59) ** 2)  # B's frame k shows A's progress (k/59)²
    rec = _rec([curve(u), warped])
    path = am.nn_path(rec, 0, 1)
    assert (np.diff(path) >= 0).all()
    expected = 59 * np.sqrt(u)
    assert np.abs(path - expected).max() <= 1.0
    assert am.kendalls_tau(rec)[0] > 0.99
    # B's slow start matches several of its frames to A's first: those come back to B's first
    assert 90.0 < am.cycle_consistency(rec)[0] < 100.0


# ---- cycle consistency and phase agreement -------------------------------------------------


def test_cycle_consistency_identical_and_by_hand():
    seq = np.random.default_rng(0).normal(size=(12, 3))
    assert am.cycle_consistency(_rec([seq, seq]))[0] == 100.0
    # a → b: [1, 1, 1, 0, 0, 0]; back: b[1]=0 → a0, b[0]=5 → a5; frames 2 and 3 miss by 2
    value, breakdown = am.cycle_consistency(_rec([[0, 1, 2, 3, 4, 5], [5, 0]]))
    assert value == pytest.approx((4 / 6 * 100 + 100) / 2)


def test_phase_agreement_by_hand():
    a, b = [0.0, 1.0, 2.0, 3.0], [0.2, 1.2, 2.9]
    rec = _rec([a, b], phases=[[0, 0, 1, 1], [0, 1, 1]])
    # a → b: nearest [0, 1, 1, 2], phases [0, 1, 1, 1] vs [0, 0, 1, 1]: 3/4
    # b → a: nearest [0, 1, 3], phases [0, 0, 1] vs [0, 1, 1]: 2/3
    assert am.phase_agreement(rec)[0] == pytest.approx((75 + 200 / 3) / 2)


def test_sets_are_scored_apart_and_a_lone_test_sequence_says_why():
    seq = np.arange(8.0)
    rec = _rec([seq, seq[::-1], seq, seq], sets=["x", "x", "y", "z"], split=["test"] * 4)
    value, breakdown = am.kendalls_tau(rec)
    assert breakdown["per_set"]["x"] == pytest.approx(-1.0)
    assert math.isnan(breakdown["per_set"]["y"]) and math.isnan(breakdown["per_set"]["z"])
    assert value == pytest.approx(-1.0)
    assert set(breakdown["not_scored"]) == {
        "y: one test sequence, no pair",
        "z: one test sequence, no pair",
    }
    lone = am.cycle_consistency(_rec([seq]))
    assert math.isnan(lone[0]) and "a: one test sequence, no pair" in lone[1]["not_scored"]


def test_constant_embeddings_give_nan_tau_with_a_reason_and_the_rest_still_score():
    rec = _rec([np.zeros((6, 2)), np.zeros((6, 2))], phases=[[0, 0, 0, 1, 1, 1]] * 2)
    value, breakdown = am.kendalls_tau(rec)
    assert math.isnan(value) and "constant nearest neighbours" in next(
        iter(breakdown["not_scored"])
    )
    assert am.cycle_consistency(rec)[0] == pytest.approx(100 * 2 / 6)  # all match frame 0
    assert am.phase_accuracy(rec, 1.0)[0] == pytest.approx(50.0)  # one class guessed


# ---- probes: phase accuracy and progression -------------------------------------------------


def test_phase_accuracy_by_hand_on_train_sequences():
    rec = _rec([[0.5, 10.5, 9.0], [0.0, 1.0, 10.0, 11.0]], phases=[[0, 1, 0], [0, 0, 1, 1]],
               split=["test", "train"])  # fmt: skip
    for fraction in (0.1, 0.5, 1.0):  # one train sequence: at least one is always used
        value, breakdown = am.phase_accuracy(rec, fraction)
        assert value == pytest.approx(200 / 3) and breakdown["leave_one_out"] == {"a": 0.0}


def _phased(rng, n_seqs, separable: bool, n=60, split="test"):
    phases = [np.repeat([0, 1, 2], n // 3) for _ in range(n_seqs)]
    embs = [
        (np.eye(3)[p] * 5 if separable else 0) + rng.normal(0, 0.3 if separable else 1, (n, 3))
        for p in phases
    ]
    return embs, phases, [split] * n_seqs


def test_phase_accuracy_is_perfect_when_separable_and_near_chance_on_random():
    rng = np.random.default_rng(0)
    for separable, lo, hi in ((True, 100.0, 100.0), (False, 15.0, 52.0)):
        e1, p1, s1 = _phased(rng, 3, separable)
        e2, p2, s2 = _phased(rng, 6, separable, split="train")
        rec = _rec(e1 + e2, phases=p1 + p2, split=s1 + s2)
        for fraction in (0.1, 0.5, 1.0):
            assert lo <= am.phase_accuracy(rec, fraction)[0] <= hi


def test_one_phase_in_the_drawn_train_frames_is_nan_with_a_reason():
    test = [np.arange(4.0)] * 2
    train = [np.full(4, float(i % 2)) for i in range(10)]
    rec = _rec(test + train, phases=[[0, 0, 1, 1]] * 2 + [[i % 2] * 4 for i in range(10)],
               split=["test"] * 2 + ["train"] * 10)  # fmt: skip
    value, breakdown = am.phase_accuracy(rec, 0.1)  # one train sequence: one phase
    assert math.isnan(value)
    (reason,) = breakdown["not_scored"]
    assert reason.startswith("a: one phase (") and "classifier is fit on" in reason
    assert not math.isnan(am.phase_accuracy(rec, 1.0)[0])


def test_fallback_without_train_sequences_is_leave_one_sequence_out():
    rng = np.random.default_rng(1)
    embs, phases, split = _phased(rng, 4, True)
    rec = _rec(embs, phases=phases, split=split)
    value, breakdown = am.phase_accuracy(rec, 0.5)
    assert value == 100.0 and breakdown["leave_one_out"] == {"a": 1.0}
    prog = [np.linspace(0, 1, 60)] * 4
    rec = _rec([np.stack([p, rng.normal(size=60)], -1) for p in prog], progress=prog)
    assert am.phase_progression(rec)[0] == pytest.approx(1.0)
    lone = am.phase_progression(_rec([np.arange(5.0)]))
    assert math.isnan(lone[0]) and "no train sequence" in next(iter(lone[1]["not_scored"]))


def test_progression_r2_is_one_when_a_dimension_is_the_progress_and_low_on_noise():
    rng = np.random.default_rng(2)
    prog = [np.sort(rng.uniform(0, 1, n)) for n in (30, 40, 35, 50)]
    exact = [np.stack([3 * p - 1, rng.normal(size=len(p))], -1) for p in prog]
    rec = _rec(exact, progress=prog, split=["test", "test", "train", "train"])
    value, breakdown = am.phase_progression(rec)
    assert value == pytest.approx(1.0) and breakdown["leave_one_out"] == {"a": 0.0}
    noise = [rng.normal(size=(len(p), 2)) for p in prog]
    rec = _rec(noise, progress=prog, split=["test", "test", "train", "train"])
    assert am.phase_progression(rec)[0] < 0.2


def test_a_wrong_shaped_record_is_one_clear_error():
    rec = {**_rec([np.arange(4.0)] * 2), "embeddings": np.zeros((5, 2))}
    with pytest.raises(ValueError, match=r"embeddings \(5, 2\) must be \(F, D\) with F = 8"):
        am.kendalls_tau(rec)
    with pytest.raises(ValueError, match="fraction 0 must be in"):
        am.phase_accuracy(_rec([np.arange(4.0)] * 2), 0)


# ---- through the task: smoke, baselines, plot ----------------------------------------------


def test_smoke_scores_every_metric_for_both_baselines():
    from kpbench.testing import check_task

    ev = task.smoke(0)
    assert ev.truth["split"].tolist() == ["test"] * 4 + ["train"] * 4
    report = check_task(SPEC)
    assert set(report["baselines"]) == {"raw", "untrained"}
    for values in report["baselines"].values():
        assert len(values) == 7 and all(np.isfinite(v) for v in values.values())
        assert values["kendalls_tau"] > 0.9 and values["phase_accuracy@1.0"] > 80


def test_untrained_baseline_embeds_frames_and_keypoints_seeded():
    ev = task.smoke(0)
    emb = task.baseline_untrained(ev, None, 0)["embeddings"]
    assert emb.shape == (ev.dims["F"], 512) and np.isfinite(emb).all() and emb.std() > 0
    np.testing.assert_allclose(emb, task.baseline_untrained(ev, None, 0)["embeddings"], atol=1e-6)
    kp_only = [{**x, "frames": None} for x in ev.inputs]
    ev_kp = type(ev)(kp_only, ev.truth, ev.ids, ev.dims)
    one, two = (task.baseline_untrained(ev_kp, None, s)["embeddings"] for s in (0, 1))
    assert one.shape == (ev.dims["F"], 128) and not np.allclose(one, two)
    raw = task.baseline_raw(ev_kp, None, 0)["embeddings"]
    assert raw.shape == (ev.dims["F"], 4)
    mixed = type(ev)([kp_only[0], {**ev.inputs[1], "keypoints": None}])
    with pytest.raises(ValueError, match="baseline untrained: the inputs mix"):
        task.baseline_untrained(mixed, None, 0)


def _png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_is_written_for_frames_and_for_keypoints_only(tmp_path):
    ev = task.smoke(0)
    rec = task.evaluation(ev, task.baseline_raw(ev, None, 0), OPTIONS)
    (spec,) = task.kpbench_exporters()
    out = spec.write(rec, tmp_path / "frames")
    assert out == {"alignment_plot": tmp_path / "frames" / "alignment.png"} and _png(
        out["alignment_plot"]
    )
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["alignment.png"]
    seqs = [
        {"name": f"w{i}", "set": "walk", "fps": 50.0, "frames": None,
         "keypoints": np.random.default_rng(i).normal(size=(n, 5, 2)) * 20 + 100,
         "phases": np.arange(n) % 2, "progress": np.linspace(0, 1, n)}
        for i, n in enumerate((9, 12))
    ]  # fmt: skip
    ev = task.select(SplitData({"test": seqs}), OPTIONS)
    rec = task.evaluation(ev, task.baseline_raw(ev, None, 0), OPTIONS)
    assert rec["thumbnails"] == {} and set(rec["keypoints"]) == {0, 1}
    assert _png(spec.write(rec, tmp_path / "kp")["alignment_plot"])
    with pytest.raises(ValueError, match="no set has two test sequences"):
        spec.write(_rec([np.arange(3.0)]), tmp_path / "none")


def test_scoring_a_record_keeps_nan_sets_out_of_the_mean_and_names_them():
    seq = np.arange(6.0)
    rec = _rec([seq, seq, seq], sets=["x", "x", "y"])
    scored = score(task.kpbench_metrics(), rec)
    assert scored["kendalls_tau"]["value"] == pytest.approx(1.0)
    assert "y: one test sequence, no pair" in scored["kendalls_tau"]["breakdown"]["not_scored"]


def test_a_run_scores_the_method_and_baselines_and_writes_the_plot(tmp_path):
    """Through :func:`kpbench.evaluation.evaluate`, as the runner calls it."""
    from types import SimpleNamespace

    from kpbench.evaluation import evaluate
    from kpbench.plugins import Registry

    reg = Registry()
    ev = task.smoke(0)
    artifacts, notes = {}, {}
    ctx = SimpleNamespace(
        run_dir=tmp_path, is_main=True, add_artifact=artifacts.__setitem__, note=notes.__setitem__
    )
    method = SimpleNamespace(
        name="pixels", predict=lambda inputs, ctx: task.baseline_raw(ev, None, 0)
    )
    out = evaluate(
        SPEC, ev, method, OPTIONS, task.kpbench_metrics(), ctx, 0, reg.exporters("alignment")
    )
    assert not notes and artifacts["alignment_plot"] == tmp_path / "alignment.png"
    assert (
        _png(tmp_path / "alignment.png") and out["evaluation"]["selection"]["probe_sequences"] == 4
    )
    assert out["metrics"]["kendalls_tau"]["value"] > 0.9
    assert set(out["baselines"]) == {"raw", "untrained"}
    assert (
        out["baselines"]["raw"]["phase_accuracy@1.0"]
        == out["metrics"]["phase_accuracy@1.0"]["value"]
    )
