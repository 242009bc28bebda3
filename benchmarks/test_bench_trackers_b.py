"""CycleTime, UVC and CRW speed: one training step of each method's own objective, and one
320 × 320 frame through each evaluation encoder (what the shared propagator pays per frame).

``train_step`` on ``train_batch(batch_size)`` at the ``default`` preset on the CPU (CRW: 2
clips × 4 frames × 25 patches of 16²; UVC: 4 pairs, 48² patches in 96² frames; CycleTime:
2 clips of 3 frames + target at 112², 56² patches, ResNet-18) and at the paper's recipe on
CUDA (``KPBENCH_BENCH_PRESET=paper`` for the paper's sizes everywhere). Samples/s go into
``extra_info``. Run: ``pytest benchmarks/test_bench_trackers_b.py --benchmark-only``.
"""

from __future__ import annotations

import os

import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

METHODS = ("cycletime", "uvc", "crw")
PRESET = os.environ.get("KPBENCH_BENCH_PRESET", "default")
WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
DEVICES = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]


def _build(name: str, device: str):
    spec = get_registry().method(name)
    config = resolve(spec, "paper" if device == "cuda" else PRESET)[0]
    method = spec.build(config)
    method.model.to(device)
    return method, config


def _done(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", METHODS)
def test_tracker_train_step(benchmark, name, device):
    method, config = _build(name, device)
    samples = int(config["batch_size"])
    batch = method.train_batch(samples)

    def step():
        method.train_step(batch)
        _done(device)

    benchmark.pedantic(step, warmup_rounds=1, rounds=3 if device == "cpu" else 10)
    benchmark.extra_info.update(device=device_name(torch.device(device)), samples=samples,
                                samples_per_s=samples / benchmark.stats.stats.median)  # fmt: skip


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", METHODS)
def test_tracker_encoder_frame(benchmark, name, device):
    method, _ = _build(name, device)
    frame = method.example_batch(1)  # 320 x 320, the protocol's frame size

    def encode():
        method.infer(frame)
        _done(device)

    benchmark.pedantic(encode, warmup_rounds=1, rounds=3 if device == "cpu" else 10)
    benchmark.extra_info.update(device=device_name(torch.device(device)),
                                size=tuple(frame.shape[-2:]))  # fmt: skip
