"""TCC as a method: the conformance suite on both tasks, training that aligns keypoint
sequences a raw or untrained embedding cannot, the input choice, and the behaviour probe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kpbench.config import resolve
from kpbench.context import Context
from kpbench.dataset import KeypointDataset
from kpbench.errors import DataError
from kpbench.evaluation import score
from kpbench.plugins import get_registry
from kpbench.testing import check_method, check_reference
from kpbench.tracking import Tracker

SPEC = get_registry().method("tcc")


def config(preset="smoke", **over):
    return resolve(SPEC, preset, None, over)[0]


def context(cfg, tmp_path: Path) -> Context:
    return Context(cfg, torch.device("cpu"), 0, tmp_path, False, Tracker(enabled=False), False,
                   rank=0, world_size=1, local_rank=0)  # fmt: skip


@pytest.mark.parametrize("task", ["alignment", "behavior"])
def test_conforms_on_the_smoke_set(task, tmp_path):
    report = check_method(SPEC, task, tmp_dir=tmp_path)
    assert np.isfinite(report["loss"]) and report["flops"] > 0


def test_reference_figures_are_the_paper_model():
    figures = check_reference(SPEC)
    assert figures["params"] == 27_019_456


def _reach(rng: np.random.Generator, name: str) -> dict:
    """A two-link arm sweeping a half circle at its own pace (a random time warp), plus two
    joints wandering 150 px at random: only the arm is common to the sequences."""
    n = int(rng.integers(40, 70))
    p = np.linspace(0, 1, n) ** rng.uniform(0.6, 1.6)
    elbow = np.stack([np.cos(np.pi * p), np.sin(np.pi * p)], -1) * 50
    wrist = elbow + np.stack([np.cos(2 * np.pi * p), np.sin(2 * np.pi * p)], -1) * 40
    walk = np.cumsum(rng.normal(0, 1, (n, 2, 2)), 0)
    walk = 150 * walk / np.abs(walk).max()
    kp = np.concatenate([np.stack([0 * elbow, elbow, wrist], 1), walk], 1) + 200
    kp += rng.normal(0, 1.0, kp.shape)
    return {"name": name, "set": "reach", "keypoints": kp, "fps": 30.0,
            "phases": np.minimum(p * 3, 2).astype(np.int64), "progress": p}  # fmt: skip


class Reach(KeypointDataset):
    name = "reach"

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.split = {"train": [_reach(rng, f"train{i}") for i in range(10)],
                      "test": [_reach(rng, f"test{i}") for i in range(4)]}  # fmt: skip

    def alignment_sequences(self, split):
        return list(self.split[split])


def test_training_aligns_what_raw_and_random_embeddings_cannot(tmp_path):
    reg = get_registry()
    task = reg.task("alignment")
    data, options = Reach(), dict(task.options)
    evalset = task.select(data, options)

    def tau(prediction) -> float:
        record = task.evaluation(evalset, prediction, options)
        return score(reg.metrics("alignment"), record)["kendalls_tau"]["value"]

    cfg = config(steps=600, steps_per_epoch=200, lr=1e-3, keypoint_channels=64,
                 embedder_channels=64, fc_channels=64)  # fmt: skip
    torch.manual_seed(0)
    method = SPEC.build(cfg, num_keypoints=None, task="alignment", dims=evalset.dims)
    ctx = context(cfg, tmp_path)
    before = tau(method.predict(evalset.inputs, ctx))  # input auto: keypoints, untrained
    method.fit(data, ctx)
    prediction = method.predict(evalset.inputs, ctx)
    after = tau(prediction)
    raw = tau(task.baselines["raw"](evalset, None, 0))
    assert ctx.notes["input"] == "keypoints" and method.joints == 5
    assert after > before + 0.2 and after > raw + 0.1, (before, after, raw)
    # the keypoint model round-trips into a method built for pixels
    fresh = SPEC.build(cfg, num_keypoints=None, task="alignment", dims=evalset.dims)
    fresh.load_state_dict(method.state_dict())
    np.testing.assert_allclose(
        fresh.predict(evalset.inputs, ctx)["embeddings"], prediction["embeddings"], atol=1e-5
    )


def test_input_frames_on_keypoint_only_data_is_one_line(tmp_path):
    cfg = config(input="frames")
    method = SPEC.build(cfg, num_keypoints=None, task="alignment")
    with pytest.raises(DataError, match="input 'frames' needs frames in every sequence") as err:
        method.fit(Reach(), context(cfg, tmp_path))
    assert "\n" not in str(err.value)


class Poses(KeypointDataset):
    """Behaviour: one animal of 4 joints in a row, lying (class 0, the row horizontal) or
    rearing (class 1, vertical) in bouts of 10 to 30 frames, wandering about the frame."""

    name = "poses"

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.split = {s: [self._sequence(rng, f"{s}{i}") for i in range(n)]
                      for s, n in (("train", 4), ("test", 2))}  # fmt: skip

    @staticmethod
    def _sequence(rng, name):
        bouts = rng.integers(10, 30, 12)
        labels = np.repeat(np.arange(12) % 2, bouts)[:120]
        angle = np.where(labels == 1, np.pi / 2, 0.0) + rng.normal(0, 0.15, 120)
        along = (
            np.stack([np.cos(angle), np.sin(angle)], -1)[:, None] * (np.arange(4) * 15.0)[:, None]
        )
        centre = 200 + np.cumsum(rng.normal(0, 2, (120, 1, 2)), 0)
        kp = (centre + along + rng.normal(0, 1, (120, 4, 2)))[:, None]
        return {"name": name, "keypoints": kp, "scores": np.ones((120, 1, 4)), "labels": labels,
                "vocab": {"lying": 0, "rearing": 1}, "fps": 30.0}  # fmt: skip

    def sequences(self, split):
        return list(self.split[split])


def test_behavior_probe_reads_the_classes_from_the_embeddings(tmp_path):
    reg = get_registry()
    task = reg.task("behavior")
    data, options = Poses(), dict(task.options)
    evalset = task.select(data, options)
    cfg = config(steps=40, steps_per_epoch=20, context_stride=2, behavior_window=40)
    torch.manual_seed(0)
    method = SPEC.build(cfg, num_keypoints=4, task="behavior", dims=evalset.dims)
    ctx = context(cfg, tmp_path)
    method.fit(data, ctx)
    prediction = method.predict(evalset.inputs, ctx)
    assert prediction["scores"].shape == (240, 2)
    np.testing.assert_allclose(prediction["scores"].sum(1), 1.0, rtol=1e-6)
    record = task.evaluation(evalset, prediction, options)
    f1 = score(reg.metrics("behavior"), record)["macro_f1"]["value"]
    majority = task.evaluation(evalset, task.baselines["majority"](evalset, prediction, 0), options)
    assert f1 > 75 and f1 > score(reg.metrics("behavior"), majority)["macro_f1"]["value"] + 30
    assert ctx.notes["probe_frames"] == 480
