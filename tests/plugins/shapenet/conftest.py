"""A small synthetic ShapeNet twin per session, its render cache, and the real vehicle meshes."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpbench_plugins.shapenet.synth import synthesize

#: 3 cars + 3 aeroplanes; built with few views so a build renders in about a second.
TINY = {"cars": 3, "airplanes": 3}
VIEWS = {"views_per_model": 6, "pairs_per_model": 5, "image_size": 64}
VEHICLES = Path("/work/shared/data/vehicle_meshes")


@pytest.fixture(scope="session")
def twin(tmp_path_factory) -> Path:
    """The twin of :data:`TINY`, seed 0 (read it, do not change it)."""
    return synthesize(tmp_path_factory.mktemp("shapenet") / "twin", 0, **TINY)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """An empty render cache, also the default one ($KPBENCH_CACHE) for this test."""
    monkeypatch.setenv("KPBENCH_CACHE", str(tmp_path / "kpcache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def vehicles() -> Path:
    """The real meshes of /work/shared/data/vehicle_meshes (skip when absent)."""
    if not (VEHICLES / "02958343").is_dir():
        pytest.skip(f"{VEHICLES} not present (real car and aeroplane meshes)")
    return VEHICLES
