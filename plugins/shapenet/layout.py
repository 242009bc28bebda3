"""Where the meshes of a ShapeNetCore folder are, what category each is, and its split.

Layouts (both may sit side by side; v2 wins for a model present in both):

* **v2**: ``<synset>/<model_id>/models/model_normalized.obj`` (+ ``model_normalized.mtl``);
* **v1**: ``<synset>/<model_id>/model.obj`` (+ ``model.mtl``).

A synset folder is named by its 8-digit WordNet offset (``02958343``). Category names come from
``taxonomy.json`` at the top of the folder when present (ShapeNet's file: a list of
``{"synsetId", "name", ...}``; the first comma-separated word of ``name`` is used), else from
:data:`SYNSET_NAMES`, else the synset id itself.

**Split** (deterministic, independent of the machine and of which other models are present in
another category): in each category the models are ranked by ``sha256(model_id)``; the first
``ceil(test_fraction · n)`` are ``test`` (at least one when the category has two or more models,
none when it has one), the rest ``train``. ``test_models`` (ids) overrides this: exactly those
models are ``test``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from kpbench.errors import ConfigError, DataError

#: Common ShapeNetCore synsets (the 13 of 3D-R2N2 and a few more) → short names.
SYNSET_NAMES = {
    "02691156": "airplane", "02828884": "bench", "02933112": "cabinet", "02958343": "car",
    "03001627": "chair", "03211117": "display", "03636649": "lamp", "03691459": "loudspeaker",
    "04090263": "rifle", "04256520": "sofa", "04379243": "table", "04401088": "telephone",
    "04530566": "watercraft", "02773838": "bag", "02808440": "bathtub", "02818832": "bed",
    "02876657": "bottle", "02942699": "camera", "02946921": "can", "03046257": "clock",
    "03467517": "guitar", "03642806": "laptop", "03790512": "motorcycle", "03797390": "mug",
    "03948459": "pistol", "04099429": "rocket", "04225987": "skateboard", "04468005": "train",
}  # fmt: skip
V2_MESH = Path("models") / "model_normalized.obj"
V1_MESH = Path("model.obj")
_SYNSET = re.compile(r"^\d{8}$")


@dataclass(frozen=True)
class Model:
    """One mesh of the folder: ``synset``/``model_id``, its category name, file and layout."""

    synset: str
    model_id: str
    category: str
    path: Path
    layout: str  # "v1" or "v2"

    @property
    def key(self) -> str:
        """``synset/model_id``: unique in the folder (ShapeNet reuses a few ids across synsets)."""
        return f"{self.synset}/{self.model_id}"


def read_taxonomy(root: Path) -> dict[str, str]:
    """``{synset: name}`` from ``root/taxonomy.json`` (empty when absent)."""
    path = root / "taxonomy.json"
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {str(e["synsetId"]): str(e["name"]).split(",")[0].strip() for e in entries}
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DataError(
            f"shapenet: {path} is not ShapeNet's taxonomy (a JSON list of objects with 'synsetId' "
            f"and 'name'): {type(exc).__name__}: {exc}; fix it or remove it"
        ) from None


def category_names(root: Path) -> dict[str, str]:
    """Synset → name: the built-in names, overridden by the folder's ``taxonomy.json``."""
    return {**SYNSET_NAMES, **read_taxonomy(root)}


def find_models(root: Path) -> tuple[list[Model], dict[str, str]]:
    """Every model of ``root`` in either layout, sorted by (synset, model id).

    Returns:
        the models, and ``{synset: name}`` for the synsets found.
    """
    names = category_names(root)
    models: dict[tuple[str, str], Model] = {}
    for synset_dir in sorted(p for p in root.iterdir() if p.is_dir() and _SYNSET.match(p.name)):
        synset = synset_dir.name
        for model_dir in sorted(p for p in synset_dir.iterdir() if p.is_dir()):
            for layout, rel in (("v2", V2_MESH), ("v1", V1_MESH)):
                if (model_dir / rel).is_file():
                    name = names.get(synset, synset)
                    models[(synset, model_dir.name)] = Model(
                        synset, model_dir.name, name, model_dir / rel, layout
                    )
                    break
    found = {m.synset: m.category for m in models.values()}
    return [models[k] for k in sorted(models)], found


def _items(value) -> list[str]:
    items = value.split(",") if isinstance(value, str) else list(value)
    return [str(v).strip() for v in items if str(v).strip()]


def select_categories(models: list[Model], categories, found: dict[str, str]) -> list[Model]:
    """The models of ``categories`` (names or synset ids; None: all found)."""
    if categories is None:
        return models
    wanted = _items(categories)
    keep = set()
    for c in wanted:
        hits = {s for s, n in found.items() if c in (s, n)}
        if not hits:
            have = ", ".join(f"{n} ({s})" for s, n in sorted(found.items())) or "none"
            raise ConfigError(
                f"shapenet: data.categories has {c!r}, not a category of this folder "
                f"(it has {have}); name some of those"
            )
        keep |= hits
    return [m for m in models if m.synset in keep]


def model_hash(model_id: str) -> str:
    return hashlib.sha256(model_id.encode("utf-8")).hexdigest()


def split_models(models: list[Model], test_fraction: float, test_models=None) -> dict[str, str]:
    """``{model.key: "train" | "test"}`` by the rule of this module's docstring."""
    if not 0.0 <= float(test_fraction) < 1.0:
        raise ConfigError(
            f"shapenet: data.test_fraction={test_fraction!r} must be in [0, 1), e.g. 0.2"
        )
    if test_models is not None:
        held = set(_items(test_models))
        unknown = sorted(held - {m.model_id for m in models})
        if unknown:
            raise ConfigError(
                f"shapenet: data.test_models names {unknown}, not models of the chosen "
                "categories; name model folder names of this folder"
            )
        return {m.key: "test" if m.model_id in held else "train" for m in models}
    out = {}
    for synset in sorted({m.synset for m in models}):
        ranked = sorted(
            (m for m in models if m.synset == synset), key=lambda m: model_hash(m.model_id)
        )
        n_test = math.ceil(float(test_fraction) * len(ranked)) if len(ranked) > 1 else 0
        n_test = max(n_test, 1) if len(ranked) > 1 and test_fraction > 0 else n_test
        for i, m in enumerate(ranked):
            out[m.key] = "test" if i < n_test else "train"
    return out
