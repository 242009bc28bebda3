"""The normalisation rule on the twin (known axes) and on the real vehicle meshes."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench_plugins.shapenet.layout import find_models
from kpbench_plugins.shapenet.mesh import load_mesh
from kpbench_plugins.shapenet.orient import (
    infer_axes,
    normalising_transform,
    resolve_axes,
    rotation,
)


def _normalised(mesh, up, forward):
    out = mesh.transformed(normalising_transform(mesh, up, forward)).vertices
    return out.min(0), out.max(0)


def test_rotation_maps_the_named_axes_to_y_up_and_minus_z_front():
    for up, fwd in (("+z", "+y"), ("-x", "+z"), ("+y", "-z"), ("+y", "-x")):
        r = rotation(up, fwd)
        assert np.linalg.det(r) == pytest.approx(1.0)
        axis = {"x": 0, "y": 1, "z": 2}
        u, f = np.zeros(3), np.zeros(3)
        u[axis[up[1]]], f[axis[fwd[1]]] = float(up[0] + "1"), float(fwd[0] + "1")
        np.testing.assert_allclose(r @ u, [0, 1, 0])
        np.testing.assert_allclose(r @ f, [0, 0, -1])
    np.testing.assert_allclose(rotation("+y", "-z"), np.eye(3))


def test_inference_recovers_the_twins_axes_under_any_rotation(twin):
    """The twin is written +Y up, front -Z; turned to other axes, the rule finds them back."""
    models, _ = find_models(twin)
    turns = {("+z", "+y"): rotation("+z", "+y").T, ("-x", "+z"): rotation("-x", "+z").T}
    for m in models:
        mesh = load_mesh(m.path)
        assert infer_axes(mesh) == ("+y", "-z"), m.key
        for expected, turn in turns.items():
            moved = mesh.transformed(np.block([[turn, np.zeros((3, 1))], [np.zeros(3), 1]]))
            assert infer_axes(moved) == expected, (m.key, expected)


def test_taxonomy_means_shapenet_convention_without_inference(twin):
    mesh = load_mesh(find_models(twin)[0][0].path)
    assert resolve_axes(mesh, "auto", "auto", shapenet_release=True) == ("+y", "-z")
    assert resolve_axes(mesh, "+z", "auto", shapenet_release=True) == ("+z", "-z")


def test_normalised_box_is_centred_with_longest_side_one(twin):
    mesh = load_mesh(find_models(twin)[0][0].path)
    lo, hi = _normalised(mesh, "+y", "-z")
    np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-12)
    assert (hi - lo).max() == pytest.approx(1.0)


def test_real_cars_come_out_long_along_forward_and_upright(vehicles):
    models, found = find_models(vehicles)
    cars = [m for m in models if m.synset == "02958343"]
    assert found["02958343"] == "car" and len(cars) == 8
    for m in cars:
        mesh = load_mesh(m.path)
        up, forward = resolve_axes(mesh, "auto", "auto", shapenet_release=False)
        # SOURCE.md (measured): the cars' length is along Y, Z up, wheels at z ~ 0
        assert up == "+z" and forward[1] == "y", m.model_id
        lo, hi = _normalised(mesh, up, forward)
        extent = hi - lo
        assert extent[2] == pytest.approx(1.0)  # longest along forward (-Z)
        assert extent[1] < extent[0] < extent[2]  # height < width < length
        np.testing.assert_allclose((lo + hi) / 2, 0, atol=1e-9)
        # the wheels are down: the bottom 20 % of the box spans more of the footprint than the top
        v = mesh.transformed(normalising_transform(mesh, up, forward)).vertices
        low, high = v[v[:, 1] < lo[1] + 0.2 * extent[1]], v[v[:, 1] > hi[1] - 0.2 * extent[1]]
        assert np.ptp(low[:, 2]) > np.ptp(high[:, 2])


def test_real_aeroplanes_fuselage_axis(vehicles):
    """SOURCE.md: the Quaternius fuselages lie along X (commercial) or Z (the others)."""
    models, _ = find_models(vehicles)
    planes = {m.model_id: m for m in models if m.synset == "02691156"}
    assert len(planes) == 6
    expected = {"quaternius_airplane_commercial_airplane": "x"}
    for name, m in planes.items():
        up, forward = infer_axes(load_mesh(m.path))
        if name.startswith("quaternius"):
            assert up[1] == "y" and forward[1] == expected.get(name, "z"), name
        else:  # odedstein_plane: Z up (z >= 0), fuselage and wings in the XY plane
            assert up == "+z"
