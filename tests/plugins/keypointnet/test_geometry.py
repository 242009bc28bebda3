"""KeypointNet's geometry: spatial softmax, NDC ↔ OpenCV pixels, the Procrustes fit and its
gradient (finite where torch's SVD gradient is not, equal to it where both are defined)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from kpbench_plugins.keypointnet.geometry import (
    SafeSVD,
    angular_distance,
    camera_ndc,
    procrustes,
    project,
    transform,
    unproject,
)
from kpbench_plugins.keypointnet.model import spatial_softmax


def test_spatial_softmax_of_a_one_hot_map_is_its_pixel_centre():
    logits = torch.full((1, 2, 8, 6), -1e4)
    logits[0, 0, 5, 1] = 0.0  # row 5, column 1
    logits[0, 1, 0, 5] = 0.0
    prob, uv = spatial_softmax(logits)
    # NDC x = (j + ½)/(W/2) − 1, y = (i + ½)/(H/2) − 1 (y down)
    np.testing.assert_allclose(
        uv[0].numpy(), [[1.5 / 3 - 1, 5.5 / 4 - 1], [5.5 / 3 - 1, 0.5 / 4 - 1]], atol=1e-6
    )
    assert torch.allclose(prob.sum((2, 3)), torch.ones(1, 2))


def test_ndc_camera_matches_opencv_projection_with_the_intrinsics():
    k = np.array([[300.0, 0, 61.5], [0, 280.0, 40.2], [0, 0, 1]])
    w, h = 128, 96
    cam = torch.tensor(camera_ndc(k, (w, h)))[None]
    pts = torch.tensor([[[0.3, -0.2, 29.0], [-1.0, 0.5, 31.0]]], dtype=torch.float64)
    ndc = project(pts, cam, eps=0.0)
    px = (pts[0] @ torch.tensor(k).T)[:, :2] / pts[0, :, 2:]
    # NDC → pixels of the W × H view: u = (x + 1)·W/2 − ½
    got = (ndc[0] + 1) * torch.tensor([w / 2, h / 2], dtype=torch.float64) - 0.5
    np.testing.assert_allclose(got.numpy(), px.numpy(), atol=1e-9)
    np.testing.assert_allclose(unproject(ndc, pts[..., 2], cam).numpy(), pts.numpy(), atol=1e-9)


def test_procrustes_recovers_a_known_rotation_from_noiseless_points():
    rots = torch.tensor(Rotation.random(5, random_state=0).as_matrix())
    a = torch.randn(5, 10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rel = torch.eye(4, dtype=torch.float64).repeat(5, 1, 1)
    rel[:, :3, :3], rel[:, :3, 3] = rots, torch.tensor([1.0, -2.0, 30.0])
    b = transform(rel, a)
    np.testing.assert_allclose(procrustes(a, b).numpy(), rots.numpy(), atol=1e-9)
    assert float(angular_distance(procrustes(a, b), rots).max()) < 1e-4
    # the det-sign fix: a mirror image still gives a proper rotation
    mirrored = procrustes(a, a * torch.tensor([-1.0, 1, 1], dtype=torch.float64))
    np.testing.assert_allclose(torch.linalg.det(mirrored).numpy(), 1.0, atol=1e-9)


@pytest.mark.parametrize("case", ["all_equal", "collinear", "coplanar_square", "identical_views"])
def test_pose_gradient_is_finite_on_degenerate_keypoints(case):
    k = 10
    if case == "all_equal":
        a = torch.ones(2, k, 3) * torch.tensor([0.1, 0.2, 30.0])
    elif case == "collinear":
        a = torch.linspace(0, 1, k)[None, :, None] * torch.tensor([1.0, 2.0, 0.5]) + 30.0
        a = a.repeat(2, 1, 1)
    elif case == "coplanar_square":  # two equal singular values
        t = torch.arange(k) * 2 * np.pi / k
        a = torch.stack([torch.cos(t), torch.sin(t), torch.zeros(k)], -1)[None].repeat(2, 1, 1)
    else:
        a = torch.randn(2, k, 3, generator=torch.Generator().manual_seed(1))
    a = a.clone().requires_grad_(True)
    b = a.detach().clone().requires_grad_(True) if case != "identical_views" else a
    truth = torch.tensor(Rotation.random(2, random_state=1).as_matrix(), dtype=torch.float32)
    loss = angular_distance(procrustes(a, b), truth).mean()
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()
    if b is not a:
        assert torch.isfinite(b.grad).all()


def test_safe_svd_gradient_equals_torchs_on_well_separated_singular_values():
    g = torch.Generator().manual_seed(2)
    a = torch.randn(4, 3, 3, dtype=torch.float64, generator=g) @ torch.diag(
        torch.tensor([3.0, 1.5, 0.5], dtype=torch.float64)
    )
    w = torch.randn(4, 3, 3, dtype=torch.float64, generator=g)
    x1 = a.clone().requires_grad_(True)
    u, s, v = SafeSVD.apply(x1)
    ((v @ u.transpose(1, 2)) * w).sum().add(s.sum()).backward()
    x2 = a.clone().requires_grad_(True)
    u2, s2, vh2 = torch.linalg.svd(x2)
    ((vh2.transpose(1, 2) @ u2.transpose(1, 2)) * w).sum().add(s2.sum()).backward()
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-5, atol=1e-8)
