"""resume_training / save_training: what one saves after an epoch, the other restores."""

from __future__ import annotations

import io

import torch

from kpbench.method import resume_training, save_training


class _Ctx:
    def __init__(self):
        self.saved, self.notes = None, {}

    def save_checkpoint(self, state):
        buffer = io.BytesIO()
        torch.save(state, buffer)
        self.saved = buffer.getvalue()

    def load_checkpoint(self):
        return None if self.saved is None else torch.load(io.BytesIO(self.saved), weights_only=True)

    def note(self, key, value):
        self.notes[key] = value


def _parts(seed):
    torch.manual_seed(seed)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)


def test_a_fresh_run_starts_at_epoch_zero():
    ctx = _Ctx()
    assert resume_training(ctx, *_parts(0)) == 0 and ctx.notes == {}


def test_resume_restores_weights_optimizer_and_schedule():
    ctx = _Ctx()
    model, opt, sched = _parts(0)
    for _ in range(2):
        opt.zero_grad()
        model(torch.ones(4, 3)).sum().backward()
        opt.step()
        sched.step()
    save_training(ctx, model, opt, sched, epoch=1)
    model2, opt2, sched2 = _parts(1)
    assert resume_training(ctx, model2, opt2, sched2) == 2
    assert ctx.notes == {"resumed_from_epoch": 2}
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert sched2.get_last_lr() == sched.get_last_lr() == [2.5e-3]
