"""Folder layouts: ShapeNetCore v2 and v1, taxonomy names, category choice, the split rule."""

from __future__ import annotations

import json
import shutil

import pytest

from kpbench.errors import ConfigError, DataError
from kpbench_plugins.shapenet.layout import (
    find_models,
    model_hash,
    read_taxonomy,
    select_categories,
    split_models,
)

from .conftest import VIEWS


def _cube_obj(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    corners = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    faces = [(1, 2, 4), (1, 4, 3), (5, 7, 8), (5, 8, 6), (1, 5, 6), (1, 6, 2),
             (3, 4, 8), (3, 8, 7), (1, 3, 7), (1, 7, 5), (2, 6, 8), (2, 8, 4)]  # fmt: skip
    text = "".join(f"v {x} {y} {z}\n" for x, y, z in corners)
    path.write_text(text + "".join(f"f {a} {b} {c}\n" for a, b, c in faces))
    return path


def test_v2_and_v1_layouts_side_by_side(tmp_path):
    _cube_obj(tmp_path / "03001627" / "aaa" / "models" / "model_normalized.obj")
    _cube_obj(tmp_path / "03001627" / "bbb" / "model.obj")
    _cube_obj(tmp_path / "99999999" / "ccc" / "model.obj")
    _cube_obj(tmp_path / "notasynset" / "ddd" / "model.obj")
    (tmp_path / "03001627" / "empty").mkdir()
    models, found = find_models(tmp_path)
    assert [(m.synset, m.model_id, m.layout) for m in models] == [
        ("03001627", "aaa", "v2"), ("03001627", "bbb", "v1"), ("99999999", "ccc", "v1"),
    ]  # fmt: skip
    # built-in names, and the synset id for one the map does not know
    assert found == {"03001627": "chair", "99999999": "99999999"}
    assert models[0].key == "03001627/aaa"


def test_taxonomy_names_override_the_builtin_map(tmp_path):
    _cube_obj(tmp_path / "03001627" / "aaa" / "model.obj")
    (tmp_path / "taxonomy.json").write_text(
        json.dumps([{"synsetId": "03001627", "name": "seat,chair", "children": []}])
    )
    assert read_taxonomy(tmp_path) == {"03001627": "seat"}
    models, found = find_models(tmp_path)
    assert models[0].category == "seat" and found == {"03001627": "seat"}
    (tmp_path / "taxonomy.json").write_text('{"not": "a list"}')
    with pytest.raises(DataError, match="taxonomy.json is not ShapeNet's taxonomy"):
        find_models(tmp_path)


def test_twin_is_v2_with_taxonomy(twin):
    models, found = find_models(twin)
    assert found == {"02691156": "airplane", "02958343": "car"}
    assert len(models) == 6 and {m.layout for m in models} == {"v2"}
    assert all(len(m.model_id) == 32 for m in models)


def test_categories_by_name_or_synset(twin):
    models, found = find_models(twin)
    cars = select_categories(models, "car", found)
    assert {m.synset for m in cars} == {"02958343"} and len(cars) == 3
    assert select_categories(models, ["02691156", "car"], found) == models
    with pytest.raises(ConfigError, match="not a category of this folder .*airplane"):
        select_categories(models, "chair", found)


def test_split_is_by_model_hash_per_category(twin):
    models, _ = find_models(twin)
    split = split_models(models, 0.2)
    for synset in ("02691156", "02958343"):
        ranked = sorted(
            (m for m in models if m.synset == synset), key=lambda m: model_hash(m.model_id)
        )
        # ceil(0.2 * 3) = 1 test model per category: the lowest hash
        assert [split[m.key] for m in ranked] == ["test", "train", "train"]
    # the split of a category does not depend on the other categories being there
    cars = [m for m in models if m.synset == "02958343"]
    assert split_models(cars, 0.2) == {m.key: split[m.key] for m in cars}
    held = split_models(models, 0.2, test_models=[models[0].model_id])
    assert [k for k, s in held.items() if s == "test"] == [models[0].key]
    with pytest.raises(ConfigError, match="test_models names"):
        split_models(models, 0.2, test_models="nope")
    with pytest.raises(ConfigError, match="test_fraction"):
        split_models(models, 1.5)


def test_build_on_a_v1_copy_reads_the_same_models(twin, tmp_path, cache):
    from kpbench_plugins.shapenet.dataset import build

    for obj in twin.rglob("model_normalized.obj"):
        dest = tmp_path / "v1" / obj.relative_to(twin).parent.parent
        dest.mkdir(parents=True)
        shutil.copy(obj, dest / "model.obj")
        shutil.copy(obj.with_suffix(".mtl"), dest / "model_normalized.mtl")
    data = build(tmp_path / "v1", cache=cache, categories="02958343", **VIEWS)
    assert data.notes["layout"] == ["v1"] and data.notes["categories"] == ["car"]
    # a v1 copy beside a v2 model: the v2 mesh is used, the v1 one listed as ignored
    shutil.copytree(tmp_path / "v1" / "02958343", tmp_path / "both" / "02958343")
    v2 = next(twin.glob("02958343/*/models"))
    shutil.copytree(v2, tmp_path / "both" / v2.relative_to(twin))
    both = build(tmp_path / "both", cache=cache, **VIEWS)
    assert sorted(both.notes["layout"]) == ["v1", "v2"] and len(both.notes["used_meshes"]) == 3
    assert [k for k, v in both.notes["ignored"].items() if "v2 used" in v] == [
        str(tmp_path / "both" / v2.relative_to(twin).parent / "model.obj")
    ]
    assert len(data.notes["used_meshes"]) == 3
    # no taxonomy.json: not ShapeNet's own release, so the axes were inferred
    assert data.notes["render"]["shapenet_release"] is False
    assert set(data.notes["axes_of_rendered_meshes"].values()) == {"up +y, forward -z"}
