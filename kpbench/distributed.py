"""Data-parallel runs: launch under ``torchrun``, join the process group, reduce across ranks.

``kpbench run ... --devices N`` re-launches itself as ``python -m torch.distributed.run
--standalone --nproc-per-node N --max-restarts 0 -m kpbench.cli run ...`` (rendezvous on
127.0.0.1). Each rank reads ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR``
from the environment (torchrun's, or ``srun``'s through submitit) and joins gloo (CPU) or
NCCL (CUDA). All ranks train; the per-epoch training losses are averaged across ranks; rank 0
alone then evaluates, exports, times and writes the record and the MLflow run (evaluation is
not sharded: every rank holds the same weights after DDP, so one full evaluation is exact).

A failed launch is not restarted in place (torchrun's restarts hang on gloo, see
``docs/scale.md``): run the same command again with ``--resume RUN_ID`` to continue from the
checkpoint in a fresh launch.
"""

from __future__ import annotations

import os
import sys

from kpbench.errors import ConfigError, KpbenchError


def world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` of this process (``(0, 1, 0)`` outside torchrun)."""
    from kpbench.context import dist_env

    return dist_env()


def launch_command(argv: list[str], devices: int) -> list[str]:
    """The torchrun command running ``kpbench <argv>`` on ``devices`` processes."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={devices}", "--max-restarts=0", "--local-addr=127.0.0.1",
        "-m", "kpbench.cli", *argv,
    ]  # fmt: skip


def strip_devices(argv: list[str]) -> list[str]:
    """``argv`` without its ``--devices N`` / ``--devices=N``."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--devices":
            skip = True
        elif not arg.startswith("--devices="):
            out.append(arg)
    return out


def launch(argv: list[str], devices: int, device: str = "auto") -> int:
    """Run ``kpbench <argv>`` (minus ``--devices``) on ``devices`` processes; its exit code."""
    import torch

    if devices < 1:
        raise ConfigError(f"--devices {devices}: need at least 1")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda and devices > torch.cuda.device_count():
        raise ConfigError(
            f"--devices {devices}: only {torch.cuda.device_count()} CUDA device(s) here; "
            "lower --devices or use --device cpu"
        )
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args
    from torch.distributed.run import run as torchrun

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's own default, made explicit
    try:  # in this process, so a failed rank ends in one line, not torchrun's traceback
        torchrun(parse_args(launch_command(strip_devices(argv), devices)[3:]))
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        raise KpbenchError(
            f"data-parallel run on {devices} processes: rank {rank} exited with code "
            f"{failure.exitcode} (its error is above); fix it and continue from the last "
            "checkpoint with the same command plus --resume RUN_ID"
        ) from None
    return 0


def setup(device):
    """Under torchrun (``WORLD_SIZE > 1``): join the process group (NCCL on CUDA, else gloo)
    and use this process's GPU (``LOCAL_RANK``). On one process: ``device`` unchanged.

    Returns:
        ``(device, rank, world_size)``.
    """
    rank, size, local = world()
    if size <= 1:
        return device, rank, size
    import torch
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return device, rank, size


def broadcast(value, size: int):
    """Rank 0's ``value`` (any picklable object) on every rank."""
    if size <= 1:
        return value
    import torch.distributed as dist

    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def mean_history(history: list[dict], size: int) -> list[dict]:
    """Average each epoch's numbers across ranks (each rank logged the mean over its shard).

    Every rank must call this with the same epochs (DDP keeps them in step).
    """
    if size <= 1 or not history:
        return history
    import torch
    import torch.distributed as dist

    keys = list(dict.fromkeys(k for row in history for k in row if k != "epoch"))
    values = torch.tensor(
        [[float(row.get(k, 0.0)) for k in keys] for row in history], dtype=torch.float64
    )
    dist.all_reduce(values)
    values /= size
    return [
        {"epoch": row["epoch"], **dict(zip(keys, map(float, vals)))}
        for row, vals in zip(history, values.tolist())
    ]


def finish() -> None:
    """Leave the process group (when one was joined)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
