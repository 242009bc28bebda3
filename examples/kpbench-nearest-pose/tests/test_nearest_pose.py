"""The example plugin passes kpbench's conformance suite (run after installing the example)."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench import testing
from kpbench.plugins import Registry


@pytest.fixture(scope="module")
def registry():
    return Registry()  # every installed distribution's kpbench entry points


def test_found_through_its_entry_point(registry):
    assert "nearest_pose" in registry.methods()  # collects every plugin's records
    info = registry.plugins["nearest_pose"]
    assert info.error is None and info.source.startswith("kpbench-nearest-pose ")
    assert registry.method("nearest_pose").tasks == ("pose2d",)


def test_conformance_on_every_smoke_pair(registry, tmp_path):
    pairs = [p for p in testing.smoke_pairs(registry) if p[0] == "nearest_pose"]
    assert pairs == [("nearest_pose", "pose2d")]
    for method, task in pairs:
        report = testing.check_method(registry.method(method), task, registry, tmp_dir=tmp_path)
        assert np.isfinite(report["loss"]) and report["params"] == 0
        assert report["metrics"]["rmse_px"]["error"] is None


def test_reference_figures(registry):
    assert testing.check_reference(registry.method("nearest_pose")) == {
        "params": 0, "flops": 0, "device": "meta"
    }  # fmt: skip
