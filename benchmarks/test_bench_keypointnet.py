"""KeypointNet speed: a training step and inference, at the ``default`` and the paper's size.

Cases, side by side in one run:

* ``train_step``: one step on a batch of synthetic view pairs (both views through OrientNet and
  KeypointNet, the six losses with the differentiable Procrustes, backward, gradient clipping,
  Adam); pairs/s in ``extra_info``;
* ``inference``: both views of each pair through the two networks (the timed ``infer``).

``default``: the preset's model (16 filters, 10 dilated layers, 48²) at its batch of 16 pairs;
``paper``: the paper's model (64 filters, 12 layers, 128²) at 2 pairs on a CPU (the paper's
batch is 256, 32 replicas × 8) and 64 on CUDA. Run:
``pytest benchmarks/test_bench_keypointnet.py --benchmark-only``.
"""

from __future__ import annotations

import os

import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
DEVICES = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
#: preset -> pairs per batch on each device
CASES = {"default": {"cpu": 16, "cuda": 16}, "paper": {"cpu": 2, "cuda": 64}}


def _method(preset: str, device: str):
    spec = get_registry().method("keypointnet")
    method = spec.build(resolve(spec, preset)[0])
    method.model.to(device)
    return method


def _done(benchmark, device: str, pairs: int) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    benchmark.extra_info.update(device=device_name(torch.device(device)), pairs=pairs)


@pytest.mark.parametrize("preset", list(CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_keypointnet_train_step(benchmark, device, preset):
    method = _method(preset, device)
    pairs = CASES[preset][device]
    batch = method.train_batch(pairs)

    def run():
        method.train_step(batch)
        _done(benchmark, device, pairs)

    benchmark.pedantic(run, warmup_rounds=1, rounds=5)
    benchmark.extra_info["pairs_per_s"] = pairs / benchmark.stats.stats.median


@pytest.mark.parametrize("preset", list(CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_keypointnet_inference(benchmark, device, preset):
    method = _method(preset, device)
    pairs = CASES[preset][device]
    batch = method.example_batch(pairs)

    def run():
        with torch.inference_mode():
            method.infer(batch)
        _done(benchmark, device, pairs)

    benchmark.pedantic(run, warmup_rounds=1, rounds=5)
    benchmark.extra_info["pairs_per_s"] = pairs / benchmark.stats.stats.median
