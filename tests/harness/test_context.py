"""The run context's data-parallel pieces, on one process (torchrun exercises them across many)."""

from __future__ import annotations

import pytest
import torch

from kpbench.context import Context, dist_env
from kpbench.tracking import Tracker


def ctx(tmp_path, **kw) -> Context:
    return Context({}, torch.device("cpu"), 7, tmp_path / "run", False, Tracker(enabled=False),
                   False, **kw)  # fmt: skip


def test_torchrun_variables_are_read():
    assert dist_env({}) == (0, 1, 0)
    assert dist_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == (3, 4, 1)


def test_single_process_is_main_and_changes_nothing(tmp_path):
    c = ctx(tmp_path, rank=0, world_size=1)
    model = torch.nn.Linear(2, 2)
    assert c.is_main and c.wrap_model(model) is model and c.sampler(list(range(10))) is None
    loader = c.loader(list(range(10)), batch_size=5)
    again = c.loader(list(range(10)), batch_size=5)
    assert [b.tolist() for b in loader] == [b.tolist() for b in again]  # seeded by the run


def test_an_epochs_order_depends_on_seed_and_epoch_only(tmp_path):
    c = ctx(tmp_path, rank=0, world_size=1)
    loader, fresh = c.loader(list(range(10)), batch_size=5), c.loader(list(range(10)), 5)
    orders = []
    for epoch in range(3):  # one loader through epochs 0-2, as a run
        c.set_epoch(loader, epoch)
        orders.append([b.tolist() for b in loader])
    c.set_epoch(fresh, 2)  # a fresh loader (a resumed run) straight at epoch 2
    assert [b.tolist() for b in fresh] == orders[2] and orders[1] != orders[2]


def test_other_ranks_neither_log_nor_checkpoint_and_get_their_shard(tmp_path):
    c = ctx(tmp_path, rank=1, world_size=2)
    assert not c.is_main and not c.show_progress
    c.log_epoch(0, {"loss": 1.0})
    c.save_checkpoint({"w": torch.zeros(1)})
    c.add_artifact("x", tmp_path / "x")
    assert c.history == [{"epoch": 0, "loss": 1.0}]
    assert not c.checkpoint_path.exists() and c.artifacts == {}
    rank1 = [int(i) for b in c.loader(list(range(10)), batch_size=2, shuffle=False) for i in b]
    rank0 = ctx(tmp_path, rank=0, world_size=2).loader(list(range(10)), 2, shuffle=False)
    rank0 = [int(i) for b in rank0 for i in b]
    assert sorted(rank0 + rank1) == list(range(10)) and not set(rank0) & set(rank1)
    with pytest.raises(RuntimeError, match="launch with torchrun"):
        c.wrap_model(torch.nn.Linear(2, 2))


def test_wrap_model_uses_ddp_under_a_process_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        c = ctx(tmp_path, rank=0, world_size=2)  # as if a second process existed
        wrapped = c.wrap_model(torch.nn.Linear(2, 2))
        assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
        wrapped(torch.zeros(3, 2)).sum().backward()
    finally:
        dist.destroy_process_group()


def test_setup_distributed_is_a_no_op_on_one_process(monkeypatch):
    from kpbench.runner import _shared_run_id, setup_distributed

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert setup_distributed(torch.device("cpu")) == (torch.device("cpu"), 0, 1)
    assert _shared_run_id("r1", 1) == "r1"


def test_setup_distributed_joins_a_gloo_group(monkeypatch, tmp_path):
    """torchrun's variables on CPU: a gloo group of one; the run id is rank 0's."""
    import torch.distributed as dist

    from kpbench.runner import _shared_run_id, setup_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")  # read by kpbench; the group itself is of one process
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        device, rank, world = setup_distributed(torch.device("cpu"))
        assert (device.type, rank, world) == ("cpu", 0, 2) and dist.is_initialized()
        assert _shared_run_id("r1", world) == "r1"
    finally:
        dist.destroy_process_group()
