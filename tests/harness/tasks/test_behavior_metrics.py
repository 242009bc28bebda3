"""behavior metrics (macro F1, macro AP without "other") and the mlp baseline: a hand-computed
case, scikit-learn run directly on random data, "other" found by name, absent classes, and the
mlp against the majority baseline on a synthetic two-animal set."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import SplitData
from sklearn.metrics import average_precision_score, f1_score

from kpbench.evaluation import score
from kpbench.metrics import behavior as bm
from kpbench.tasks import behavior
from kpbench.testing import PERFECT

SPEC = behavior.kpbench_tasks()[0]
METRICS = behavior.kpbench_metrics()


def _record(labels, scores, vocab) -> dict:
    scores = np.asarray(scores, float)
    return {
        "labels": np.asarray(labels),
        "scores": scores,
        "predicted": scores.argmax(axis=1),
        "vocab": vocab,
        "lengths": [len(labels)],
    }


def test_registered_metrics_units_and_direction():
    assert [(m.name, m.unit, m.higher_is_better) for m in METRICS] == [
        ("macro_f1", "%", True),
        ("macro_ap", "%", True),
    ]
    assert all(m.task == "behavior" and "other" in m.description for m in METRICS)


def test_hand_computed_f1_and_ap_without_other_at_index_1():
    vocab = {"attack": 0, "other": 1, "mount": 2}
    labels = [0, 0, 1, 1, 2, 2]
    scores = [
        [0.9, 0.1, 0.0],  # attack -> attack (TP attack)
        [0.2, 0.7, 0.1],  # attack -> other  (FN attack, FP other)
        [0.6, 0.3, 0.1],  # other  -> attack (FP attack, FN other)
        [0.1, 0.8, 0.1],  # other  -> other
        [0.1, 0.2, 0.7],  # mount  -> mount
        [0.3, 0.2, 0.5],  # mount  -> mount
    ]
    rec = _record(labels, scores, vocab)
    f1, parts = bm.macro_f1(rec)
    # F1 = 2TP / (2TP + FP + FN): attack 2/4, other 2/4, mount 4/4
    assert parts["per_class"] == pytest.approx({"attack": 50.0, "other": 50.0, "mount": 100.0})
    assert f1 == pytest.approx(75.0)  # (50 + 100) / 2: "other" left out (with it: 66.7)
    ap, parts = bm.macro_ap(rec)
    # attack ranked by its score: 0.9 (+), 0.6, 0.3, 0.2 (+): AP = ½·1 + ½·(2/4) = 0.75
    # other: 0.8 (+), 0.7, 0.3 (+): AP = ½·1 + ½·(2/3); mount: both positives on top: 1
    assert parts["per_class"] == pytest.approx(
        {"attack": 75.0, "other": 100 * (0.5 + 1 / 3), "mount": 100.0}
    )
    assert ap == pytest.approx(87.5)


def test_random_data_matches_scikit_learn_directly():
    rng = np.random.default_rng(0)
    vocab = {"attack": 0, "investigation": 1, "mount": 2, "other": 3}  # CalMS21 Task 1
    labels = rng.choice(4, 500, p=[0.1, 0.3, 0.1, 0.5])
    scores = rng.dirichlet(np.ones(4), 500) + 0.5 * np.eye(4)[labels] * rng.random((500, 1))
    rec = _record(labels, scores, vocab)
    f1 = f1_score(labels, scores.argmax(1), average=None)
    assert bm.macro_f1(rec)[0] == pytest.approx(100 * f1[:3].mean(), abs=1e-9)
    onehot = np.eye(4)[labels]
    ap = average_precision_score(onehot[:, :3], scores[:, :3], average=None)
    assert bm.macro_ap(rec)[0] == pytest.approx(100 * ap.mean(), abs=1e-9)
    assert bm.macro_ap(rec)[1]["per_class"]["other"] == pytest.approx(
        100 * average_precision_score(labels == 3, scores[:, 3])
    )


def test_other_is_found_by_name_and_all_classes_count_without_it():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 3, 200)
    scores = rng.random((200, 3))
    per_class = 100 * f1_score(labels, scores.argmax(1), average=None)
    with_other = _record(labels, scores, {"other": 0, "approach": 1, "groom": 2})  # Task 3 style
    assert bm.macro_f1(with_other)[0] == pytest.approx(per_class[1:].mean())
    no_other = _record(labels, scores, {"still": 0, "approach": 1, "groom": 2})
    assert bm.macro_f1(no_other)[0] == pytest.approx(per_class.mean())
    assert bm.scored_classes(["a", "other", "b", "c"]) == [0, 2, 3]


def test_classes_absent_from_the_labels_are_nan_and_left_out():
    vocab = {"attack": 0, "investigation": 1, "mount": 2, "other": 3}
    labels = [0, 0, 1, 3]
    scores = np.eye(4)[[0, 2, 1, 3]]  # frame 1 predicted "mount", which no frame is
    f1, parts = bm.macro_f1(_record(labels, scores, vocab))
    # attack 2/(2+0+1), investigation 1, mount only predicted: 0 (all false positives)
    assert parts["per_class"]["mount"] == 0.0
    assert f1 == pytest.approx(100 * (2 / 3 + 1 + 0) / 3)
    ap, parts = bm.macro_ap(_record(labels, scores, vocab))
    assert np.isnan(parts["per_class"]["mount"])  # no positive frame: AP undefined
    assert ap == pytest.approx(np.mean([parts["per_class"]["attack"], 100.0]))
    # neither labelled nor predicted: F1 undefined too
    _, parts = bm.macro_f1(_record([0, 1], np.eye(4)[[0, 1]], vocab))
    assert np.isnan(parts["per_class"]["mount"])
    with pytest.raises(ValueError, match="no scored class"):
        bm.macro_ap(_record([3, 3], np.eye(4)[[3, 3]], vocab))


def test_unlabelled_frames_are_left_out():
    vocab = {"a": 0, "b": 1}
    rec = _record([0, -1, 1], np.eye(2)[[0, 0, 1]], vocab)
    assert bm.macro_f1(rec)[0] == 100.0 and bm.macro_ap(rec)[0] == 100.0


# -- baselines ------------------------------------------------------------------------------------
VOCAB = {"investigation": 0, "other": 1, "attack": 2}  # "other" not last, not first


def _two_animals(rng, name: str, n: int, vocab=VOCAB) -> dict:
    """Two 7-keypoint animals at random places of a 1024 × 570 arena each frame; the class is
    their distance: attack < 120 px <= investigation < 260 px <= other."""
    centre0 = rng.uniform([100, 100], [924, 470], (n, 2))
    angle = rng.uniform(0, 2 * np.pi, n)
    gap = rng.choice([60.0, 190.0, 400.0], n) * rng.uniform(0.85, 1.15, n)
    centre1 = centre0 + gap[:, None] * np.stack([np.cos(angle), np.sin(angle)], 1)
    body = rng.normal(0, 15, (7, 2))
    kp = np.stack([centre0, centre1], 1)[:, :, None] + body + rng.normal(0, 2, (n, 2, 7, 2))
    dist = np.linalg.norm(centre1 - centre0, axis=1)
    names = np.where(dist < 120, "attack", np.where(dist < 260, "investigation", "other"))
    return {
        "name": name,
        "keypoints": kp,
        "scores": np.ones((n, 2, 7)),
        "labels": np.array([vocab[c] for c in names]),
        "vocab": dict(vocab),
        "fps": 30.0,
    }


def _scored(ev, prediction) -> dict[str, float]:
    record = behavior.evaluation(ev, prediction, {})
    return {n: e["value"] for n, e in score(METRICS, record).items()}


def test_mlp_beats_majority_on_a_synthetic_two_animal_set():
    rng = np.random.default_rng(2)
    data = SplitData({
        "train": [_two_animals(rng, f"train{i}", 600) for i in range(4)],
        "test": [_two_animals(rng, f"test{i}", 400) for i in range(2)],
    })  # fmt: skip
    ev = behavior.select(data, dict(SPEC.options))
    assert ev.info["mlp_from"] == "train" and ev.info["mlp_train_frames"] == 2400
    majority = behavior.baseline_majority(ev, None, 0)
    mlp = behavior.baseline_mlp(ev, None, 0)
    SPEC.prediction.validate(mlp, "mlp", dims=ev.dims)
    np.testing.assert_allclose(mlp["scores"].sum(axis=1), 1.0)
    base, learnt = _scored(ev, majority), _scored(ev, mlp)
    assert base["macro_f1"] < 50.0 and learnt["macro_f1"] > base["macro_f1"] + 25.0, (base, learnt)
    assert learnt["macro_ap"] > base["macro_ap"] + 25.0, (base, learnt)
    # deterministic per seed; another seed gives another network
    np.testing.assert_array_equal(behavior.baseline_mlp(ev, None, 0)["scores"], mlp["scores"])
    assert not np.array_equal(behavior.baseline_mlp(ev, None, 1)["scores"], mlp["scores"])


def test_mlp_train_frames_are_bounded_and_matched_to_the_test_vocab_by_name():
    rng = np.random.default_rng(3)
    reordered = {"attack": 0, "investigation": 1, "other": 2}
    data = SplitData({
        "train": [_two_animals(rng, "train0", 300, reordered)],
        "test": [_two_animals(rng, "test0", 50)],
    })  # fmt: skip
    train = data.splits["train"][0]
    by_name = np.array([VOCAB[n] for n in np.array(list(reordered))[train["labels"]]])
    old = behavior.MLP_MAX_TRAIN_FRAMES
    try:
        behavior.MLP_MAX_TRAIN_FRAMES = 100
        ev = behavior.select(data, dict(SPEC.options))
    finally:
        behavior.MLP_MAX_TRAIN_FRAMES = old
    keep = np.linspace(0, 299, 100).round().astype(int)
    np.testing.assert_array_equal(ev.truth["mlp_labels"], by_name[keep])
    np.testing.assert_allclose(
        ev.truth["mlp_features"], behavior.frame_features(train["keypoints"])[keep], rtol=1e-6
    )
    assert ev.truth["train_counts"].tolist() == np.bincount(by_name, minlength=3).tolist()


def test_frame_features_scale_by_the_sequence_extent():
    kp = np.array([[[[10.0, 20.0], [30.0, 60.0]]], [[[20.0, np.nan], [10.0, 40.0]]]])
    feats = behavior.frame_features(kp)  # (T=2, A=1, K=2, 2) -> (2, 4)
    assert feats.tolist() == [[0.0, 0.0, 1.0, 1.0], [0.5, -1.0, 0.0, 0.5]]


def test_mlp_is_not_formed_without_labelled_train_frames():
    rng = np.random.default_rng(4)
    data = SplitData({"test": [_two_animals(rng, "test0", 20)]})
    ev = behavior.select(data, dict(SPEC.options))
    assert ev.info["mlp_from"].startswith("not formed") and "mlp_features" not in ev.truth
    assert behavior.baseline_mlp(ev, None, 0) is None


def test_smoke_set_perfect_prediction_and_mlp():
    ev = behavior.smoke(0)
    perfect = _scored(ev, PERFECT["behavior"](ev))
    assert perfect == {"macro_f1": 100.0, "macro_ap": 100.0}
    mlp = behavior.baseline_mlp(ev, None, 0)
    SPEC.prediction.validate(mlp, "mlp", dims=ev.dims)
    assert all(0.0 <= v <= 100.0 for v in _scored(ev, mlp).values())
