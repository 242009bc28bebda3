"""The alignment task: schemas, selection (test sequences scored, train ones for the probes),
baselines, evaluation record."""

from __future__ import annotations

import numpy as np
import pytest
from fake_data import SplitData

from kpbench.schema import SchemaError
from kpbench.tasks import alignment as task

SPEC = task.kpbench_tasks()[0]


def _seq(name: str, n: int, frames: bool = True, keypoints: bool = True, act: str = "pour") -> dict:
    progress = np.linspace(0.0, 1.0, n)
    kp = np.stack([np.stack([progress * 10, progress * 5 + i], -1) for i in range(3)], 1)
    kp[0, 1] = np.nan
    return {
        "name": name, "set": act, "fps": 25.0,
        "frames": np.full((n, 12, 16, 3), 7, np.uint8) if frames else None,
        "keypoints": kp if keypoints else None,
        "phases": (progress > 0.5).astype(np.int64), "progress": progress,
    }  # fmt: skip


FakeData = SplitData


def _data(test=3) -> FakeData:
    return FakeData({
        "train": [_seq(f"train{i}", 6) for i in range(2)],
        "test": [_seq(f"test{i}", 4 + i, act=("pour", "lift")[i % 2]) for i in range(test)],
    })  # fmt: skip


def test_smoke_inputs_validate_and_dims_agree():
    ev = task.smoke(0)
    for x in ev.inputs:
        SPEC.inputs.validate(x, "smoke")
    assert ev.dims == {"F": sum(len(x["frames"]) for x in ev.inputs)}
    assert ev.dims["F"] == len(ev.truth["phases"]) == len(ev.truth["progress"])
    assert len(ev.ids) == len(ev.inputs) == len(ev.truth["sets"]) == len(ev.truth["names"])
    assert sorted(set(ev.truth["sets"])) == ["down", "left"]


def test_raw_baseline_pixels_or_centred_keypoints():
    ev = task.smoke(0)
    pred = task.baseline_raw(ev, None, 0)
    SPEC.prediction.validate(pred, "baseline raw", dims=ev.dims)
    assert pred["embeddings"].shape == (ev.dims["F"], 64)
    ev = task.select(FakeData({"test": [_seq("k", 5, frames=False)]}), dict(SPEC.options))
    emb = task.baseline_raw(ev, None, 0)["embeddings"]
    SPEC.prediction.validate({"embeddings": emb}, dims=ev.dims)
    assert emb.shape == (5, 6) and not np.isnan(emb).any()
    np.testing.assert_allclose(emb.reshape(5, 3, 2)[1:].mean(1), 0.0, atol=1e-12)
    assert emb[0, 2:4].tolist() == [0.0, 0.0]  # the NaN keypoint
    mixed = FakeData({"test": [_seq("a", 4, frames=False), _seq("b", 4, keypoints=False)]})
    with pytest.raises(ValueError, match="mix"):
        task.baseline_raw(task.select(mixed, dict(SPEC.options)), None, 0)


def test_evaluation_record_keys_and_shapes():
    ev = task.smoke(0)
    f = ev.dims["F"]
    rec = task.evaluation(ev, {"embeddings": np.zeros((f, 3))}, dict(SPEC.options))
    keys = {"embeddings", "phases", "progress", "sequence", "frame", "lengths", "sets", "names"}
    assert set(rec) == keys | {"split", "stride", "thumbnails", "keypoints"}
    assert rec["embeddings"].shape == (f, 3)
    assert rec["phases"].shape == rec["progress"].shape == rec["sequence"].shape == (f,)
    assert rec["frame"].shape == (f,) and rec["lengths"].sum() == f
    lengths = rec["lengths"]
    assert rec["frame"][: lengths[0] + 1].tolist() == [*range(lengths[0]), 0]
    assert rec["sequence"][lengths[0]] == 1 and rec["sets"].shape == rec["names"].shape
    assert rec["split"].tolist() == ["test"] * 4 + ["train"] * 4 and rec["stride"] == 1
    # thumbnails (and keypoints) of the plot's pair only: the first two test sequences of "left"
    assert set(rec["thumbnails"]) == set(rec["keypoints"]) == {0, 1}
    assert rec["thumbnails"][1].shape == (lengths[1], 16, 16, 3)
    assert rec["thumbnails"][1].dtype == np.uint8 and rec["keypoints"][0].shape == (
        lengths[0],
        2,
        2,
    )


def test_thumbnails_fit_in_48_px_keeping_the_aspect():
    big = FakeData({"test": [{**_seq(f"t{i}", 3), "frames": np.zeros((3, 120, 200, 3), np.uint8)}
                             for i in range(2)]})  # fmt: skip
    ev = task.select(big, dict(SPEC.options))
    rec = task.evaluation(ev, {"embeddings": np.zeros((6, 2))}, dict(SPEC.options))
    assert rec["thumbnails"][0].shape == (3, 29, 48, 3)


def test_select_takes_test_sequences_then_train_ones_for_the_probes():
    options = dict(SPEC.options)
    ev, again = task.select(_data(), options), task.select(_data(), options)
    assert [x["name"] for x in ev.inputs] == ["test0", "test1", "test2", "train0", "train1"]
    assert ev.ids == again.ids and ev.hash == again.hash
    assert ev.ids[0] == "test:pour/test0 (4 frames)" and ev.ids[3].startswith("train:pour/")
    assert ev.unavailable is None and ev.dims == {"F": 15 + 12}
    for x in ev.inputs:
        assert not set(task.TRUTH_KEYS) & set(x)
        SPEC.inputs.validate(x)
    assert ev.truth["sets"].tolist() == ["pour", "lift", "pour", "pour", "pour"]
    assert ev.truth["split"].tolist() == ["test"] * 3 + ["train"] * 2
    assert ev.info["probe_fit"] == "train-split sequences" and ev.info["probe_sequences"] == 2
    ev = task.select(_data(5), {**options, "max_sequences": 2, "max_train_sequences": 1})
    assert [x["name"] for x in ev.inputs] == ["test0", "test4", "train0"]


def test_train_sequences_of_untested_sets_are_left_out_and_none_means_leave_one_out():
    data = FakeData({"train": [_seq("other", 5, act="jump")], "test": [_seq("t", 4)]})
    ev = task.select(data, dict(SPEC.options))
    assert [x["name"] for x in ev.inputs] == ["t"] and ev.truth["split"].tolist() == ["test"]
    assert ev.info["probe_fit"].startswith("leave one test sequence out")


def test_empty_test_split_is_unavailable_with_a_reason():
    ev = task.select(_data(test=0), dict(SPEC.options))
    assert not len(ev.inputs) and "no test-split alignment sequences" in ev.unavailable


def test_wrong_shaped_sample_names_the_field():
    bad = {**_seq("bad", 5), "phases": np.zeros(4, np.int64)}
    with pytest.raises(SchemaError, match="test sequence 'bad': field 'phases' has shape"):
        task.samples(FakeData({"test": [bad]}), "test")
    late = {**_seq("late", 5), "progress": np.linspace(0, 2, 5)}
    with pytest.raises(SchemaError, match="'progress' has values"):
        task.select(FakeData({"test": [late]}), dict(SPEC.options))
    nothing = _seq("empty", 4, frames=False, keypoints=False)
    with pytest.raises(SchemaError, match="'frames' and 'keypoints' are both missing"):
        task.samples(FakeData({"test": [nothing]}), "test")


def test_task_spec():
    assert SPEC.name == "alignment" and SPEC.unit == "frame of a sequence"
    assert set(SPEC.presets) == {"smoke", "default", "paper"} and SPEC.protocol
    assert SPEC.baselines.keys() == {"raw", "untrained"}
    assert set(SPEC.options) == {"max_sequences", "max_train_sequences", "stride"}
    names = [m.name for m in task.kpbench_metrics()]
    assert names == [
        "kendalls_tau", "cycle_consistency", "phase_accuracy@0.1", "phase_accuracy@0.5",
        "phase_accuracy@1.0", "phase_progression", "phase_agreement",
    ]  # fmt: skip
    assert all(m.task == "alignment" and m.higher_is_better for m in task.kpbench_metrics())
    assert [e.name for e in task.kpbench_exporters()] == ["alignment_plot"]


def test_a_bad_stride_is_one_clear_error():
    from kpbench.errors import ConfigError

    for bad in (0, 1.5, "2"):
        with pytest.raises(ConfigError, match="task.stride=.*integer >= 1"):
            task.select(_data(), {**SPEC.options, "stride": bad})
