"""Read one OBJ (+ its MTL) into triangles with one RGB colour per face, with trimesh.

Colours: per geometry of the OBJ (one per material), the material's diffuse / main colour
(``Kd`` of the MTL); explicit face or vertex colours where the file has them; otherwise
:data:`DEFAULT_COLOUR`. Textures are not sampled: a textured material gives its main colour.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Colour of faces with no material or colour (a light grey), RGB 0-255.
DEFAULT_COLOUR = (180, 180, 180)


class MeshError(Exception):
    """The file is not a readable triangle mesh; the message says why (one line)."""


@dataclass
class Mesh:
    """Triangles: ``vertices`` (V, 3) float64, ``faces`` (F, 3) int, ``colours`` (F, 3) uint8."""

    vertices: np.ndarray
    faces: np.ndarray
    colours: np.ndarray

    def transformed(self, matrix: np.ndarray) -> Mesh:
        """The mesh with ``vertices`` mapped by the 4×4 ``matrix`` (column vectors)."""
        v = self.vertices @ matrix[:3, :3].T + matrix[:3, 3]
        return Mesh(v, self.faces, self.colours)


def _colour_of(geometry) -> np.ndarray:
    """(F, 3) uint8 colours of one trimesh geometry's faces."""
    visual = geometry.visual
    n = len(geometry.faces)
    kind = getattr(visual, "kind", None)
    if kind == "texture":
        material = getattr(visual, "material", None)
        colour = getattr(material, "main_color", None) if material is not None else None
        if colour is not None:
            return np.tile(np.asarray(colour, np.uint8)[:3], (n, 1))
    elif kind in ("face", "vertex"):
        return np.asarray(visual.face_colors, np.uint8)[:, :3]
    return np.tile(np.asarray(DEFAULT_COLOUR, np.uint8), (n, 1))


def load_mesh(path: Path) -> Mesh:
    """The triangles and face colours of an OBJ (any format trimesh reads).

    Raises:
        MeshError: the file is binary garbage, unparsable, or holds no triangle of non-zero area.
    """
    import trimesh

    path = Path(path)
    try:
        head = path.read_bytes()[:65536]
    except OSError as exc:
        raise MeshError(f"cannot read ({exc.strerror})") from None
    if path.suffix.lower() == ".obj" and b"\x00" in head:
        raise MeshError("not a text OBJ (binary bytes in it): damaged")
    try:
        scene = trimesh.load(path, force="scene", process=False)
    except Exception as exc:  # trimesh raises many types on bad files
        raise MeshError(f"trimesh cannot parse it ({type(exc).__name__}: {exc})") from None
    verts, faces, colours, offset = [], [], [], 0
    for node in scene.graph.nodes_geometry:
        transform, name = scene.graph[node]
        geometry = scene.geometry.get(name)
        if not isinstance(geometry, trimesh.Trimesh) or not len(geometry.faces):
            continue
        v = np.asarray(geometry.vertices, np.float64)
        if v.ndim != 2 or v.shape[1] != 3:
            raise MeshError(
                f"vertices of shape {v.shape}, not (V, 3): a 'v' line lacks a coordinate"
            )
        with np.errstate(invalid="ignore", over="ignore"):  # NaN/inf are refused below
            v = v @ transform[:3, :3].T + transform[:3, 3]
        verts.append(v)
        faces.append(np.asarray(geometry.faces, np.int64) + offset)
        colours.append(_colour_of(geometry))
        offset += len(v)
    if not faces:
        raise MeshError("no triangles in it (empty or truncated)")
    mesh = Mesh(np.concatenate(verts), np.concatenate(faces), np.concatenate(colours))
    if not np.isfinite(mesh.vertices).all():
        raise MeshError("NaN or infinite vertex coordinates")
    tri = mesh.vertices[mesh.faces]
    area = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    if not (area > 0).any():
        raise MeshError("every triangle has zero area")
    return mesh
