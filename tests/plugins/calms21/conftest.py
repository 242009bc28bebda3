"""One small synthetic CalMS21 twin per test session, and throw-away copies of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kpbench_plugins.calms21.synth import synthesize

TINY = {"n_train": 2, "n_test": 1, "frames": 40, "width": 128, "height": 128}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Fallback caches go under the test's tmp folder, never to ~/.cache."""
    monkeypatch.setenv("KPBENCH_CACHE", str(tmp_path / "kpbench_cache"))


@pytest.fixture(scope="session")
def twin(tmp_path_factory) -> Path:
    """2 train + 1 test sequences × 40 frames at 128 × 128 px, seed 0 (read it, do not change it)."""
    return synthesize(tmp_path_factory.mktemp("calms21") / "twin", 0, **TINY)


@pytest.fixture
def twin_copy(twin, tmp_path) -> Path:
    """A private copy of the twin (without its cache) that a test may change."""
    dst = tmp_path / "calms21"
    shutil.copytree(twin, dst, ignore=shutil.ignore_patterns(".kpbench_cache"))
    return dst
