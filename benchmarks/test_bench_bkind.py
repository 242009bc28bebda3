"""BKinD speed: one training step (all losses on) and inference, at a preset's image size.

Run: ``pytest benchmarks/ --benchmark-only`` (CPU: fp32 only; CUDA: fp32, bf16 autocast and
bf16 + channels_last side by side, so their ratios come from one run on one machine).
``KPBENCH_BENCH_PRESET`` picks the preset (default: ``default``; ``paper`` for the GPU figure) and
``KPBENCH_BENCH_DEVICES`` the devices (default ``cpu,cuda``).
"""

from __future__ import annotations

import os

import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

PRESET = os.environ.get("KPBENCH_BENCH_PRESET", "default")
VARIANTS = {
    "fp32": {},
    "bf16": {"amp": True},
    "bf16_channels_last": {"amp": True, "channels_last": True},
}
DEVICES = [
    d
    for d in os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
    if d == "cpu" or (d == "cuda" and torch.cuda.is_available())
]
CASES = [(d, v) for d in DEVICES for v in VARIANTS if d == "cuda" or v == "fp32"]


def _method(device: str, variant: str):
    spec = get_registry().method("bkind")
    config, _, _ = resolve(spec, PRESET, None, VARIANTS[variant])
    method = spec.build(config)
    method.model.to(device)
    if config["channels_last"]:
        method.model.to(memory_format=torch.channels_last)
    method.loss.to(device)
    b = config["timing_batch_size"]
    return method, (method.train_batch(b), method.example_batch(b)), config


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _info(benchmark, device, variant, config) -> None:
    benchmark.extra_info.update(
        device=device_name(torch.device(device)),
        variant=variant,
        preset=PRESET,
        batch_size=config["timing_batch_size"],
        image_size=config["image_size"],
        backbone=config["backbone"],
        threads=torch.get_num_threads(),
    )


@pytest.mark.parametrize("device,variant", CASES)
def test_bkind_train_step(benchmark, device, variant):
    method, batch, config = _method(device, variant)

    def step():
        method.train_step(batch[0])
        _sync(device)

    benchmark.pedantic(step, warmup_rounds=2, rounds=8 if device == "cpu" else 30)
    _info(benchmark, device, variant, config)


@pytest.mark.parametrize("device,variant", CASES)
def test_bkind_inference(benchmark, device, variant):
    method, batch, config = _method(device, variant)
    method.model.eval()

    def infer():
        with torch.inference_mode():
            method.infer(batch[1])
        _sync(device)

    benchmark.pedantic(infer, warmup_rounds=3, rounds=15 if device == "cpu" else 50)
    _info(benchmark, device, variant, config)
