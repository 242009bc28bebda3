"""VideoPose3D speed at the paper's size (243 frames, 1024 channels, 17 joints in and out).

Cases, side by side in one run:

* ``single_frame``: the strided inference form on windows of 243 frames, one output frame each;
* ``sequence``: the dilated form over one long sequence (every frame's output in one pass);
* ``train_step``: a training step (single-frame form, forward, backward, Adam).

Throughput in frames/s goes into ``extra_info``. CPU batches are 256 windows and 2,000 frames;
CUDA batches are 1,024 windows and 20,000 frames, in fp32. Run:
``pytest benchmarks/test_bench_videopose3d.py --benchmark-only``.
"""

from __future__ import annotations

import os

import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

WINDOWS = {"cpu": 256, "cuda": 1024}
FRAMES = {"cpu": 2000, "cuda": 20000}
WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
DEVICES = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]


def _method(device: str):
    spec = get_registry().method("videopose3d")
    method = spec.build(resolve(spec, "paper")[0], 17, task="lifting3d")
    method.model.to(device)
    return method


def _done(benchmark, device: str, frames: int) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    benchmark.extra_info.update(device=device_name(torch.device(device)), frames=frames)


def _rate(benchmark, frames: int) -> None:
    benchmark.extra_info["frames_per_s"] = frames / benchmark.stats.stats.median


@pytest.mark.parametrize("device", DEVICES)
def test_videopose3d_single_frame_inference(benchmark, device):
    method = _method(device)
    batch = method.example_batch(WINDOWS[device])

    def run():
        with torch.inference_mode():
            method.infer(batch)
        _done(benchmark, device, WINDOWS[device])

    benchmark.pedantic(run, warmup_rounds=2, rounds=10)
    _rate(benchmark, WINDOWS[device])


@pytest.mark.parametrize("device", DEVICES)
def test_videopose3d_sequence_inference(benchmark, device):
    method = _method(device)
    n = FRAMES[device]
    x = torch.randn(1, n + method.rf - 1, 34, device=device)
    method.model.eval()

    def run():
        with torch.inference_mode():
            method.model(x)
        _done(benchmark, device, n)

    benchmark.pedantic(run, warmup_rounds=2, rounds=10)
    _rate(benchmark, n)


@pytest.mark.parametrize("device", DEVICES)
def test_videopose3d_train_step(benchmark, device):
    method = _method(device)
    batch = method.train_batch(WINDOWS[device])

    def run():
        method.train_step(batch)
        _done(benchmark, device, WINDOWS[device])

    benchmark.pedantic(run, warmup_rounds=1, rounds=5)
    _rate(benchmark, WINDOWS[device])
