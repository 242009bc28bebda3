"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
# renders and other caches the tests make go to a folder of their own, not the user's cache
if "KPBENCH_CACHE" not in os.environ:
    import tempfile

    os.environ["KPBENCH_CACHE"] = tempfile.mkdtemp(prefix="kpbench-test-cache-")
sys.path.insert(0, str(Path(__file__).resolve().parent / "harness"))


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` beside the repo; tests that need it skip cleanly where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


@pytest.fixture
def toy_registry(tmp_path):
    """The process registry (built-ins from entry points) plus the in-process toy plugin."""
    from toy_plugin import ToyPlugin

    from kpbench.plugins import Registry, reset_registry

    reg = Registry()
    reg.register(ToyPlugin(), name="toy")
    reset_registry(reg)
    yield reg
    reset_registry(None)


@pytest.fixture
def toy_data(tmp_path) -> Path:
    from toy_plugin import synthesize

    out = tmp_path / "toydata"
    out.mkdir()
    return synthesize(out)
