"""HRNet-W32 speed at the paper's size (256×192, 17 keypoints): one training step and inference.

Run: ``pytest benchmarks/test_bench_hrnet.py --benchmark-only``. CPU: fp32, batch 8. CUDA: batch
32 in fp32, bf16 autocast and bf16 + channels_last side by side, so their ratios come from one
run on one machine; peak CUDA memory goes into each case's ``extra_info``.
``KPBENCH_BENCH_PRESET`` picks the preset (default ``paper``: the defaults, W32 256×192) and
``KPBENCH_BENCH_DEVICES`` the devices (default ``cpu,cuda``).
"""

from __future__ import annotations

import os

import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

PRESET = os.environ.get("KPBENCH_BENCH_PRESET", "paper")
BATCH = {"cpu": 8, "cuda": 32}
VARIANTS = {
    "fp32": {},
    "bf16": {"amp": True},
    "bf16_channels_last": {"amp": True, "channels_last": True},
}
WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
RUNNABLE = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
CASES = [(d, v) for d in RUNNABLE for v in VARIANTS if d == "cuda" or v == "fp32"]


def _setup(device: str, variant: str):
    spec = get_registry().method("hrnet")
    config = resolve(spec, PRESET, None, {"pretrained": None, **VARIANTS[variant]})[0]
    method = spec.build(config, num_keypoints=17)
    method.model.to(device)
    if config["channels_last"]:
        method.model.to(memory_format=torch.channels_last)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    return method, config


def _finish(benchmark, device: str, variant: str, config: dict) -> None:
    info = {
        "device": device_name(torch.device(device)),
        "variant": variant,
        "preset": PRESET,
        "batch_size": BATCH[device],
        "image_size": config["image_size"],
        "width": config["width"],
        "threads": torch.get_num_threads(),
    }
    if device == "cuda":
        info["peak_memory_mib"] = torch.cuda.max_memory_allocated() / 2**20
    benchmark.extra_info.update(info)


def _wait(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


@pytest.mark.parametrize("device,variant", CASES)
def test_hrnet_train_step(benchmark, device, variant):
    method, config = _setup(device, variant)
    batch = method.train_batch(BATCH[device])

    def step():
        method.train_step(batch)
        _wait(device)

    benchmark.pedantic(step, warmup_rounds=2, rounds=5 if device == "cpu" else 30)
    _finish(benchmark, device, variant, config)


@pytest.mark.parametrize("device,variant", CASES)
def test_hrnet_inference(benchmark, device, variant):
    method, config = _setup(device, variant)
    batch = method.example_batch(BATCH[device])

    def infer():
        with torch.inference_mode():
            method.infer(batch)
        _wait(device)

    benchmark.pedantic(infer, warmup_rounds=2, rounds=10 if device == "cpu" else 50)
    _finish(benchmark, device, variant, config)
