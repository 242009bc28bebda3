"""Colorization, CorrFlow and MAST speed: one training step at the ``default`` preset (the CPU
recipe) and, on CUDA, at the paper's recipe; and one frame through each encoder at the
propagation protocol's 320 × 320 (what the shared propagator pays per frame).

A training step is the method's own (``train_step`` on ``train_batch(batch_size)``: forward
of every clip frame, the colour-copying loss, backward, Adam); clips/s go into
``extra_info``. ``KPBENCH_BENCH_PRESET=paper`` times the paper's sizes (256² clips, batch
32 / 6 / 12) on every device. Run: ``pytest benchmarks/test_bench_trackers_a.py --benchmark-only``.
"""

from __future__ import annotations

import os

import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

METHODS = ("colorization", "corrflow", "mast")
PRESET = os.environ.get("KPBENCH_BENCH_PRESET", "default")
WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
DEVICES = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]


def _method(name: str, device: str):
    spec = get_registry().method(name)
    preset = "paper" if device == "cuda" else PRESET
    config = resolve(spec, preset)[0]
    method = spec.build(config)
    method.model.to(device)
    return method, config


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", METHODS)
def test_train_step(benchmark, name, device):
    method, config = _method(name, device)
    batch = method.train_batch(int(config["batch_size"]))

    def run():
        method.train_step(batch)
        _sync(device)

    benchmark.pedantic(run, warmup_rounds=1, rounds=5)
    clips = int(config["batch_size"])
    benchmark.extra_info.update(
        device=device_name(torch.device(device)), clips=clips, image_size=int(config["image_size"])
    )
    if benchmark.stats:  # None with --benchmark-disable
        benchmark.extra_info["clips_per_s"] = clips / benchmark.stats.stats.median


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", METHODS)
def test_encoder_frame(benchmark, name, device):
    method, _ = _method(name, device)
    frame = method.example_batch(1)

    def run():
        method.infer(frame)
        _sync(device)

    benchmark.pedantic(run, warmup_rounds=1, rounds=5)
    benchmark.extra_info.update(device=device_name(torch.device(device)),
                                size=tuple(frame.shape[-2:]))  # fmt: skip
