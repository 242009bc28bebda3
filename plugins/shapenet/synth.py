"""A synthetic ShapeNetCore v2 twin: procedural cars and aeroplanes, written as OBJ + MTL.

``synthesize(out)`` writes ``<out>/taxonomy.json`` (ShapeNet's form: ``synsetId``, ``name``,
``children``, ``numInstances``), ``README.txt``, and per model
``<synset>/<model_id>/models/model_normalized.obj`` + ``model_normalized.mtl``: one ``usemtl``
group per part, each material a flat ``Kd`` colour, so parts are told apart in the renders.
Geometry comes from trimesh primitives (boxes, cylinders, cones), in ShapeNet v2's frame:
+Y up, the front towards −Z, centred, bounding-box diagonal 1 (as ``model_normalized``).

* **car** (``02958343``): body, cabin (narrower, set back), 4 wheels, 2 headlights at the front,
  2 tail lights at the back; length, width, heights, wheel size and cabin offset vary.
* **airplane** (``02691156``): fuselage, nose cone, wings, 2 horizontal stabilisers, a tail fin;
  length, radius, span, chord, sweep, wing height and tail size vary.

Model ids are 32 hex digits, as ShapeNet's (md5 of category, seed and index). Deterministic for
a seed. Options: ``cars`` (12), ``airplanes`` (12).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from kpbench.errors import ConfigError

CAR, AIRPLANE = "02958343", "02691156"
NAMES = {CAR: "car,auto,automobile,machine,motorcar", AIRPLANE: "airplane,aeroplane,plane"}


def _box(extents, centre):
    import trimesh

    return trimesh.creation.box(extents=extents).apply_translation(centre)


def _cylinder(radius, length, axis: str, centre, sections: int = 20):
    import trimesh

    mesh = trimesh.creation.cylinder(radius=radius, height=length, sections=sections)
    turn = {"x": ([0, 1, 0], np.pi / 2), "y": ([1, 0, 0], np.pi / 2), "z": ([0, 0, 1], 0.0)}[axis]
    mesh.apply_transform(trimesh.transformations.rotation_matrix(turn[1], turn[0]))
    return mesh.apply_translation(centre)


def _cone(radius, length, centre):
    """A cone along −Z (its tip at the front), base at ``centre``."""
    import trimesh

    mesh = trimesh.creation.cone(radius=radius, height=length, sections=20)
    mesh.apply_transform(trimesh.transformations.rotation_matrix(np.pi, [1, 0, 0]))
    return mesh.apply_translation(centre)


def _colour(rng, low=40, high=230):
    return tuple(int(c) for c in rng.integers(low, high, 3))


def car_parts(rng) -> list[tuple[str, tuple, object]]:
    """``(part, rgb, trimesh)`` of one car, front towards −Z."""
    length, width = rng.uniform(3.6, 5.0), rng.uniform(1.6, 2.0)
    body_h, cabin_h, r = rng.uniform(0.45, 0.7), rng.uniform(0.4, 0.6), rng.uniform(0.28, 0.4)
    cabin_len, cabin_back = length * rng.uniform(0.4, 0.55), rng.uniform(0.0, 0.12) * length
    y0 = r * 0.9
    parts = [("body", _colour(rng), _box([width, body_h, length], [0, y0 + body_h / 2, 0]))]
    cabin_z = cabin_back + (length - cabin_len) / 2 - length * 0.12
    parts.append(
        (
            "cabin",
            (40, 60, 110),
            _box([width * 0.85, cabin_h, cabin_len], [0, y0 + body_h + cabin_h / 2, cabin_z]),
        )
    )
    axle = length / 2 - r * 1.4
    for i, (sx, sz) in enumerate(((-1, -1), (1, -1), (-1, 1), (1, 1))):
        centre = [sx * (width / 2 - 0.1), r, sz * axle]
        parts.append((f"wheel{i}", (25, 25, 25), _cylinder(r, 0.25, "x", centre)))
    for name, colour, z in (
        ("headlight", (250, 230, 120), -length / 2),
        ("taillight", (200, 20, 20), length / 2),
    ):
        for sx in (-1, 1):
            centre = [sx * width * 0.32, y0 + body_h * 0.65, z]
            parts.append(
                (f"{name}{'LR'[sx > 0]}", colour, _box([width * 0.22, 0.12, 0.06], centre))
            )
    return parts


def airplane_parts(rng) -> list[tuple[str, tuple, object]]:
    """``(part, rgb, trimesh)`` of one aeroplane, nose towards −Z."""
    length, radius = rng.uniform(8.0, 12.0), rng.uniform(0.45, 0.75)
    span, chord = length * rng.uniform(0.7, 1.2), rng.uniform(1.2, 2.2)
    wing_y, sweep = radius * rng.uniform(-0.6, 0.3), rng.uniform(-0.3, 0.8)
    tail = rng.uniform(0.8, 1.4)
    body = _colour(rng, 150, 250)
    parts = [("fuselage", body, _cylinder(radius, length, "z", [0, 0, 0]))]
    parts.append(("nose", (60, 60, 70), _cone(radius, radius * 2.2, [0, 0, -length / 2])))
    wing_colour = _colour(rng)
    for sx in (-1, 1):
        centre = [sx * span / 4, wing_y, -length * 0.05 + sweep * 0.5]
        parts.append((f"wing{'LR'[sx > 0]}", wing_colour, _box([span / 2, 0.12, chord], centre)))
        stab = [sx * tail * 1.1, radius * 0.2, length / 2 - chord * 0.35]
        parts.append(
            (
                f"stabiliser{'LR'[sx > 0]}",
                (70, 140, 200),
                _box([tail * 2.0, 0.08, chord * 0.55], stab),
            )
        )
    fin = [0, radius + tail * 0.75, length / 2 - chord * 0.4]
    parts.append(("fin", (200, 40, 40), _box([0.1, tail * 1.5, chord * 0.7], fin)))
    return parts


def write_obj(folder: Path, parts, stem: str = "model_normalized") -> Path:
    """Write the parts as one OBJ (a ``usemtl`` group each) + MTL; centred, box diagonal 1."""
    verts = np.concatenate([np.asarray(m.vertices) for _, _, m in parts])
    lo, hi = verts.min(0), verts.max(0)
    centre, scale = (lo + hi) / 2, 1.0 / float(np.linalg.norm(hi - lo))
    obj = [f"# kpbench synthetic twin\nmtllib {stem}.mtl\n"]
    mtl, offset = [], 1
    for name, rgb, mesh in parts:
        v = (np.asarray(mesh.vertices) - centre) * scale
        obj.append(f"o {name}\nusemtl {name}\n")
        obj.append("".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v))
        obj.append("".join(f"f {a + offset} {b + offset} {c + offset}\n" for a, b, c in mesh.faces))
        offset += len(v)
        kd = " ".join(f"{c / 255:.4f}" for c in rgb)
        mtl.append(f"newmtl {name}\nKa 0 0 0\nKd {kd}\nKs 0 0 0\nd 1\nillum 1\n\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{stem}.mtl").write_text("".join(mtl))
    path = folder / f"{stem}.obj"
    path.write_text("".join(obj))
    return path


def _count(value, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"shapenet synth: {option}={value!r} must be a whole number >= 0")
    return value


def synthesize(out: Path, seed: int = 0, cars: int = 12, airplanes: int = 12) -> Path:
    """Write the twin into ``out`` (created) and return it.

    Raises:
        ConfigError: a count is not a whole number >= 0, or both are 0.
    """
    counts = {CAR: _count(cars, "cars"), AIRPLANE: _count(airplanes, "airplanes")}
    if not any(counts.values()):
        raise ConfigError("shapenet synth: cars=0 and airplanes=0 write nothing; ask for some")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    makers = {CAR: car_parts, AIRPLANE: airplane_parts}
    for synset, n in counts.items():
        for i in range(n):
            rng = np.random.default_rng([int(seed), int(synset), i])
            model_id = hashlib.md5(f"kpbench-{synset}-{seed}-{i}".encode()).hexdigest()
            write_obj(out / synset / model_id / "models", makers[synset](rng))
    taxonomy = [
        {"synsetId": s, "name": NAMES[s], "children": [], "numInstances": n}
        for s, n in counts.items() if n
    ]  # fmt: skip
    (out / "taxonomy.json").write_text(json.dumps(taxonomy, indent=1))
    (out / "README.txt").write_text(
        "kpbench synthetic ShapeNetCore v2 twin: procedural cars (02958343) and aeroplanes "
        f"(02691156), seed {seed}; +Y up, front -Z, box diagonal 1. Not ShapeNet data.\n"
    )
    return out
