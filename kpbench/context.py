"""The :class:`kpbench.method.RunContext` the runner hands to a method, data-parallel aware.

Under ``torchrun`` every process runs the same ``fit``; the context tells it its rank, wraps
its model in ``DistributedDataParallel``, shards its data with a ``DistributedSampler``, and lets
only rank 0 log, checkpoint and write artifacts. On one process all of that is a no-op, so a
method's ``fit`` is written once for both.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def dist_env(env: dict | None = None) -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from ``torchrun``'s variables (0, 1, 0 without)."""
    env = os.environ if env is None else env
    return int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0))


class Context:
    """The run context (see :class:`kpbench.method.RunContext` for the contract).

    Args:
        config: the resolved method config.
        device: ``torch.device``.
        seed: the run's seed.
        run_dir: artifact folder beside the record.
        resume: continue from the checkpoint in ``run_dir``.
        tracker: a :class:`kpbench.tracking.Tracker`.
        show_progress: draw progress bars (rank 0 only).
        rank, world_size, local_rank: None reads them from the environment (:func:`dist_env`).
    """

    def __init__(
        self,
        config: dict,
        device: Any,
        seed: int,
        run_dir: Path,
        resume: bool,
        tracker: Any,
        show_progress: bool,
        rank: int | None = None,
        world_size: int | None = None,
        local_rank: int | None = None,
    ):
        self.config, self.device, self.seed = config, device, seed
        self.run_dir, self.resume, self.tracker = run_dir, resume, tracker
        env_rank, env_world, env_local = dist_env()
        self.rank = env_rank if rank is None else rank
        self.world_size = env_world if world_size is None else world_size
        self.local_rank = env_local if local_rank is None else local_rank
        self.show_progress = show_progress and self.is_main
        self.history: list[dict] = []
        self.artifacts: dict[str, str] = {}
        self.notes: dict[str, Any] = {}
        self.checkpoint_path = run_dir / "checkpoint.pt"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    # -- logging, checkpoints, artifacts (rank 0) -----------------------------------------------
    def log_epoch(self, epoch: int, losses: dict[str, float]) -> None:
        row = {"epoch": epoch, **{k: float(v) for k, v in losses.items()}}
        self.history.append(row)
        if not self.is_main:
            return
        self.tracker.log_metrics({f"train/{k}": float(v) for k, v in losses.items()}, step=epoch)
        parts = "  ".join(f"{k} {v:.4g}" for k, v in losses.items())
        print(f"epoch {epoch}: {parts}", file=sys.stderr, flush=True)

    def save_checkpoint(self, state: dict) -> Path:
        import torch

        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.checkpoint_path.with_suffix(".pt.tmp")
            torch.save({**state, "history": self.history}, tmp)
            os.replace(tmp, self.checkpoint_path)
            self.artifacts["checkpoint"] = self._relative(self.checkpoint_path)
        return self.checkpoint_path

    def load_checkpoint(self) -> dict | None:
        from kpbench.weights import load_torch_file

        if not (self.resume and self.checkpoint_path.is_file()):
            return None
        state = load_torch_file(
            self.checkpoint_path,
            "checkpoint",
            "start a new run instead of --resume (the damaged checkpoint is left in place)",
        )
        self.history = list(state.pop("history", []))
        return state

    def add_artifact(self, key: str, path: Path) -> None:
        if self.is_main:
            self.artifacts[key] = self._relative(Path(path))

    def note(self, key: str, value: Any) -> None:
        self.notes[key] = value

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterator:
        from tqdm.auto import tqdm

        return iter(
            tqdm(
                iterable,
                total=total,
                desc=desc,
                leave=False,
                disable=not self.show_progress,
                file=sys.stderr,
            )
        )

    def _relative(self, path: Path) -> str:
        return os.path.relpath(path, self.run_dir.parent)

    # -- data parallel ----------------------------------------------------------------------------
    def wrap_model(self, model: Any) -> Any:
        """``DistributedDataParallel(model)`` when ``world_size > 1`` (process group required)."""
        if self.world_size <= 1:
            return model
        import torch
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.device.index] if getattr(self.device, "type", "") == "cuda" else None
        if not torch.distributed.is_initialized():
            raise RuntimeError(
                f"world_size {self.world_size} but no process group: launch with torchrun"
            )
        # a curriculum (BKinD's) leaves some parameters out of the early steps' loss
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def sampler(self, dataset: Any, shuffle: bool = True) -> Any:
        """This rank's ``DistributedSampler`` (seeded by the run), or None on one process."""
        if self.world_size <= 1:
            return None
        from torch.utils.data import DistributedSampler

        return DistributedSampler(
            dataset, self.world_size, self.rank, shuffle=shuffle, seed=self.seed
        )

    def loader(self, dataset: Any, batch_size: int, shuffle: bool = True, **kwargs) -> Any:
        """A ``DataLoader`` over this rank's shard, shuffled reproducibly from the run's seed."""
        import torch
        from torch.utils.data import DataLoader

        sampler = self.sampler(dataset, shuffle)
        if sampler is None:
            gen = torch.Generator().manual_seed(self.seed)
            return DataLoader(
                dataset, batch_size=batch_size, shuffle=shuffle, generator=gen, **kwargs
            )
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **kwargs)

    def set_epoch(self, loader: Any, epoch: int) -> None:
        """Make a :meth:`loader`'s order for ``epoch`` a function of (seed, epoch) alone, so a
        run resumed mid-epoch replays it: reseeds its generator on one process, sets the
        ``DistributedSampler``'s epoch under torchrun."""
        if hasattr(loader.sampler, "set_epoch"):
            loader.sampler.set_epoch(epoch)
        if getattr(loader, "generator", None) is not None:
            import numpy as np

            seed = np.random.SeedSequence([self.seed, epoch]).generate_state(1, np.uint64)[0]
            loader.generator.manual_seed(int(seed) >> 1)
