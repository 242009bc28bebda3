"""Fuzzed OBJ meshes (issue #13): ``load_mesh`` returns finite triangles with in-range face
indices and one colour per face, or one ``MeshError`` line (the dataset lists the file as
skipped with it); never another exception. One mutation per example of a valid OBJ: a token
replaced by text, NaN/inf or a huge number, a face index out of range, a truncated file, NUL
or non-UTF-8 bytes, an empty file."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpbench_plugins.shapenet.mesh import MeshError, load_mesh

WEIRD = ["nan", "inf", "-inf", "1e999", "abc", "0", "-1", "99999999999", "1/2/3", "f", "v", ""]
MUTATIONS = ["token", "face_index", "truncate", "nul", "non_utf8", "empty", "none"]


def _obj(rng, n: int) -> str:
    verts = rng.uniform(-1, 1, (n, 3)).round(4)
    lines = [f"v {x} {y} {z}" for x, y, z in verts]
    lines += [f"f {i + 1} {i + 2} {i + 3}" for i in range(n - 2)]
    return "\n".join(lines) + "\n"


@st.composite
def files(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    text = _obj(rng, draw(st.integers(3, 6)))
    mutation = draw(st.sampled_from(MUTATIONS))
    tokens = text.split(" ")
    if mutation == "token":
        tokens[draw(st.integers(0, len(tokens) - 1))] = draw(st.sampled_from(WEIRD))
    elif mutation == "face_index":
        faces = [i for i, t in enumerate(tokens) if t == "f" or t.endswith("\nf")]
        tokens[faces[-1] + 1] = draw(st.sampled_from(["0", "-99", "1000", "1.5"]))
    raw = " ".join(tokens).encode()
    if mutation == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif mutation in ("nul", "non_utf8"):
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + (b"\x00\x00" if mutation == "nul" else b"\xff\xfe") + raw[at:]
    elif mutation == "empty":
        raw = b""
    return raw, mutation


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fuzzed_obj(tmp_path_factory, case):
    raw, mutation = case
    path = tmp_path_factory.mktemp("obj") / "model.obj"
    path.write_bytes(raw)
    try:
        mesh = load_mesh(path)
    except MeshError as exc:
        assert "\n" not in str(exc) and str(exc), str(exc)
        assert mutation != "none"
        return
    assert mutation not in ("nul", "empty"), mutation
    assert np.isfinite(mesh.vertices).all()
    assert mesh.faces.min() >= 0 and mesh.faces.max() < len(mesh.vertices)
    assert mesh.colours.shape == (len(mesh.faces), 3) and mesh.colours.dtype == np.uint8


def test_a_vertex_line_with_two_coordinates_is_one_line(tmp_path):
    path = tmp_path / "model.obj"
    path.write_text("v -0.46 -0.91\nv -0.96 0.62 0.82\nv 0.21 0.45 0.08\nf 1 2 3\n")
    with pytest.raises(MeshError, match=r"not \(V, 3\)"):
        load_mesh(path)
