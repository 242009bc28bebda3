"""Render views of a mesh on the CPU, headless: trimesh's ray caster on Intel Embree (embreex).

One ray per pixel centre (``K⁻¹ [u, v, 1]``, integer ``u, v``), first hit only. Per view:

* **mask**: the ray hit the mesh;
* **depth**: the hit's camera ``z`` (world units), 0 where nothing was hit;
* **RGB**: the hit face's colour × ``(AMBIENT + (1 − AMBIENT) · |n · d|)``: Lambertian with one
  light at the camera (``d`` the ray, ``n`` the face normal, two-sided because ShapeNet's
  shells have inconsistent normals); background :data:`BACKGROUND`.

Without embreex trimesh's pure-Python ray tracer is used (same images, far slower; it needs
``rtree``); the render notes say which engine ran.
"""

from __future__ import annotations

import numpy as np

from .mesh import Mesh

#: Bump when the images this module makes change: it is part of the cache key.
RENDERER_VERSION = "embree-raycast-1"
AMBIENT = 0.35
BACKGROUND = (0, 0, 0)


def pixel_rays(pose: np.ndarray, K: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """World ray origins and unit directions, (size², 3) each, row-major over pixels."""
    v, u = np.mgrid[0:size, 0:size]
    pix = np.stack([u.ravel(), v.ravel(), np.ones(size * size)], axis=1).astype(np.float64)
    d_cam = pix @ np.linalg.inv(K).T
    rot = pose[:3, :3]
    dirs = d_cam @ rot  # R^T d for each row
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    centre = -rot.T @ pose[:3, 3]
    return np.broadcast_to(centre, dirs.shape).copy(), dirs


class RayCaster:
    """Renders one mesh from many cameras (the acceleration structure is built once)."""

    def __init__(self, mesh: Mesh, engine: str = "auto"):
        """``engine``: ``"embree"``, ``"python"`` (trimesh's own), or ``"auto"`` (embree if
        it imports, else python)."""
        import trimesh

        self.mesh = mesh
        tm = trimesh.Trimesh(mesh.vertices, mesh.faces, process=False)
        self.normals = np.asarray(tm.face_normals, np.float64)
        if engine in ("auto", "embree"):
            try:
                from trimesh.ray.ray_pyembree import RayMeshIntersector

                self.intersector, self.engine = RayMeshIntersector(tm), "embree"
                return
            except Exception:  # embreex missing on this platform
                if engine == "embree":
                    raise
        try:
            import rtree  # noqa: F401  (trimesh's own intersector needs it)
        except ImportError:
            from kpbench.errors import PluginError

            raise PluginError(
                "shapenet: no ray-casting engine: embreex does not import here; "
                "pip install embreex (fast), or rtree for trimesh's pure-Python caster (slow)"
            ) from None
        from trimesh.ray.ray_triangle import RayMeshIntersector

        self.intersector, self.engine = RayMeshIntersector(tm), "trimesh (pure Python)"

    def render(self, pose: np.ndarray, K: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
        """``(rgb (H, W, 3) uint8, mask (H, W) bool, depth (H, W) float32)`` of one view."""
        origins, dirs = pixel_rays(pose, K, size)
        locations, rays, tris = self.intersector.intersects_location(
            origins, dirs, multiple_hits=False
        )
        n = size * size
        mask = np.zeros(n, bool)
        depth = np.zeros(n, np.float32)
        rgb = np.empty((n, 3), np.uint8)
        rgb[:] = BACKGROUND
        if len(rays):
            mask[rays] = True
            cam = (locations - origins[rays]) @ pose[:3, :3].T
            depth[rays] = cam[:, 2]
            lambert = np.abs(np.einsum("ij,ij->i", self.normals[tris], dirs[rays]))
            shade = AMBIENT + (1.0 - AMBIENT) * lambert
            colour = self.mesh.colours[tris].astype(np.float64) * shade[:, None]
            rgb[rays] = np.clip(np.round(colour), 0, 255).astype(np.uint8)
        shape = (size, size)
        return rgb.reshape(*shape, 3), mask.reshape(shape), depth.reshape(shape)

    def render_many(self, poses: np.ndarray, K: np.ndarray, size: int) -> dict[str, np.ndarray]:
        """``rgb`` (V, H, W, 3) uint8, ``mask`` (V, H, W) bool, ``depth`` (V, H, W) float32."""
        views = [self.render(p, K, size) for p in poses]
        return {
            "rgb": np.stack([v[0] for v in views]),
            "mask": np.stack([v[1] for v in views]),
            "depth": np.stack([v[2] for v in views]),
        }
