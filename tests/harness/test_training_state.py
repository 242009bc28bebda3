"""kpbench.training: what a checkpoint holds, that it is written atomically, and that a fit
interrupted mid-epoch and resumed in a fresh process state ends where an uninterrupted one does."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from kpbench.context import Context
from kpbench.tracking import Tracker
from kpbench.training import rng_states, set_rng_states, training_loop


class Crash(Exception):
    """A simulated kill."""


class CrashingContext(Context):
    """Dies while writing the ``crash_at``-th checkpoint (after the temporary file is written)."""

    def __init__(self, *args, crash_at: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.crash_at, self.saves = crash_at, 0

    def save_checkpoint(self, state):
        self.saves += 1
        if self.saves == self.crash_at:
            torch.save(state, self.checkpoint_path.with_suffix(".pt.tmp"))
            raise Crash
        return super().save_checkpoint(state)


def _ctx(tmp_path, resume=False, crash_at=None, every=2):
    return CrashingContext({"checkpoint_every": every}, torch.device("cpu"), 3, tmp_path, resume,
                           Tracker(enabled=False), False, rank=0, world_size=1, local_rank=0,
                           crash_at=crash_at)  # fmt: skip


def _fit(ctx, epochs=2, steps=5):
    """A fit drawing from every RNG the checkpoint restores and from a reshuffled loader."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    data = torch.arange(40, dtype=torch.float32).reshape(10, 4) / 40
    loader = ctx.loader(data, batch_size=2, shuffle=True)
    random.seed(0)  # as the runner seeds every process; a resumed one then restores the states
    np.random.seed(0)
    for epoch in training_loop(ctx, model, opt, sched, epochs, "toy"):
        ctx.set_epoch(loader, epoch.index)
        for x in epoch.steps(steps, loader):
            noise = epoch.rng.normal() + np.random.rand() + random.random()
            loss = (model(x + torch.randn(1)) ** 2).mean() * (1 + noise)
            opt.zero_grad()
            loss.backward()
            opt.step()
            epoch.add({"loss": loss.item(), "noise": noise})
        sched.step()
        epoch.log(lr=sched.get_last_lr()[0])
    return model, ctx


def test_checkpoint_holds_model_optimiser_scheduler_rng_and_step(tmp_path):
    ctx = _ctx(tmp_path, crash_at=2, every=2)  # the 2nd save: step 4 of epoch 0
    with pytest.raises(Crash):
        _fit(ctx)
    state = torch.load(ctx.checkpoint_path, weights_only=True)  # the 1st save: step 2
    assert {"model", "optimizer", "scheduler", "rng", "epoch_rng", "sums"} <= set(state)
    assert (state["epoch"], state["step"], state["epoch_done"]) == (0, 2, False)
    assert set(state["rng"]) >= {"torch", "numpy", "python"} and set(state["sums"]) == {
        "loss",
        "noise",
    }


def test_a_crash_while_writing_leaves_the_previous_checkpoint(tmp_path):
    ctx = _ctx(tmp_path, crash_at=3, every=2)
    with pytest.raises(Crash):
        _fit(ctx)
    before = torch.load(ctx.checkpoint_path, weights_only=True)
    assert (before["epoch"], before["step"], before["epoch_done"]) == (0, 4, False)
    assert ctx.checkpoint_path.with_suffix(".pt.tmp").is_file()  # the torn write, not used


# crashes writing the 2nd/4th/5th checkpoint: resumes at epoch 0 step 2, epoch 1, epoch 1 step 2
@pytest.mark.parametrize("crash_at", [2, 4, 5])
def test_resumed_fit_ends_where_the_uninterrupted_one_does(tmp_path, crash_at):
    whole, whole_ctx = _fit(_ctx(tmp_path / "whole"))
    with pytest.raises(Crash):
        _fit(_ctx(tmp_path / "cut", crash_at=crash_at))
    resumed, ctx = _fit(_ctx(tmp_path / "cut", resume=True))
    for a, b in zip(whole.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert ctx.history == whole_ctx.history and len(ctx.history) == 2
    assert set(ctx.notes["resumed_from"]) == {"epoch", "step"}


def test_a_fresh_fit_notes_no_resume(tmp_path):
    _, ctx = _fit(_ctx(tmp_path))
    assert "resumed_from" not in ctx.notes and [r["epoch"] for r in ctx.history] == [0, 1]
    assert ctx.history[1]["lr"] == pytest.approx(2.5e-3)


def test_rng_states_round_trip_through_weights_only_load(tmp_path):
    torch.save(rng_states(), tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_states(torch.load(tmp_path / "rng.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(expected[0], again[0]) and np.array_equal(expected[1], again[1])
    assert expected[2] == again[2]


def test_checkpoint_every_is_a_key_every_method_takes():
    from kpbench.config import resolve
    from kpbench.errors import ConfigError
    from kpbench.specs import MethodSpec

    spec = MethodSpec(name="m", tasks=("discovery2d",), build=lambda c: None, defaults={"lr": 1})
    assert resolve(spec, overrides={"checkpoint_every": 7})[0] == {"lr": 1, "checkpoint_every": 7}
    assert resolve(spec)[0] == {"lr": 1}  # the default (50) lives in kpbench.training
    with pytest.raises(ConfigError, match="unknown key .checkpoint_evry. for method m"):
        resolve(spec, overrides={"checkpoint_evry": 7})


@pytest.mark.parametrize("bad", [-1, 2.5, "often"])
def test_a_bad_checkpoint_every_is_one_clear_error(tmp_path, bad):
    from kpbench.errors import ConfigError

    with pytest.raises(ConfigError, match=f"checkpoint_every {bad!r}: expected a whole number"):
        _fit(_ctx(tmp_path, every=bad))
