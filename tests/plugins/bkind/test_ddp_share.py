"""Under torchrun each rank trains on ~1/world of the pairs: BKinD must not drop a ragged last
batch that is the rank's only one (it trained zero steps, silently, when the rank's share was
smaller than a batch while the whole set was larger)."""

from __future__ import annotations

import torch
import torch.distributed as dist

from kpbench.config import resolve
from kpbench.context import Context
from kpbench.plugins import get_registry
from kpbench.runner import build_dataset, build_method
from kpbench.testing_resume import short_config
from kpbench.tracking import Tracker
from kpbench_plugins.bkind.data import training_pairs


def test_a_rank_whose_share_is_under_a_batch_still_trains(tmp_path, monkeypatch):
    reg = get_registry()
    spec, dspec = reg.method("bkind"), reg.dataset("calms21")
    root = dspec.synthesize(
        tmp_path / "twin", 0, n_train=1, n_test=1, frames=24, width=48, height=48
    )
    data = build_dataset(dspec, root, {})
    config = short_config(resolve(spec, "smoke")[0])
    n = len(training_pairs(data, config, None))
    config["batch_size"] = -(-n // 2) + 1  # whole set > a batch, each of 2 ranks' share < one
    assert n > config["batch_size"] > -(-n // 2)
    method = build_method(spec, config, data, len(data.keypoint_names), task="discovery2d")
    steps = []
    monkeypatch.setattr(method, "_step", lambda *a: steps.append(1) or {"loss": 0.0})
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:  # rank 0 of 2 as far as the context knows; DDP runs on the 1-process group
        ctx = Context(config, torch.device("cpu"), 0, tmp_path / "run", False,
                      Tracker(enabled=False), False, rank=0, world_size=2, local_rank=0)  # fmt: skip
        method.fit(data, ctx)
    finally:
        dist.destroy_process_group()
    assert len(steps) == config["epochs"] >= 1  # one (ragged) batch per epoch on this rank
