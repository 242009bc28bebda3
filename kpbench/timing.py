"""Speed, memory, FLOPs and parameter counts, measured the same way for every method.

CUDA work is asynchronous, so CUDA calls are timed with ``torch.cuda.Event`` pairs and a
synchronise after each call; CPU calls with the monotonic ``time.perf_counter``. Every
measurement starts with warm-up calls (lazy initialisation, cuDNN autotune) that are not counted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

#: What the ``timing`` section of a record covers (stored beside the figures).
COVERS_INFERENCE = (
    "inference: the method's inference call (Method.infer) on one batch, no data loading"
)
COVERS_TRAINING = (
    "train_step: forward+backward+optimizer step on one batch, timed on a copy of the trained "
    "method after evaluation (the evaluated weights are untouched)"
)


def _device(device: Any):
    import torch

    return torch.device(device)


def measure(
    fn: Callable[[], Any], device: Any, *, warmup: int = 3, repeats: int = 10
) -> dict[str, float]:
    """Time ``fn()``: ``warmup`` uncounted calls, then ``repeats`` timed calls.

    Args:
        fn: the work to time, called with no arguments.
        device: ``torch.device`` (or its name) the work runs on; CUDA uses event pairs.
        warmup: calls before timing starts (not counted).
        repeats: timed calls (at least 1).

    Returns:
        ``{"median_ms", "p90_ms", "mean_ms", "min_ms"}`` in milliseconds per call, and ``"n"``,
        the number of timed calls.

    Raises:
        ValueError: if ``warmup < 0`` or ``repeats < 1``.
    """
    if warmup < 0 or repeats < 1:
        raise ValueError(f"measure: need warmup >= 0 and repeats >= 1, got {warmup} and {repeats}")
    dev = _device(device)
    for _ in range(warmup):
        fn()
    times_ms = []
    if dev.type == "cuda":
        import torch

        torch.cuda.synchronize(dev)
        with torch.cuda.device(dev):  # events record on this device's current stream
            for _ in range(repeats):
                start = torch.cuda.Event(enable_timing=True)
                end = torch.cuda.Event(enable_timing=True)
                start.record()
                fn()
                end.record()
                end.synchronize()
                times_ms.append(start.elapsed_time(end))
    else:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            times_ms.append((time.perf_counter() - t0) * 1000.0)
    t = np.asarray(times_ms, dtype=np.float64)
    return {
        "median_ms": float(np.median(t)),
        "p90_ms": float(np.percentile(t, 90)),
        "mean_ms": float(t.mean()),
        "min_ms": float(t.min()),
        "n": len(t),
    }


def reset_peak_memory(device: Any) -> None:
    """Start a new peak-memory window on CUDA (``reset_peak_memory_stats``).

    On CPU this does nothing: the process peak RSS cannot be reset (see :func:`peak_memory_mib`).

    Args:
        device: ``torch.device`` or its name.
    """
    dev = _device(device)
    if dev.type == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats(dev)


def peak_memory_mib(device: Any) -> float:
    """Peak memory in MiB.

    On CUDA: ``torch.cuda.max_memory_allocated`` since the last :func:`reset_peak_memory`
    (tensors allocated by PyTorch, not the caching allocator's reserve). On CPU: the peak
    resident set size of the **whole process** since it started (``getrusage`` ``ru_maxrss``),
    not of one phase, so it includes the data, the model and everything loaded before.

    Args:
        device: ``torch.device`` or its name.

    Returns:
        Peak memory, MiB.
    """
    dev = _device(device)
    if dev.type == "cuda":
        import torch

        return torch.cuda.max_memory_allocated(dev) / 2**20
    try:
        import resource
    except ImportError:  # Windows: psutil reports the peak working set
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (
        peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    )  # bytes on macOS, KiB on Linux


def count_flops(fn: Callable[[], Any], modules: Any = ()) -> int:
    """FLOPs of one call ``fn()``, counted by ``torch.utils.flop_counter``.

    ``fn`` runs once under ``torch.no_grad()``; each module in ``modules`` is put in eval mode
    for the call and restored afterwards. A multiply-add counts as 2 FLOPs (``nn.Linear(10,
    20)`` on a ``(1, 10)`` input is 400); only operators PyTorch's counter knows (matmul, conv,
    attention, ...) are counted, so element-wise work is not.

    Args:
        fn: the call to count, e.g. ``lambda: method.infer(method.example_batch(1))``.
        modules: ``torch.nn.Module`` s to switch to eval mode for the call.

    Returns:
        Total FLOPs of the call.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if modules is None or hasattr(modules, "modules"):
        modules = [modules]
    modules = [m for m in modules if m is not None]
    modes = {m: m.training for module in modules for m in module.modules()}
    for module in modules:
        module.eval()
    try:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            fn()
    finally:
        for m, training in modes.items():
            m.training = training
    return int(counter.get_total_flops())


def inference_flops(method: Any) -> int:
    """FLOPs of one inference call on one sample: ``method.infer(method.example_batch(1))``."""
    batch = method.example_batch(1)
    return count_flops(lambda: method.infer(batch), method.model)


def count_params(model: Any) -> int:
    """Number of parameters (trainable and frozen; shared ones once); 0 for no model.

    Args:
        model: a ``torch.nn.Module``, or None.

    Returns:
        Parameter count.
    """
    return 0 if model is None else sum(p.numel() for p in model.parameters())


def count_params_by_child(model: Any) -> dict[str, int]:
    """Parameters of each direct child module, in definition order.

    Args:
        model: a ``torch.nn.Module``.

    Returns:
        ``{child_name: count}``, plus ``"(own)"`` for parameters registered on ``model``
        itself when there are any.
    """
    if model is None:
        return {}
    out = {name: count_params(child) for name, child in model.named_children()}
    own = sum(p.numel() for p in model.parameters(recurse=False))
    if own:
        out["(own)"] = own
    return out


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: Any) -> str:
    """A readable name of the device timings were taken on.

    Args:
        device: ``torch.device`` or its name.

    Returns:
        e.g. ``"cuda:0 (NVIDIA H100 80GB HBM3)"`` or ``"cpu (AMD EPYC 7B13, 2 threads)"``,
        where threads is ``torch.get_num_threads()``.
    """
    import torch

    dev = _device(device)
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    if dev.type == "cpu":
        return f"cpu ({_cpu_model()}, {torch.get_num_threads()} threads)"
    return str(dev)


def profile(
    method: Any,
    data: Any,
    batch_size: int,
    device: Any,
    *,
    trains: bool,
    warmup: int = 3,
    repeats: int = 10,
) -> dict:
    """Time a method's inference and, for a method that trains, its training step.

    Inference runs first, on ``method`` itself under ``torch.inference_mode()``. A training
    step changes the weights, so it is timed on a deep copy of the method (its model and
    optimiser), which is then dropped: the weights that were evaluated stay as they were.

    Args:
        method: a :class:`kpbench.method.Method` (``TrainableMethod`` when ``trains``).
        data: the run's dataset (real inputs for the batches), or None.
        batch_size: samples per timed call.
        device: ``torch.device`` (or its name) the model is on.
        trains: also time ``train_step`` (False: no ``train_step_*`` keys).
        warmup: uncounted calls before each measurement.
        repeats: timed calls per measurement.

    Returns:
        ``inference_latency_median`` / ``_p90`` (ms per sample), ``throughput`` (samples/s,
        from the median), ``train_step_median`` / ``_p90`` (ms per step, trainers only),
        ``peak_memory`` (MiB, see :func:`peak_memory_mib`), each as ``{"value", "unit"}``; and
        ``batch_size``, ``n`` (timed calls), ``warmup``, ``dtype``, ``threads`` (CPU threads),
        ``device`` (:func:`device_name`), ``train_step_on`` and ``covers`` (what was timed).
    """
    import copy

    import torch

    if batch_size < 1:
        raise ValueError(f"profile: batch_size must be >= 1, got {batch_size}")
    dev = _device(device)
    reset_peak_memory(dev)
    out: dict[str, Any] = {}
    batch = method.example_batch(batch_size, data)

    def infer() -> None:
        with torch.inference_mode():
            method.infer(batch)

    inf = measure(infer, dev, warmup=warmup, repeats=repeats)
    out["inference_latency_median"] = {"value": inf["median_ms"] / batch_size, "unit": "ms/sample"}
    out["inference_latency_p90"] = {"value": inf["p90_ms"] / batch_size, "unit": "ms/sample"}
    out["throughput"] = {"value": batch_size / (inf["median_ms"] / 1000.0), "unit": "samples/s"}
    if trains:
        twin = copy.deepcopy(method)
        train_batch = twin.train_batch(batch_size, data)
        step = measure(lambda: twin.train_step(train_batch), dev, warmup=warmup, repeats=repeats)
        out["train_step_median"] = {"value": step["median_ms"], "unit": "ms"}
        out["train_step_p90"] = {"value": step["p90_ms"], "unit": "ms"}
        del twin, train_batch
    out["peak_memory"] = {"value": peak_memory_mib(dev), "unit": "MiB"}
    out.update(
        batch_size=int(batch_size),
        n=int(inf["n"]),
        warmup=int(warmup),
        dtype=str(getattr(method, "dtype", "float32")),
        threads=torch.get_num_threads(),
        device=device_name(dev),
        train_step_on="a copy of the trained method" if trains else None,
        covers=f"{COVERS_TRAINING}; {COVERS_INFERENCE}" if trains else COVERS_INFERENCE,
    )
    return out
