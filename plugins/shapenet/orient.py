"""Normalise a mesh: canonical axes, bounding box centred at the origin, longest side 1.

**Canonical frame** (ShapeNetCore v2's own, shapenet.org: "up is +Y, front is −Z"): the
object's up is world **+Y**, its front faces **−Z**, and its right-hand side is **+X** (like
an OpenGL camera looking down −Z); ShapeNet's bilateral symmetry plane is Y-Z.

**Rule**, in order:

1. *Axes.* ``up_axis`` / ``forward_axis`` name the file's axes that point up and to the front
   (``+x``, ``-x``, ``+y``, ``-y``, ``+z``, ``-z``). ``auto`` (the default) means ShapeNet's
   own convention (``+y`` / ``-z``) for a folder with ShapeNet's ``taxonomy.json``, and
   ``infer`` otherwise; ``infer`` guesses from the geometry:

   * **up** = the axis of the smallest bounding-box extent (a car's height is below its width
     and length; an aeroplane's below its span and length). Its sign: the end whose outer 20 %
     slab has the *smaller* 2D convex-hull area (seen along the axis) is the top: a car's
     wheels make its bottom slab span the whole footprint, a roof is smaller; an aeroplane's
     tail fin tip is small.
   * **forward** = of the two other axes, the one *not* across the bilateral mirror plane: the
     mesh reflected across each candidate plane (through the box centre) is compared with
     itself (mean nearest-neighbour distance of surface samples); the better mirror axis is
     left-right, the other is front-back. Its sign: the roof / fin (the top 20 % slab) sits
     behind the middle, so the front is the end away from the top slab's centroid.

   Limits: objects taller than wide (chairs, lamps, bottles) get the wrong up axis from the
   smallest extent, and front/back is a guess for shapes near front-back symmetric (vans,
   boxes). Use ``infer`` on cars and aeroplanes; pass the axes for anything else.
2. *Centre*: the bounding box's centre goes to the origin (after the rotation).
3. *Scale*: the longest side of the bounding box becomes **1** (KeypointNet renders the
   object at max dimension 2: the renderer's ``object_size`` scales it again).
"""

from __future__ import annotations

import numpy as np

from kpbench.errors import ConfigError

from .mesh import Mesh

AXES = {"+x": (0, 1.0), "-x": (0, -1.0), "+y": (1, 1.0), "-y": (1, -1.0),
        "+z": (2, 1.0), "-z": (2, -1.0)}  # fmt: skip
CHOICES = ("auto", "infer", *AXES)
SHAPENET_UP, SHAPENET_FORWARD = "+y", "-z"
SLAB = 0.2


def axis_vector(name: str) -> np.ndarray:
    axis, sign = AXES[name]
    v = np.zeros(3)
    v[axis] = sign
    return v


def check_axis(value, option: str) -> str:
    text = str(value).strip().lower()
    if text not in CHOICES:
        raise ConfigError(
            f"shapenet: data.{option}={value!r} must be one of {', '.join(CHOICES)} "
            "(the mesh file's axis pointing up / to the front; auto = ShapeNet's +y / -z with a "
            "taxonomy.json, else inferred)"
        )
    return text


def _hull_area(points2d: np.ndarray) -> float:
    from scipy.spatial import ConvexHull, QhullError

    if len(points2d) < 3:
        return 0.0
    try:
        return float(ConvexHull(points2d).volume)  # in 2D, volume is the area
    except (QhullError, ValueError):
        return 0.0


def _slabs(points: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Points in the lowest and highest ``SLAB`` fraction of the box along ``axis``."""
    lo, hi = points[:, axis].min(), points[:, axis].max()
    span = hi - lo
    return points[points[:, axis] <= lo + SLAB * span], points[points[:, axis] >= hi - SLAB * span]


def _samples(mesh: Mesh, n: int = 4000) -> np.ndarray:
    """Area-weighted surface samples (deterministic) plus the vertices."""
    tri = mesh.vertices[mesh.faces]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(tri), size=n, p=area / area.sum())
    r = rng.random((n, 2))
    flip = r.sum(1) > 1
    r[flip] = 1 - r[flip]
    t = tri[pick]
    pts = t[:, 0] + r[:, :1] * (t[:, 1] - t[:, 0]) + r[:, 1:] * (t[:, 2] - t[:, 0])
    return np.concatenate([pts, mesh.vertices])


def _mirror_error(points: np.ndarray, axis: int, centre: float, scale: float) -> float:
    from scipy.spatial import cKDTree

    mirrored = points.copy()
    mirrored[:, axis] = 2 * centre - mirrored[:, axis]
    dist, _ = cKDTree(points).query(mirrored)
    return float(dist.mean() / scale)


def infer_axes(mesh: Mesh) -> tuple[str, str]:
    """``(up, forward)`` axis names of the mesh file by the ``infer`` rule."""
    pts = _samples(mesh)
    lo, hi = pts.min(0), pts.max(0)
    extent = hi - lo
    up = int(np.argmin(extent))
    flat = [a for a in range(3) if a != up]
    bottom, top = _slabs(pts, up)
    up_sign = 1.0 if _hull_area(top[:, flat]) <= _hull_area(bottom[:, flat]) else -1.0
    centre = (lo + hi) / 2
    errors = {a: _mirror_error(pts, a, centre[a], extent.max()) for a in flat}
    lateral = min(flat, key=lambda a: (errors[a], -extent[a]))
    forward = next(a for a in flat if a != lateral)
    top_slab = top if up_sign > 0 else bottom
    behind = top_slab[:, forward].mean() - centre[forward]
    fwd_sign = -1.0 if behind > 0 else 1.0
    names = "xyz"
    return (
        f"{'+' if up_sign > 0 else '-'}{names[up]}",
        f"{'+' if fwd_sign > 0 else '-'}{names[forward]}",
    )


def rotation(up: str, forward: str) -> np.ndarray:
    """3×3 rotation taking the file's ``up`` to +Y and ``forward`` to −Z."""
    u, f = axis_vector(up), axis_vector(forward)
    if abs(u @ f) > 0.5:
        raise ConfigError(
            f"shapenet: up_axis={up} and forward_axis={forward} are the same axis; name two "
            "different axes"
        )
    x = np.cross(u, -f)
    return np.stack([x, u, -f])


def resolve_axes(mesh: Mesh, up: str, forward: str, shapenet_release: bool) -> tuple[str, str]:
    """The file's up and forward axes for options ``up`` / ``forward`` (see the module rule)."""
    up = (SHAPENET_UP if shapenet_release else "infer") if up == "auto" else up
    forward = (SHAPENET_FORWARD if shapenet_release else "infer") if forward == "auto" else forward
    if "infer" in (up, forward):
        up_i, fwd_i = infer_axes(mesh)
        up = up_i if up == "infer" else up
        if forward == "infer":
            forward = fwd_i if axis_vector(fwd_i) @ axis_vector(up) == 0 else _other(mesh, up)
    return up, forward


def _other(mesh: Mesh, up: str) -> str:
    """With a given up axis: the longer of the two other axes, pointing to −(its name)."""
    extent = np.ptp(mesh.vertices, axis=0)
    flat = [a for a in range(3) if a != AXES[up][0]]
    return "+" + "xyz"[max(flat, key=lambda a: extent[a])]


def normalising_transform(mesh: Mesh, up: str, forward: str) -> np.ndarray:
    """4×4 (column vectors): rotate to the canonical frame, centre the box, longest side 1."""
    rot = rotation(up, forward)
    v = mesh.vertices @ rot.T
    lo, hi = v.min(0), v.max(0)
    scale = 1.0 / float((hi - lo).max())
    out = np.eye(4)
    out[:3, :3] = rot * scale
    out[:3, 3] = -(lo + hi) / 2 * scale
    return out
