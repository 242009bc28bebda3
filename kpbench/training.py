"""Crash-safe training: one loop every trained method's ``fit`` runs its epochs and steps through.

A checkpoint holds the model, optimiser and scheduler, the epoch and the steps done in it, the
epoch's running loss sums, the epoch's random generator and the process's RNG states (torch
CPU, CUDA when present, NumPy's global, Python's ``random``). It is written atomically (by
``ctx.save_checkpoint``, rank 0) after every ``checkpoint_every`` steps and at the end of each
epoch. A resumed run restores it, skips the batches the epoch had done, restores the RNG
states and continues, so it ends where the uninterrupted run with the same seed ends::

    loop = training_loop(ctx, self.model, self.optimizer, sched, epochs, "mymethod")
    for epoch in loop:
        ctx.set_epoch(loader, epoch.index)   # data order a function of (seed, epoch)
        for batch in epoch.steps(len(loader), loader):
            epoch.add(self.train_step(batch))
        sched.step()                          # a per-epoch schedule
        epoch.log(lr=sched.get_last_lr()[0])  # extra values for the epoch's log row

Draw per-step randomness from ``epoch.rng`` (a NumPy generator seeded by ``(seed, epoch)``) or
from the global RNGs; both are restored mid-epoch. After the body the loop logs the epoch's
mean losses and checkpoints.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from kpbench.errors import ConfigError

#: Steps between mid-epoch checkpoints (``--set checkpoint_every=N``; 0 turns them off).
CHECKPOINT_EVERY = 50


def rng_states() -> dict:
    """The process's RNG states, as values ``torch.load(weights_only=True)`` reads back."""
    import torch

    state = np.random.get_state(legacy=False)
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {**state, "state": {**state["state"], "key": state["state"]["key"].tolist()}},
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: Mapping) -> None:
    """Restore what :func:`rng_states` returned."""
    import torch

    torch.set_rng_state(states["torch"])
    numpy = states["numpy"]
    key = np.asarray(numpy["state"]["key"], dtype=np.uint32)
    np.random.set_state({**numpy, "state": {**numpy["state"], "key": key}})
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class Epoch:
    """One epoch of :func:`training_loop`: its index, generator, steps and loss sums."""

    def __init__(self, loop: _Loop, index: int, saved: Mapping | None = None):
        self.loop, self.index = loop, index
        self.rng = np.random.default_rng([loop.ctx.seed, index])
        self.done, self.sums, self.extra = 0, {}, {}
        self._rng_states = None
        if saved is not None:  # resumed mid-epoch
            self.done = int(saved["step"])
            self.sums = {k: float(v) for k, v in saved["sums"].items()}
            self.rng.bit_generator.state = saved["epoch_rng"]
            self._rng_states = saved["rng"]

    def steps(self, n: int, batches: Iterable | None = None) -> Iterator:
        """The epoch's remaining steps of ``n``: items of ``batches`` (the step index when None),
        the ones a resumed run had done skipped; checkpoints every ``checkpoint_every`` steps."""
        items = iter(range(n) if batches is None else batches)
        for _ in itertools.islice(items, self.done):  # replays the data order, not the steps
            pass
        if self._rng_states is not None:
            set_rng_states(self._rng_states)
            self._rng_states = None
        every, ctx = self.loop.every, self.loop.ctx
        todo = itertools.islice(items, max(n - self.done, 0))
        desc = f"{self.loop.name} epoch {self.index}"
        for item in ctx.progress(todo, total=max(n - self.done, 0), desc=desc):
            yield item
            self.done += 1
            if every > 0 and self.done % every == 0 and self.done < n:
                self.loop.save(self, finished=False)

    def add(self, losses: Mapping[str, float] | float) -> None:
        """Add one step's losses (a float is ``{"loss": value}``) to the epoch's sums."""
        losses = {"loss": losses} if not isinstance(losses, Mapping) else losses
        for key, value in losses.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)

    def log(self, **values: float) -> None:
        """Values to log beside the mean losses at the end of the epoch (``lr``)."""
        self.extra.update({k: float(v) for k, v in values.items()})

    def means(self) -> dict[str, float]:
        return {k: v / max(self.done, 1) for k, v in self.sums.items()}


class _Loop:
    def __init__(self, ctx, model, optimizer, scheduler, name: str):
        self.ctx, self.model, self.optimizer, self.scheduler = ctx, model, optimizer, scheduler
        self.name = name
        every = (getattr(ctx, "config", None) or {}).get("checkpoint_every", CHECKPOINT_EVERY)
        if isinstance(every, bool) or not isinstance(every, int) or every < 0:
            raise ConfigError(
                f"checkpoint_every {every!r}: expected a whole number of steps >= 0 (0 checkpoints "
                "at epoch ends only), e.g. --set checkpoint_every=50"
            )
        self.every = every

    def save(self, epoch: Epoch, finished: bool) -> None:
        self.ctx.save_checkpoint(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
                "epoch": epoch.index,
                "step": epoch.done,
                "epoch_done": finished,
                "sums": dict(epoch.sums),
                "epoch_rng": epoch.rng.bit_generator.state,
                "rng": rng_states(),
            }
        )

    def restore(self) -> tuple[int, Mapping | None]:
        """``(first epoch to run, its saved mid-epoch state or None)`` from the checkpoint."""
        state = self.ctx.load_checkpoint()
        if state is None:
            return 0, None
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        epoch, step = int(state["epoch"]), state.get("step")
        if step is None or state.get("epoch_done", True):  # an epoch-end checkpoint
            if "rng" in state:
                set_rng_states(state["rng"])
            self.ctx.note("resumed_from", {"epoch": epoch + 1, "step": 0})
            return epoch + 1, None
        self.ctx.note("resumed_from", {"epoch": epoch, "step": int(step)})
        return epoch, state


def training_loop(
    ctx, model: Any, optimizer: Any, scheduler: Any, epochs: int, name: str
) -> Iterator[Epoch]:
    """The epochs still to train of ``epochs``, resumed from the run's checkpoint when there is
    one (noting ``resumed_from``: epoch and step); after each epoch's body, log its mean losses
    (plus :meth:`Epoch.log` values) and checkpoint.

    ``model``, ``optimizer``, ``scheduler`` (None without one): what the checkpoint holds
    (the bare model, not its ``DistributedDataParallel`` wrapper). ``name`` labels the
    progress bar.
    """
    loop = _Loop(ctx, model, optimizer, scheduler, name)
    start, saved = loop.restore()
    for index in range(start, int(epochs)):
        epoch = Epoch(loop, index, saved if index == start else None)
        yield epoch
        ctx.log_epoch(index, {**epoch.means(), **epoch.extra})
        loop.save(epoch, finished=True)
