"""COCO keypoints json files (``person_keypoints_*.json``) as labelled stills, checked field by
field: a malformed file raises :class:`~kpbench.errors.DataError` with one line naming the file,
the annotation or image, and the field."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kpbench.errors import DataError
from kpbench_plugins.video.labels import Stills, checked_points, image_size


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _coco_image(path: Path, file_name: str) -> Path | None:
    """Find a COCO image next to the json, in ``images/``, or in a sibling folder (``../val2017``)."""
    here, up = path.parent, path.parent.parent
    folders = [here, here / "images", up, up / "images"] + sorted(
        p for p in up.iterdir() if p.is_dir()
    )
    return next((d / file_name for d in folders if (d / file_name).is_file()), None)


def _load(path: Path) -> tuple[dict, list[str]]:
    """The json document and its keypoint category's names."""
    try:
        doc = json.loads(path.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (UnicodeDecodeError, RecursionError) as exc:
        raise DataError(f"{path}: not valid JSON ({type(exc).__name__})") from None
    cats = doc.get("categories") if isinstance(doc, dict) else None
    cats = cats if isinstance(cats, list) else []
    cat = next((c for c in cats if isinstance(c, dict) and c.get("keypoints")), None)
    if (
        cat is None
        or not isinstance(doc.get("images"), list)
        or not isinstance(doc.get("annotations"), list)
    ):
        raise DataError(
            f"{path}: not a COCO keypoints file (needs 'images', 'annotations' and a category with 'keypoints')"
        )
    if not isinstance(cat["keypoints"], list) or not all(
        isinstance(n, str) for n in cat["keypoints"]
    ):
        raise DataError(f"{path}: the category's 'keypoints' must be a list of names")
    bad = next((a for a in doc["annotations"] if not isinstance(a, dict)), None)
    bad = (
        bad
        if bad is not None
        else next((i for i in doc["images"] if not isinstance(i, dict)), None)
    )
    if bad is not None:
        raise DataError(f"{path}: an 'images' or 'annotations' entry is not an object: {bad!r:.60}")
    return doc, cat


def _image_size(path: Path, image: dict, file: Path) -> tuple[int, int]:
    """The image's ``(width, height)``: the json's, checked, else the file's header."""
    if "width" not in image or "height" not in image:
        return image_size(file)
    w, h = image["width"], image["height"]
    if not all(_is_number(v) and 0 < v < 1e6 and float(v).is_integer() for v in (w, h)):
        raise DataError(
            f"{path}: image {image['file_name']} has width {w!r}, height {h!r}; expected whole "
            "numbers of pixels > 0"
        )
    return int(w), int(h)


def read_coco(path: Path) -> Stills:
    """Person (or any category) keypoints of a COCO keypoints json: one still per annotation.

    Each row keeps COCO's own data: ``bbox`` as its box, the visibilities ``v`` (0 not labelled,
    1 labelled but occluded, 2 visible; ``v = 0`` points are NaN, ``v = 1`` points kept), the
    annotation's ``area``, its ``id`` and ``image_id``. Annotations with no labelled keypoint are
    left out; crowd annotations (``iscrowd = 1``) are left out and listed in ``ignored``: COCO's
    keypoint evaluation treats crowd regions as ignore regions, never as instances to predict. The
    skeleton is converted from COCO's 1-based to 0-based indices.

    Args:
        path: the json file.
    """
    doc, cat = _load(path)
    names = list(cat["keypoints"])
    k = len(names)
    try:
        skeleton = [(int(a) - 1, int(b) - 1) for a, b in cat.get("skeleton") or []]
        images = {repr(im["id"]): im for im in doc["images"]}
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        raise DataError(f"{path}: malformed 'skeleton' or 'images' entry ({exc!r:.80})") from None
    if any(not (0 <= i < k and 0 <= j < k) for i, j in skeleton):
        raise DataError(f"{path}: a skeleton edge names a keypoint outside 1..{k}")
    st = Stills(path, [], [], np.zeros((0, k, 2), np.float32), names, skeleton)
    rows = []
    anns = [a for a in doc["annotations"] if a.get("category_id", cat.get("id")) == cat.get("id")]
    image_of = lambda a: images.get(repr(a.get("image_id")))  # noqa: E731
    for ann in sorted(
        anns, key=lambda a: (str((image_of(a) or {}).get("file_name", "")), str(a.get("id")))
    ):
        arr = _keypoints(path, ann, names)
        if ann.get("iscrowd", 0):
            st.ignored.append(
                f"annotation {ann.get('id')} (image_id {ann.get('image_id')}) is a "
                "crowd region (iscrowd=1): COCO's evaluation ignores crowd regions"
            )
            continue
        if not (arr[:, 2] > 0).any():
            continue
        image = image_of(ann)
        if image is None or not isinstance(image.get("file_name"), str):
            raise DataError(
                f"{path}: annotation {ann.get('id')} refers to image_id {ann.get('image_id')!r:.40}, "
                "not an entry of 'images' with a 'file_name'"
            )
        file = _coco_image(path, image["file_name"])
        if file is None:
            st.skipped.append(
                (path.parent / str(image["file_name"]), f"listed in {path.name} but not found")
            )
            continue
        size = _image_size(path, image, file)
        xy = arr[:, :2].copy()
        xy[arr[:, 2] == 0] = np.nan
        xy = checked_points(path, xy[None], names, [f"annotation {ann.get('id')}"])[0]
        rows.append(xy)
        st.images.append(file)
        st.sizes.append(size)
        st.ids.append(ann.get("id"))
        st.visibility.append(np.where(np.isnan(xy).any(-1), 0, arr[:, 2]).astype(np.int64))
        st.boxes.append(_coco_number(path, ann, "bbox", (4,)))
        st.areas.append(_coco_number(path, ann, "area", ()))
        st.image_ids.append(ann.get("image_id"))
    if rows:
        st.keypoints = np.stack(rows).astype(np.float32)
    return st


def _keypoints(path: Path, ann: dict, names: list[str]) -> np.ndarray:
    """An annotation's ``(K, 3)`` ``x, y, v``, checked (numbers; ``v`` 0, 1 or 2)."""
    k, kps = len(names), ann.get("keypoints")
    if not isinstance(kps, list) or len(kps) != 3 * k:
        got = len(kps) if isinstance(kps, list) else type(kps).__name__
        raise DataError(
            f"{path}: annotation {ann.get('id')} has {got} keypoint numbers, expected {3 * k} (x, y, v × {k})"
        )
    if not all(_is_number(v) for v in kps):
        raise DataError(f"{path}: annotation {ann.get('id')} has non-numeric keypoints")
    arr = np.asarray(kps, np.float64).reshape(k, 3)
    bad = [i for i, v in enumerate(arr[:, 2]) if v not in (0, 1, 2)]
    if bad:
        raise DataError(
            f"{path}: annotation {ann.get('id')} keypoint {names[bad[0]]!r} has visibility "
            f"{arr[bad[0], 2]!r}; COCO's v is 0 (not labelled), 1 (occluded) or 2 (visible)"
        )
    return arr


def _coco_number(path: Path, ann: dict, key: str, shape: tuple):
    """An annotation's ``bbox`` (4 floats, w and h > 0) or ``area`` (a float > 0), or None where
    it is absent or not positive (then derived from the keypoints)."""
    value = ann.get(key)
    if value is None:
        return None
    flat = value if isinstance(value, list) else [value]
    try:
        if not all(_is_number(v) for v in flat):
            raise ValueError(key)
        arr = np.asarray(value, np.float64).reshape(shape)
    except (TypeError, ValueError):
        raise DataError(
            f"{path}: annotation {ann.get('id')} has a malformed {key!r} {value!r:.60} "
            f"({'[x, y, w, h]' if shape else 'a number'} expected)"
        ) from None
    size = arr[2:] if shape else arr
    if not np.isfinite(arr).all() or (size <= 0).any():
        return None
    return arr if shape else float(arr)
