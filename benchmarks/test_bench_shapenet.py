"""Rendering speed of the ``shapenet`` dataset: views/s at KeypointNet's 128×128.

Cases, side by side in one run, on one twin car and one twin aeroplane (normalised, object
size 2, camera 30 away, 5° field of view, 8 viewpoints on the upper hemisphere):

* ``embree``: the chosen renderer, trimesh's ray caster on Intel Embree (embreex);
* ``python``: the same caster on trimesh's pure-Python triangle intersector (the fallback
  where embreex has no wheel; needs ``rtree``, skipped without it), 2 views only;
* ``pyrender``: OpenGL rasterisation through OSMesa, only where pyrender is installed with
  a working ``libOSMesa`` (not a kpbench dependency).

Views/s goes into ``extra_info`` (and, for ``python``, the speed-up of embree over it). The
real-mesh numbers of docs/shapenet.md come from the same cases on /work/shared/data/vehicle_meshes.
Run: ``pytest benchmarks/test_bench_shapenet.py --benchmark-only``.
"""

from __future__ import annotations

import numpy as np
import pytest

from kpbench_plugins.shapenet.camera import GL_TO_CV, hemisphere_poses, intrinsics
from kpbench_plugins.shapenet.mesh import load_mesh
from kpbench_plugins.shapenet.orient import normalising_transform
from kpbench_plugins.shapenet.render import RayCaster
from kpbench_plugins.shapenet.synth import synthesize

SIZE, VIEWS = 128, 8
RATES: dict[str, float] = {}


@pytest.fixture(scope="module", params=["02958343", "02691156"], ids=["car", "airplane"])
def mesh(request, tmp_path_factory):
    twin = synthesize(tmp_path_factory.mktemp("sn") / "twin", 0, cars=1, airplanes=1)
    m = load_mesh(next((twin / request.param).rglob("*.obj")))
    world = normalising_transform(m, "+y", "-z")
    world[:3] *= 2.0
    return m.transformed(world)


def _poses(n: int = VIEWS) -> np.ndarray:
    return hemisphere_poses(n, 30.0, np.random.default_rng(0))


def _rate(benchmark, name: str, views: int) -> float:
    rate = views / benchmark.stats.stats.median
    benchmark.extra_info.update(views=views, size=SIZE, views_per_s=round(rate, 1))
    RATES[name] = rate
    return rate


def test_embree_views_per_s(benchmark, mesh):
    caster, poses, K = RayCaster(mesh, "embree"), _poses(), intrinsics(SIZE, 5.0)
    benchmark.pedantic(lambda: caster.render_many(poses, K, SIZE), warmup_rounds=1, rounds=5)
    assert _rate(benchmark, "embree", VIEWS) > 0


def test_python_fallback_views_per_s(benchmark, mesh):
    pytest.importorskip("rtree")
    caster, poses, K = RayCaster(mesh, "python"), _poses(2), intrinsics(SIZE, 5.0)
    embree = RayCaster(mesh, "embree").render_many(poses, K, SIZE)
    out = benchmark.pedantic(lambda: caster.render_many(poses, K, SIZE), rounds=1)
    assert (out["mask"] != embree["mask"]).mean() < 0.01  # the same images, slower
    rate = _rate(benchmark, "python", 2)
    if "embree" in RATES:
        benchmark.extra_info["embree_speedup"] = round(RATES["embree"] / rate, 1)


def test_pyrender_osmesa_views_per_s(benchmark, mesh, monkeypatch):
    monkeypatch.setenv("PYOPENGL_PLATFORM", "osmesa")
    pyrender = pytest.importorskip("pyrender")
    import trimesh

    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, face_colors=mesh.colours, process=False)
    scene = pyrender.Scene(bg_color=[0, 0, 0, 0], ambient_light=[0.35] * 3)
    scene.add(pyrender.Mesh.from_trimesh(tm, smooth=False))
    K = intrinsics(SIZE, 5.0)
    cam = scene.add(pyrender.IntrinsicsCamera(K[0, 0], K[1, 1], K[0, 2], K[1, 2], 1.0, 100.0))
    light = scene.add(pyrender.DirectionalLight(intensity=3.0))
    try:
        renderer = pyrender.OffscreenRenderer(SIZE, SIZE)
    except Exception as exc:  # no libOSMesa, or a PyOpenGL without OSMesa contexts
        pytest.skip(f"pyrender cannot open an OSMesa context: {type(exc).__name__}: {exc}")
    poses = [np.linalg.inv(GL_TO_CV @ p) for p in _poses()]

    def run():
        for c2w in poses:
            scene.set_pose(cam, c2w)
            scene.set_pose(light, c2w)
            renderer.render(scene)

    benchmark.pedantic(run, warmup_rounds=1, rounds=5)
    rate = _rate(benchmark, "pyrender", VIEWS)
    if "embree" in RATES:
        benchmark.extra_info["embree_over_pyrender"] = round(RATES["embree"] / rate, 2)
    renderer.delete()
