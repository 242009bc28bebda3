"""kpbench.testing.check_resume over every built-in method that trains: a fit killed right after
its first (mid-epoch) checkpoint and resumed in a fresh method ends exactly where an
uninterrupted fit with the same seed ends, on CPU, each on the smallest twin serving its task."""

from __future__ import annotations

import pytest
from test_conformance import _REG, SMALL_TWINS

from kpbench.runner import build_dataset
from kpbench.testing import check_resume

#: Twins tried in this order for a method's training task (the smallest first).
ORDER = ("calms21", "shapenet", "actions", "video", "h36m")
#: Methods tied to one twin: the toy's network is sized for the 32 px video twin.
TWIN_FOR = {"toymethod": "video"}


def _cases() -> list[tuple[str, str, str]]:
    twins = {n: e.spec for n, e in _REG.datasets().items() if e.spec.synthesize is not None}
    cases = []
    for name, entry in sorted(_REG.methods().items()):
        spec = entry.spec
        for task in (t for t in spec.tasks if spec.trains_for(t)):
            found = [d for d in ORDER if d in twins and task in twins[d].tasks]
            found = [TWIN_FOR[name]] if name in TWIN_FOR else found
            if found:
                cases.append((name, task, found[0]))
                break
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    built: dict[str, object] = {}

    def get(name: str):
        if name not in built:
            spec = _REG.dataset(name)
            folder = tmp_path_factory.mktemp(name)
            root = spec.synthesize(folder / "twin", 0, **SMALL_TWINS.get(name, {}))
            built[name] = build_dataset(spec, root, {})
        return built[name]

    return get


@pytest.mark.parametrize(("method", "task", "dataset"), CASES, ids=[c[0] for c in CASES])
def test_fit_resumes_exactly_after_a_crash(method, task, dataset, twins, tmp_path, toy_registry):
    report = check_resume(
        toy_registry.method(method), task, twins(dataset), registry=toy_registry, tmp_dir=tmp_path
    )
    assert report["epochs"] >= 1 and report["tensors"] > 0


def test_every_builtin_trained_method_is_covered():
    assert {"bkind", "hrnet", "keypointnet", "tcc", "videopose3d", "crw", "uvc"} <= {
        c[0] for c in CASES
    }


def test_a_fit_that_does_not_restore_its_rng_states_is_caught(tmp_path, toy_registry, twins):
    from dataclasses import replace

    import torch
    from toy_plugin import ToyMethod

    class EpochOnly(ToyMethod):
        """Resumes the weights only (not the RNG it augments with), as fits did before."""

        def fit(self, data, ctx):
            videos = data.videos("train")
            frames = [f for v in videos for _, f in v.reader.iter_frames(v.frame_range)]
            state, start = ctx.load_checkpoint(), 0
            if state:
                self.model.load_state_dict(state["model"])
                ctx.note("resumed_from", {"epoch": state["epoch"] + 1, "step": 0})
                start = state["epoch"] + 1
            for epoch in range(start, self.config["epochs"]):
                x = self._tensor(frames)
                loss = self.train_step(x + 0.1 * torch.randn_like(x))
                ctx.log_epoch(epoch, {"loss": loss})
                ctx.save_checkpoint({"model": self.model.state_dict(), "epoch": epoch})

    spec = toy_registry.method("toymethod")
    bad = replace(spec, build=lambda config, num_keypoints=None: EpochOnly(config))
    with pytest.raises(AssertionError, match="differs from the uninterrupted fit's"):
        check_resume(bad, "discovery2d", twins("video"), registry=toy_registry, tmp_dir=tmp_path)
