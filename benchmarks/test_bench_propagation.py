"""Propagation throughput: the one propagator at 320 × 320 with ``resnet18_stride8`` (random
weights) and the default settings (context 7, radius 12, top-10, 40 × 40 cells per frame).

Cases, side by side in one run:

* ``unchunked``: every target cell of a frame in one affinity block (``chunk`` ≥ 1,600 cells,
  the default 4,096);
* ``chunked``: blocks of 256 target cells (memory bounded by 256 × 1,600 affinities per
  context frame).

Each round propagates one video (12 frames on CPU, 48 on CUDA), encoding included; frames/s
(all frames of the video, over the median round) goes into ``extra_info``. Run:
``pytest benchmarks/test_bench_propagation.py --benchmark-only``.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from kpbench.propagation.encoders import ModuleEncoder, resnet18_stride8
from kpbench.propagation.propagator import PropagationSettings, propagate
from kpbench.timing import device_name
from kpbench.video import ArrayFrames

SIZE = 320
FRAMES = {"cpu": 12, "cuda": 48}
CHUNKS = {"unchunked": PropagationSettings().chunk, "chunked": 256}
WANTED = os.environ.get("KPBENCH_BENCH_DEVICES", "cpu,cuda").split(",")
DEVICES = [d for d in WANTED if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]


def _video(n: int) -> ArrayFrames:
    """A textured frame moving 3 px right and 2 px down per frame (wrapping around)."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    return ArrayFrames(np.stack([np.roll(base, (2 * t, 3 * t), (0, 1)) for t in range(n)]))


@pytest.mark.parametrize("case", list(CHUNKS))
@pytest.mark.parametrize("device", DEVICES)
def test_propagation_throughput(benchmark, device, case):
    torch.manual_seed(0)
    encoder = ModuleEncoder(resnet18_stride8().to(device), stride=8)
    n = FRAMES[device]
    frames = _video(n)
    kp = np.random.default_rng(1).uniform(40, 280, (15, 2))
    settings = PropagationSettings(chunk=CHUNKS[case])
    assert (SIZE // 8) ** 2 <= PropagationSettings().chunk  # the default is one block at 320

    def run():
        out = propagate(encoder, frames, 0, n, kp, np.ones(15, bool), settings, device=device)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    out = benchmark.pedantic(run, warmup_rounds=1, rounds=3 if device == "cpu" else 5)
    assert out.shape == (n, 15, 2) and np.isfinite(out).all()
    benchmark.extra_info.update(
        device=device_name(torch.device(device)), frames=n, chunk=settings.chunk,
        frames_per_s=n / benchmark.stats.stats.median,
    )  # fmt: skip
