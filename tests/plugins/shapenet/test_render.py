"""The renderer against analytic projections of a cube, and the cameras' geometry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import Delaunay

from kpbench_plugins.shapenet.camera import (
    camera_centre,
    hemisphere_poses,
    intrinsics,
    look_at,
    opengl_to_opencv,
)
from kpbench_plugins.shapenet.mesh import Mesh
from kpbench_plugins.shapenet.render import BACKGROUND, RayCaster


def unit_cube(colour=(200, 100, 50)) -> Mesh:
    """A cube of side 1 centred at the origin, 12 outward triangles."""
    import trimesh

    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    faces = np.asarray(box.faces)
    return Mesh(np.asarray(box.vertices, float), faces, np.tile(np.uint8(colour), (len(faces), 1)))


def analytic_mask(pose, K, size) -> np.ndarray:
    """Pixel centres inside the convex hull of the cube's 8 projected corners."""
    corners = np.array([(x, y, z) for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    cam = corners @ pose[:3, :3].T + pose[:3, 3]
    uv = (cam @ K.T)[:, :2] / cam[:, 2:]
    v, u = np.mgrid[0:size, 0:size]
    inside = Delaunay(uv).find_simplex(np.stack([u.ravel(), v.ravel()], 1)) >= 0
    return inside.reshape(size, size)


@pytest.mark.parametrize("eye", [(2.0, 1.5, 3.0), (-3.0, 2.5, -1.0), (0.5, 4.0, 0.3)])
def test_cube_mask_matches_its_projected_hull(eye):
    size, K = 96, intrinsics(96, 40.0)
    pose = look_at(np.array(eye))
    rgb, mask, depth = RayCaster(unit_cube()).render(pose, K, size)
    truth = analytic_mask(pose, K, size)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.97
    # every disagreeing pixel touches the hull's boundary (within 1 px)
    edge = truth ^ np.roll(truth, 1, 0) | truth ^ np.roll(truth, -1, 0)
    edge |= truth ^ np.roll(truth, 1, 1) | truth ^ np.roll(truth, -1, 1)
    assert not ((mask ^ truth) & ~edge).any()
    assert (rgb[~mask] == BACKGROUND).all() and (depth[~mask] == 0).all()
    # a hit pixel is the face colour times a shade in [ambient, 1]
    assert (rgb[mask][:, 0] <= 200).all() and (rgb[mask][:, 0] >= 0.35 * 200 - 1).all()


def test_cube_front_face_depth_and_shading():
    size, K = 64, intrinsics(64, 30.0)
    pose = look_at(np.array([0.0, 0.0, 5.0]))  # straight at the +z face, 4.5 away
    rgb, mask, depth = RayCaster(unit_cube()).render(pose, K, size)
    truth = analytic_mask(pose, K, size)
    assert (mask == truth).mean() > 0.99
    np.testing.assert_allclose(depth[mask], 4.5, atol=1e-4)
    # the centre ray hits the face head-on: full Lambertian shade, the face colour itself
    np.testing.assert_array_equal(rgb[size // 2, size // 2], [200, 100, 50])
    # a pixel of the face at the image centre: the back-projected point lies on z = 0.5
    u, v = 40, 25
    ray = np.linalg.inv(K) @ [u, v, 1.0]
    point = camera_centre(pose) + pose[:3, :3].T @ (ray * depth[v, u])
    assert abs(point[2] - 0.5) < 1e-4 and abs(point[0]) <= 0.5 and abs(point[1]) <= 0.5


def test_intrinsics_follow_the_field_of_view():
    K = intrinsics(128, 5.0)
    assert K[0, 0] == K[1, 1] == pytest.approx(64 / np.tan(np.radians(2.5)))
    assert K[0, 2] == K[1, 2] == 63.5
    # a point at the image's left edge (x = -0.5 px) is half the FOV off-axis
    assert np.degrees(np.arctan((K[0, 2] + 0.5) / K[0, 0])) == pytest.approx(2.5)


def test_hemisphere_poses_look_at_the_origin_from_above():
    poses = hemisphere_poses(200, 30.0, np.random.default_rng(3), min_elevation_deg=10.0)
    for pose in poses:
        rot, c = pose[:3, :3], camera_centre(pose)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0)
        assert np.linalg.norm(c) == pytest.approx(30.0)
        assert c[1] >= 30.0 * np.sin(np.radians(10.0)) - 1e-9  # upper hemisphere, y up
        # the origin is straight ahead (camera z), 30 away: it projects to the image centre
        np.testing.assert_allclose(pose[:3, 3], [0.0, 0.0, 30.0], atol=1e-9)
        # OpenCV: image y (down) points against world up
        assert rot[1] @ [0.0, 1.0, 0.0] <= 1e-9
    elev = np.degrees(np.arcsin(np.array([camera_centre(p)[1] for p in poses]) / 30.0))
    assert elev.min() >= 10.0 - 1e-9 and elev.max() > 60.0


def test_look_at_straight_down_is_still_a_rotation():
    pose = look_at(np.array([0.0, 10.0, 0.0]))
    np.testing.assert_allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(pose[2, :3], [0.0, -1.0, 0.0])


def test_opengl_pose_becomes_opencv():
    gl = np.eye(4)
    gl[2, 3] = -30.0  # an OpenGL camera 30 units in front of the origin (it looks down -z)
    cv = opengl_to_opencv(gl)
    np.testing.assert_allclose(cv @ [0, 0, 0, 1], [0, 0, 30, 1])  # in front: +z in OpenCV
    np.testing.assert_allclose(cv @ [0, 1, 0, 1], [0, -1, 30, 1])  # world up is image up
