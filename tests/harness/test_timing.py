"""kpbench.timing on CPU: statistics, FLOPs and parameters by hand, and a toy method's profile."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kpbench import timing


def test_measure_counts_only_timed_calls_and_gives_sane_stats():
    calls = []
    a = torch.randn(64, 64)

    def work():
        calls.append(1)
        return a @ a

    stats = timing.measure(work, "cpu", warmup=2, repeats=7)
    assert len(calls) == 2 + 7 and stats["n"] == 7
    assert set(stats) == {"median_ms", "p90_ms", "mean_ms", "min_ms", "n"}
    assert 0 < stats["min_ms"] <= stats["median_ms"] <= stats["p90_ms"]
    assert stats["min_ms"] <= stats["mean_ms"]


def test_measure_rejects_zero_repeats():
    with pytest.raises(ValueError, match="repeats >= 1"):
        timing.measure(lambda: None, "cpu", repeats=0)


def test_count_flops_linear_exact():
    lin = nn.Linear(10, 20)
    assert timing.count_flops(lambda: lin(torch.zeros(1, 10)), lin) == 2 * 10 * 20


def test_count_flops_conv_matches_hand_formula():
    conv = nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1)
    n, h, w = 2, 16, 12
    # one multiply-add (2 FLOPs) per output element per input channel per kernel tap
    expected = 2 * n * 8 * h * w * 3 * 3 * 3
    assert timing.count_flops(lambda: conv(torch.zeros(n, 3, h, w)), conv) == expected


def test_count_flops_restores_each_module_mode():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Dropout(0.5))
    net.train()
    net[1].eval()  # e.g. a frozen BatchNorm
    timing.count_flops(lambda: net(torch.zeros(2, 4)), net)
    assert [m.training for m in net] == [True, False, True] and net.training


def _mlp() -> nn.Sequential:
    return nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 2, bias=False))


def test_count_params_by_hand():
    net = _mlp()
    assert timing.count_params(net) == (6 * 5 + 5) + 5 * 2
    assert timing.count_params_by_child(net) == {"0": 35, "1": 0, "2": 10}


def test_count_params_by_child_lists_own_parameters():
    net = _mlp()
    net.scale = nn.Parameter(torch.ones(3))
    assert timing.count_params_by_child(net)["(own)"] == 3
    assert timing.count_params(net) == 48


def test_device_name_cpu():
    name = timing.device_name(torch.device("cpu"))
    assert name.startswith("cpu (") and f"{torch.get_num_threads()} threads" in name


def test_peak_memory_cpu_is_process_rss():
    import psutil

    # the process peak is at least what the process holds now
    assert timing.peak_memory_mib("cpu") >= psutil.Process().memory_info().rss / 2**20 * 0.99
    timing.reset_peak_memory("cpu")  # a no-op on CPU, must not fail


class ToyMethod:
    """A tiny MLP regressor with the calls ``profile`` times."""

    def __init__(self):
        torch.manual_seed(0)
        self.model = _mlp()
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01)
        self.steps = 0
        self.grad_enabled_in_infer = None

    def example_batch(self, batch_size, data=None):
        return torch.randn(batch_size, 6)

    def train_batch(self, batch_size, data=None):
        return torch.randn(batch_size, 6), torch.randn(batch_size, 2)

    def train_step(self, batch) -> float:
        x, y = batch
        loss = ((self.model(x) - y) ** 2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.steps += 1
        return float(loss.detach())

    def infer(self, batch):
        self.grad_enabled_in_infer = torch.is_grad_enabled()
        return self.model(batch)


def test_profile_reports_every_figure_with_units():
    method = ToyMethod()
    before = [p.detach().clone() for p in method.model.parameters()]
    t = timing.profile(method, None, 4, "cpu", trains=True, warmup=1, repeats=3)
    units = {
        "train_step_median": "ms",
        "train_step_p90": "ms",
        "inference_latency_median": "ms/sample",
        "inference_latency_p90": "ms/sample",
        "throughput": "samples/s",
        "peak_memory": "MiB",
    }
    for key, unit in units.items():
        assert t[key]["unit"] == unit and t[key]["value"] > 0, key
    assert t["train_step_p90"]["value"] >= t["train_step_median"]["value"]
    assert t["throughput"]["value"] == pytest.approx(
        1000.0 / t["inference_latency_median"]["value"]
    )
    assert t["batch_size"] == 4 and "cpu" in t["device"] and "train_step" in t["covers"]
    assert t["n"] == 3 and t["warmup"] == 1 and t["dtype"] == "float32"
    assert t["threads"] == torch.get_num_threads() and t["train_step_on"]
    # training steps ran on a copy: the method's own weights and step count are untouched
    assert method.steps == 0 and method.grad_enabled_in_infer is False
    assert all(torch.equal(a, b) for a, b in zip(before, method.model.parameters()))


def test_profile_inference_only():
    method = ToyMethod()
    t = timing.profile(method, None, 2, "cpu", trains=False, warmup=0, repeats=2)
    assert method.steps == 0 and "train_step_median" not in t and t["train_step_on"] is None
    assert t["inference_latency_median"]["value"] > 0 and "train_step" not in t["covers"]


def test_inference_flops_count_one_sample_of_the_inference_call():
    method = ToyMethod()
    assert timing.inference_flops(method) == 2 * (6 * 5 + 5 * 2)
