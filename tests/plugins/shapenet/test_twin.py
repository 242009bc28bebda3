"""The twin through the real loader and renderer: samples, poses, cache, skips, conformance."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kpbench.errors import ConfigError, DataError
from kpbench.tasks.multiview3d import samples
from kpbench_plugins.shapenet import views as views_module
from kpbench_plugins.shapenet.camera import camera_centre
from kpbench_plugins.shapenet.dataset import build
from kpbench_plugins.shapenet.synth import synthesize

from .conftest import TINY, VIEWS


def test_both_splits_validate_as_multiview3d(twin, cache):
    data = build(twin, cache=cache, **VIEWS)
    assert data.tasks == ("multiview3d",)
    models = data.notes["models"]
    assert len(models["test"]) == 2 and len(models["train"]) == 4  # one test model per category
    assert data.notes["pairs"] == {"train": 4 * 5, "test": 2 * 5}
    for split in ("train", "test"):
        pairs = samples(data, split)
        assert len(pairs) == data.notes["pairs"][split]
        for k in range(len(pairs)):
            p = pairs[k]  # validated against the task's schema on access
            assert f"{p['synset']}/{p['object']}" in models[split]
            assert p["category"] in ("car", "airplane")
            assert p["image_a"].shape == (64, 64, 3) and p["image_a"].dtype == np.uint8
            assert p["mask_a"].any() and p["mask_b"].any()
            # the object is lit where its silhouette is, the background black
            assert (p["image_a"][p["mask_a"]].max(-1) > 0).mean() > 0.9
            assert not p["image_a"][~p["mask_a"]].any()
            i, j = p["views"]
            assert i != j


def test_poses_relative_depth_and_hemisphere(twin, cache):
    data = build(twin, cache=cache, **VIEWS)
    s = data.notes["render"]
    for p in samples(data, "train")[:10]:
        np.testing.assert_allclose(p["relative"] @ p["pose_a"], p["pose_b"], atol=1e-9)
        for pose, depth, mask in ((p["pose_a"], p["depth_a"], p["mask_a"]),
                                  (p["pose_b"], p["depth_b"], p["mask_b"])):  # fmt: skip
            c = camera_centre(pose)
            assert np.linalg.norm(c) == pytest.approx(s["distance"]) and c[1] > 0
            np.testing.assert_allclose(pose[:3, 3], [0, 0, s["distance"]], atol=1e-9)
            # the object (longest side 2, centred) lies within 1.8 of the origin: depth 30 ± 1.8
            assert (np.abs(depth[mask] - s["distance"]) < 1.8).all() and (depth[~mask] == 0).all()
        # a pixel seen in view a, lifted to 3D by its depth, projects into b's silhouette
        K = p["intrinsics"]
        v, u = np.argwhere(p["mask_a"])[len(np.argwhere(p["mask_a"])) // 2]
        xa = np.linalg.inv(K) @ [u, v, 1.0] * p["depth_a"][v, u]
        xb = p["relative"][:3, :3] @ xa + p["relative"][:3, 3]
        ub, vb = (K @ xb)[:2] / xb[2]
        near = p["mask_b"][max(int(vb) - 1, 0) : int(vb) + 2, max(int(ub) - 1, 0) : int(ub) + 2]
        assert near.any()


def test_second_build_reads_the_cache_without_rendering(twin, cache, monkeypatch):
    first = build(twin, cache=cache, **VIEWS)
    r = first.notes["render"]
    assert r["views_rendered"] == 6 * 6 and r["views_cached"] == 0 and r["engines"] == ["embree"]
    files = sorted(cache.rglob("*.npz"))
    assert len(files) == 6 and not list(cache.rglob(".tmp-*"))

    def no_render(*args, **kwargs):
        raise AssertionError("rendered although the views are cached")

    monkeypatch.setattr(views_module, "render_model", no_render)
    second = build(twin, cache=cache, **VIEWS)
    assert second.notes["render"]["views_rendered"] == 0
    assert second.notes["render"]["views_cached"] == 36
    a, b = samples(first, "test")[3], samples(second, "test")[3]
    for key in ("image_a", "mask_b", "depth_a", "pose_b", "relative"):
        np.testing.assert_array_equal(a[key], b[key])
    # a different render setting is a different cache entry
    with pytest.raises(AssertionError, match="rendered although"):
        build(twin, cache=cache, **{**VIEWS, "fov": 6.0})


def test_damaged_cache_file_is_rendered_again(twin, cache):
    build(twin, cache=cache, **VIEWS)
    victim = sorted(cache.rglob("*.npz"))[0]
    victim.write_bytes(b"not an npz")
    again = build(twin, cache=cache, **VIEWS)
    assert again.notes["render"]["views_rendered"] == 6
    assert samples(again, "train")[0]["image_a"].any()


def test_unreadable_and_empty_meshes_are_skipped_with_a_note(twin, tmp_path, cache):
    root = shutil.copytree(twin, tmp_path / "twin")
    objs = sorted(root.rglob("model_normalized.obj"))
    objs[0].write_bytes(b"\x00\x01garbage" * 40)
    objs[1].write_text("# no geometry here\nv 0 0 0\n")
    (root / "02958343" / "README").write_text("stray file")
    data = build(root, cache=cache, **VIEWS)
    skipped = data.notes["skipped_meshes"]
    assert skipped == {
        str(objs[0]): "not a text OBJ (binary bytes in it): damaged",
        str(objs[1]): "no triangles in it (empty or truncated)",
    }
    assert len(data.notes["used_meshes"]) == 4
    assert data.notes["ignored"] == {
        "README.txt": "not a synset folder (8 digits) of the ShapeNetCore layout"
    }
    assert str(objs[0]) not in data.notes["used_meshes"]


def test_options_and_errors_are_one_line(twin, tmp_path, cache):
    data = build(twin, cache=cache, categories="car", max_models=2, **VIEWS)
    assert data.notes["categories"] == ["car"] and len(data.notes["used_meshes"]) == 2
    ignored = data.notes["ignored"]
    assert sum("not in data.categories" in v for v in ignored.values()) == 3
    assert sum("beyond data.max_models=2" in v for v in ignored.values()) == 1
    bad = [({"views_per_model": 1}, "views_per_model"), ({"up_axis": "up"}, "up_axis"),
           ({"fov": 0}, "data.fov"), ({"categories": "chair"}, "data.categories"),
           ({"up_axis": "+y", "forward_axis": "-y"}, "same axis")]  # fmt: skip
    for options, text in bad:
        with pytest.raises(ConfigError, match=text) as err:
            build(twin, cache=cache, **{**VIEWS, **options})
        assert "\n" not in str(err.value) and str(err.value).startswith("shapenet: ")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no model in"):
        build(tmp_path / "empty", cache=cache)
    with pytest.raises(ConfigError, match="cars=-1"):
        synthesize(tmp_path / "x", 0, cars=-1)


def test_twin_is_deterministic_and_has_coloured_parts(twin, tmp_path):
    again = synthesize(tmp_path / "again", 0, **TINY)
    files = sorted(p.relative_to(twin) for p in twin.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (twin / rel).read_bytes() == (again / rel).read_bytes()
    from kpbench_plugins.shapenet.mesh import load_mesh

    car = load_mesh(sorted((twin / "02958343").rglob("*.obj"))[0])
    colours = {tuple(c) for c in car.colours}
    assert (25, 25, 25) in colours and (200, 20, 20) in colours and len(colours) >= 4
    other = synthesize(tmp_path / "seed1", 1, cars=1, airplanes=0)
    assert sorted(other.glob("*/*")) != sorted(twin.glob("*/*"))


def test_conformance(twin, tmp_path, cache):
    from kpbench.plugins import get_registry
    from kpbench.testing import check_dataset, check_dataset_errors

    spec = get_registry().dataset("shapenet")
    report = check_dataset(spec, twin, build_options={"cache": cache, **VIEWS})
    assert report == {"multiview3d": {"train": 20, "test": 10}}
    errors = check_dataset_errors(spec, tmp_path / "err", synth_options={"cars": 2, "airplanes": 2})
    assert "missing" in errors and errors["file"].startswith("skipped: {'skipped_meshes'")
