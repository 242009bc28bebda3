"""KeypointNet's released view pairs: TFRecord files of ``tf.Example``s, read without TensorFlow.

Format (tensorflow/models ``research/keypointnet``: ``tools/gen_tfrecords.py`` writes it,
``main.py``'s parser reads it): each example is one view pair with

* ``img0``, ``img1``: PNG bytes, RGBA 128×128; alpha > 0 is the object's silhouette;
* ``mv0``, ``mv1``: 16 floats, the world → camera (model-view) matrix of each view, OpenGL
  camera axes (x right, y up, z backward: the camera looks down −z, the object at z ≈ −30).
  Reshaped row-major to 4×4 it acts on column vectors (``main.py`` transposes it to use row
  vectors, ``X_row · Mᵀ``); ``mvi0``, ``mvi1`` are the inverses.

A category folder also holds ``projection.txt`` (the global 4×4 OpenGL projection ``P``,
16 numbers; the focal length in NDC is ``P[0][0]``) and ``test.txt`` / ``dev.txt`` (tfrecord
file stems of the test and validation sets; ``main.py`` trains on every other file).

Here (the :mod:`tfrecord` package parses the protos; it needs neither TensorFlow nor its
protobuf build): poses become OpenCV's, ``pose = diag(1, −1, −1, 1) @ reshape(mv, 4, 4)``;
the intrinsics are ``f = P[0][0] · W / 2`` px and the centre ``((W − 1) / 2, (H − 1) / 2)``;
the mask is ``alpha > 0`` and the image its RGB.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np

from .camera import GL_TO_CV, intrinsics

FEATURES = ("img0", "img1", "mv0", "mvi0", "mv1", "mvi1")
#: KeypointNet's field of view in degrees, used when a folder has no ``projection.txt``.
DEFAULT_FOV = 5.0


class RecordError(Exception):
    """A record or file does not have KeypointNet's form (one line, says what)."""


def count_records(path: Path) -> int:
    """The number of records of a TFRecord file (framing only, no proto parsing)."""
    from tfrecord.reader import tfrecord_iterator

    try:
        return sum(1 for _ in tfrecord_iterator(str(path)))
    except Exception as exc:  # a truncated or foreign file
        raise RecordError(f"not a TFRecord file ({type(exc).__name__}: {exc})") from None


def read_examples(path: Path) -> list[dict]:
    """Every example of a TFRecord file: ``{feature: bytes | float32 array}``."""
    from tfrecord.reader import example_loader

    try:
        return list(example_loader(str(path), None, description=list(FEATURES)))
    except Exception as exc:
        raise RecordError(f"cannot parse its tf.Examples ({type(exc).__name__}: {exc})") from None


def focal_from_projection(path: Path, size: int) -> np.ndarray:
    """Intrinsics from a ``projection.txt`` (16 numbers, P[0][0] the NDC focal length)."""
    numbers = [float(x) for x in re.findall(r"[-+]?\d*\.?\d+(?:[eE][-+]?\d+)?", path.read_text())]
    if len(numbers) != 16 or numbers[0] <= 0:
        raise RecordError(f"{path} does not hold a 4×4 projection matrix (16 numbers, P[0][0] > 0)")
    f = numbers[0] * size / 2.0
    c = (size - 1) / 2.0
    return np.array([[f, 0.0, c], [0.0, f, c], [0.0, 0.0, 1.0]])


def folder_intrinsics(folder: Path, size: int = 128) -> tuple[np.ndarray, str]:
    """The folder's intrinsics and where they come from."""
    proj = folder / "projection.txt"
    if proj.is_file():
        return focal_from_projection(proj, size), str(proj)
    return intrinsics(size, DEFAULT_FOV), f"no projection.txt: KeypointNet's {DEFAULT_FOV}° FOV"


def _image(data, key: str) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    try:
        img = np.asarray(Image.open(io.BytesIO(bytes(data))).convert("RGBA"))
    except Exception as exc:
        raise RecordError(f"{key} is not a PNG ({type(exc).__name__})") from None
    return np.ascontiguousarray(img[..., :3]), img[..., 3] > 0


def _pose(values, key: str) -> np.ndarray:
    arr = np.asarray(values, np.float64)
    if arr.shape != (16,) or not np.isfinite(arr).all():
        raise RecordError(f"{key} is not 16 finite floats (shape {arr.shape})")
    return GL_TO_CV @ arr.reshape(4, 4)


def decode_pair(example: dict, K: np.ndarray) -> dict:
    """One example as a ``multiview3d`` pair (OpenCV poses; no object id or category)."""
    missing = [k for k in ("img0", "img1", "mv0", "mv1") if k not in example]
    if missing:
        raise RecordError(f"the example has no {', '.join(missing)}")
    (rgb_a, mask_a), (rgb_b, mask_b) = (
        _image(example["img0"], "img0"),
        _image(example["img1"], "img1"),
    )
    pose_a, pose_b = _pose(example["mv0"], "mv0"), _pose(example["mv1"], "mv1")
    return {
        "image_a": rgb_a, "image_b": rgb_b, "mask_a": mask_a, "mask_b": mask_b,
        "intrinsics": K, "pose_a": pose_a, "pose_b": pose_b,
        "relative": pose_b @ np.linalg.inv(pose_a),
    }  # fmt: skip


def encode_pair(rgba_a, rgba_b, pose_gl_a, pose_gl_b) -> dict:
    """The ``tfrecord`` writer's datum of one pair (the inverse of :func:`decode_pair`)."""
    from PIL import Image

    def png(rgba) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(np.asarray(rgba, np.uint8), "RGBA").save(buf, format="PNG")
        return buf.getvalue()

    def floats(m) -> list[float]:
        return [float(x) for x in np.asarray(m, np.float64).reshape(16)]

    return {
        "img0": (png(rgba_a), "byte"), "img1": (png(rgba_b), "byte"),
        "mv0": (floats(pose_gl_a), "float"), "mvi0": (floats(np.linalg.inv(pose_gl_a)), "float"),
        "mv1": (floats(pose_gl_b), "float"), "mvi1": (floats(np.linalg.inv(pose_gl_b)), "float"),
    }  # fmt: skip
