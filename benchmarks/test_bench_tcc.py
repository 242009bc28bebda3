"""TCC speed: a training step on the recipe's batch and per-frame embedding throughput.

Cases, side by side in one run:

* ``train_step``: one step (forward, loss over both ordered pairs, backward, Adam) on
  2 videos × 20 frames, each with its context frame (80 frames through the encoder);
* ``embed``: a 120-frame sequence embedded as ``predict`` does it (every frame encoded once,
  each frame's context gathered, the embedder over all): frames/s in ``extra_info``.

Both at the ``default`` preset (ResNet-18 cut, 64²) and at 112² with the ResNet-18 and the
paper's ResNet-50 cut (the paper's embedder), so the backbone's share shows; the paper's 224²
with ``KPBENCH_BENCH_PRESET=paper`` (a GPU run). Run:
``pytest benchmarks/test_bench_tcc.py --benchmark-only``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from kpbench.config import resolve
from kpbench.plugins import get_registry
from kpbench.timing import device_name

WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
DEVICES = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
SEQUENCE = 120
if os.environ.get("KPBENCH_BENCH_PRESET") == "paper":
    CASES = {"paper_resnet50_224": ("paper", {})}
else:
    CASES = {
        "default_resnet18_64": ("default", {}),
        "resnet18_112": ("paper", {"backbone": "resnet18", "image_size": 112}),
        "resnet50_112": ("paper", {"image_size": 112}),
    }


def _method(case: str, device: str):
    preset, over = CASES[case]
    spec = get_registry().method("tcc")
    config = resolve(spec, preset, None, {"pretrained": "none", **over})[0]
    method = spec.build(config, None, task="alignment")
    method.model.to(device)
    return method


def _done(benchmark, device: str, frames: int) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
    benchmark.extra_info.update(device=device_name(torch.device(device)), frames=frames)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_tcc_train_step(benchmark, device, case):
    method = _method(case, device)
    batch = method.train_batch(40)  # 2 videos × 20 frames
    frames = batch[0].shape[0] * batch[0].shape[1]

    def run():
        method.train_step(batch)
        _done(benchmark, device, frames)

    benchmark.pedantic(run, warmup_rounds=1, rounds=3 if device == "cpu" else 10)
    benchmark.extra_info["frames_per_s"] = frames / benchmark.stats.stats.median


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("device", DEVICES)
def test_tcc_embed_sequence(benchmark, device, case):
    method = _method(case, device)
    size = int(method.config["image_size"])
    frames = np.random.default_rng(0).integers(0, 255, (SEQUENCE, size, size, 3), dtype=np.uint8)
    track = method.track(frames=frames)

    def run():
        method.embed_track(track)
        _done(benchmark, device, SEQUENCE)

    benchmark.pedantic(run, warmup_rounds=1, rounds=3 if device == "cpu" else 10)
    benchmark.extra_info["frames_per_s"] = SEQUENCE / benchmark.stats.stats.median
