"""The conformance suite (:mod:`kpbench.testing`) over every registered plugin, and its teeth.

The parametrised tests cover every method × task with a smoke set, every method's reference
figures, every metric and every dataset with a synthetic twin, built-ins, installed plugins and
the in-process toy plugin alike: a new plugin is checked with no new test code. The negative
tests show each check catching the bug it exists for, with small fake plugins.
"""

from __future__ import annotations

import numpy as np
import pytest
from toy_plugin import ToyMethod, ToyPlugin

from kpbench.dataset import KeypointDataset, LabeledFrame
from kpbench.method import Method, TrainableMethod
from kpbench.plugins import Registry
from kpbench.specs import DatasetSpec, MethodSpec, MetricSpec
from kpbench.testing import (
    PERFECT,
    check_dataset,
    check_dataset_errors,
    check_method,
    check_metric,
    check_reference,
    check_task,
    smoke_pairs,
)


def _collection_registry() -> Registry:
    reg = Registry()
    reg.register(ToyPlugin(), name="toy")
    return reg


_REG = _collection_registry()
#: Generator options giving the smallest twin that still serves every declared task.
SMALL_TWINS = {
    "video": {"frames": 12, "width": 32, "height": 32},
    "calms21": {"n_train": 1, "n_test": 1, "frames": 12, "width": 48, "height": 48},
    "h36m": {"frames": 30, "actions": 1},
    "shapenet": {"cars": 2, "airplanes": 2},
    "actions": {"videos": 3, "min_frames": 20, "max_frames": 24, "width": 32, "height": 32},
}
TWINS = sorted(n for n, e in _REG.datasets().items() if e.spec.synthesize is not None)


PAIRS = smoke_pairs(_REG)


@pytest.mark.parametrize(("method", "task"), PAIRS, ids=[f"{m}-{t}" for m, t in PAIRS])
def test_method_conforms_on_smoke_set(method, task, toy_registry, tmp_path):
    report = check_method(
        toy_registry.method(method), task, registry=toy_registry, tmp_dir=tmp_path
    )
    assert report["flops"] >= 0 and set(report["metrics"]) == {
        m.name for m in toy_registry.metrics(task)
    }


@pytest.mark.parametrize("method", sorted(_REG.methods()))
def test_reference_figures(method, toy_registry):
    check_reference(toy_registry.method(method))


@pytest.mark.parametrize(("task", "metric"), sorted((m.task, m.name) for m in _REG.metrics()))
def test_metric_conforms(task, metric, toy_registry):
    spec = next(m for m in toy_registry.metrics(task) if m.name == metric)
    result = check_metric(spec, registry=toy_registry)
    if isinstance(result, str):
        pytest.skip(result)


SCORED_TASKS = sorted(
    n for n, e in _REG.tasks().items() if e.spec.smoke is not None and _REG.metrics(n)
)


@pytest.mark.parametrize("task", SCORED_TASKS)
def test_task_conforms(task, toy_registry):
    report = check_task(toy_registry.task(task), registry=toy_registry, perfect=PERFECT.get(task))
    assert report["inputs"] > 0 and set(report["baselines"]) <= set(
        toy_registry.task(task).baselines
    )
    if task in PERFECT:
        assert set(report["perfect"]) == {m.name for m in toy_registry.metrics(task)}


def test_a_baseline_better_than_perfect_is_caught(toy_registry):
    from dataclasses import replace

    task = toy_registry.task("discovery2d")
    perfect = PERFECT["discovery2d"]
    cheat = replace(task, baselines={"cheat": lambda ev, pred, seed: perfect(ev)})
    check_task(cheat, registry=toy_registry, perfect=perfect)  # as good as perfect: allowed
    off = replace(task, baselines={}, protocol="up to {max_test_images} images")
    with pytest.raises(AssertionError, match="protocol does not format with the smoke options"):
        check_task(off, registry=toy_registry)
    worse = lambda ev: {k: v + 3.0 for k, v in perfect(ev).items()}  # noqa: E731
    with pytest.raises(AssertionError, match="baseline cheat scores .* better than the perfect"):
        check_task(cheat, registry=toy_registry, perfect=worse)


@pytest.mark.parametrize("dataset", TWINS)
def test_dataset_twin_conforms(dataset, toy_registry, tmp_path):
    spec = toy_registry.dataset(dataset)
    twin = spec.synthesize(tmp_path / "twin", 0, **SMALL_TWINS.get(dataset, {}))
    report = check_dataset(spec, twin, registry=toy_registry)
    assert report and all(t in spec.tasks for t in report)


@pytest.mark.parametrize("dataset", TWINS)
def test_dataset_errors_are_one_line(dataset, toy_registry, tmp_path):
    spec = toy_registry.dataset(dataset)
    report = check_dataset_errors(
        spec, tmp_path, registry=toy_registry, synth_options=SMALL_TWINS.get(dataset)
    )
    assert "missing" in report and "file" in report


# -- the suite catches what it is for ------------------------------------------------------------
class BadShapeData(KeypointDataset):
    """pose2d data whose labelled keypoints are (K, 3) instead of (K, 2)."""

    name = "badshape"
    tasks = ("pose2d",)

    def __init__(self):
        super().__init__()
        self.keypoint_names = ["a", "b"]

    def labeled_frames(self, split):
        return [
            LabeledFrame(f"{split}#{i}", np.full((2, 3), 4.0, np.float32), (16, 16),
                         lambda: np.zeros((16, 16, 3), np.uint8))
            for i in range(2)
        ]  # fmt: skip


def test_wrong_sample_shape_is_caught(tmp_path):
    spec = DatasetSpec("badshape", ("pose2d",), build=lambda data_dir, **kw: BadShapeData())
    with pytest.raises(AssertionError, match=r"badshape.*pose2d.*'keypoints' has shape \(2, 3\)"):
        check_dataset(spec, tmp_path)


class FakePredictor(Method):
    """discovery2d predictions with a planted bug (``config["bug"]``)."""

    def __init__(self, config: dict):
        self.bug = config["bug"]

    def predict(self, inputs, ctx):
        kp = np.full((len(inputs), 2, 3 if self.bug == "shape" else 2), 8.0)
        if self.bug == "nan":
            kp[1, 0, 0] = np.nan
        return {"keypoints": kp}

    def example_batch(self, batch_size, data=None):
        return batch_size

    def infer(self, batch):
        return None


def _spec(name: str, build, trains: bool, **defaults) -> MethodSpec:
    return MethodSpec(
        name, ("discovery2d",), build=lambda c, num_keypoints=None: build(c),
        defaults=defaults, presets={"smoke": {}}, trains=trains,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("bug", "message"),
    [
        ("shape", r"method fake.*'keypoints' has shape \(32, 2, 3\), expected \(N, K, 2\)"),
        ("nan", r"method fake.*'keypoints' contains NaN"),
    ],
)
def test_invalid_prediction_is_caught(bug, message, tmp_path):
    with pytest.raises(AssertionError, match=message):
        check_method(_spec("fake", FakePredictor, False, bug=bug), "discovery2d", tmp_dir=tmp_path)


class Opaque:
    """Not a tensor nor a plain value: ``torch.load(weights_only=True)`` refuses it."""


class Tiny(TrainableMethod):
    """A linear map to one keypoint whose checkpoint is broken as ``config["bug"]`` says."""

    def __init__(self, config: dict):
        import torch

        self.bug, self.model = config["bug"], torch.nn.Linear(2, 2)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)

    def predict(self, inputs, ctx):
        import torch

        with torch.no_grad():
            kp = self.model(torch.full((len(inputs), 2), 8.0)).double().numpy()
        return {"keypoints": kp[:, None]}

    def fit(self, data, ctx):
        pass

    def train_batch(self, batch_size, data=None):
        import torch

        return torch.ones(batch_size, 2)

    def train_step(self, batch):
        loss = self.model(batch).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def example_batch(self, batch_size, data=None):
        return self.train_batch(batch_size)

    def infer(self, batch):
        return self.model(batch)

    def state_dict(self):
        extra = {"opaque": {"extra": Opaque()}, "lambda": {"extra": lambda: 0}}
        return {**super().state_dict(), **extra.get(self.bug, {})}

    def load_state_dict(self, state):
        if self.bug != "ignore":
            super().load_state_dict(state)


@pytest.mark.parametrize(
    ("bug", "message"),
    [
        ("opaque", r"method tiny: its state_dict cannot be loaded with torch.load\(weights_only"),
        ("lambda", r"method tiny: torch.save\(state_dict\(\)\) failed"),
        ("ignore", r"method tiny: prediction field 'keypoints' differs after the checkpoint"),
    ],
)
def test_checkpoint_that_does_not_round_trip_is_caught(bug, message, tmp_path):
    with pytest.raises(AssertionError, match=message):
        check_method(_spec("tiny", Tiny, True, bug=bug), "discovery2d", tmp_dir=tmp_path)
    if bug == "ignore":  # the same method with a working checkpoint passes
        check_method(_spec("tiny", Tiny, True, bug=None), "discovery2d", tmp_dir=tmp_path)


def test_metric_without_unit_is_caught():
    spec = MetricSpec("nounit", "discovery2d", fn=lambda ev: 0.0, unit="", higher_is_better=False)
    with pytest.raises(AssertionError, match=r"metric discovery2d/nounit: unit '' must be"):
        check_metric(spec)


def test_metric_off_its_ideal_on_a_perfect_prediction_is_caught():
    spec = MetricSpec(
        "always1", "discovery2d", fn=lambda ev: 1.0, unit="px", higher_is_better=False
    )
    with pytest.raises(
        AssertionError, match=r"always1 = 1 px on a perfect prediction.*ideal value 0"
    ):
        check_metric(spec)


def test_reference_params_off_by_one_is_caught():
    spec = MethodSpec(
        "offbyone", ("discovery2d",), build=lambda c, num_keypoints=None: ToyMethod(c),
        defaults={"num_keypoints": 1, "lr": 0.5}, reference={"params": 5, "flops": 6144},
    )  # fmt: skip
    with pytest.raises(AssertionError, match=r"offbyone: 4 parameters .* says 5 \(off by -1\)"):
        check_reference(spec)
    with pytest.raises(AssertionError, match="no reference figures; add reference="):
        check_reference(
            MethodSpec("bare", ("discovery2d",), build=spec.build, defaults=spec.defaults)
        )
    assert check_reference(MethodSpec("bare", ("discovery2d",), build=spec.build), True) == (
        "not checked"
    )
