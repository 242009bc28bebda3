"""Fuzzed inputs for the ``video`` loader's readers (issue #13): DeepLabCut CSV/H5, COCO JSON,
SLEAP ``.slp``, phase CSVs and video files, cut short, mangled, with NaN/inf, wrong types,
huge sizes, empty sequences and non-UTF-8 names.

The property, for every input: building the dataset either succeeds with finite coordinates
equal to the input's, or raises a :class:`kpbench.errors.KpbenchError` of one line that names
the file; never another exception, never a hang, never a silently wrong number.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpbench.errors import KpbenchError
from kpbench_plugins.video.dataset import build

from .conftest import _write_image, _write_video
from .test_honest_loaders import write_avi

FUZZ = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.floats(-1e6, 1e6),
    st.integers(-(2**40), 2**40),
)
CELLS = st.one_of(NUMBERS, st.text(max_size=4), st.none(), st.booleans())
#: table cells as a CSV holds them: numbers, empty, and text that is or is not a number
CSV_CELLS = st.one_of(NUMBERS, st.none(), st.sampled_from(["", "x", "nan", "1e3", "NULL"]))


def cell_value(c) -> float | None:
    """What a CSV cell means: a float (NaN for empty), or None for text that is no number."""
    if c is None or c in ("", "nan", "NULL"):
        return np.nan
    try:
        return float(c)
    except ValueError:
        return None


def build_or_error(root: Path, name: str, **options):
    """The dataset, or None after checking its error is one line naming ``name``."""
    try:
        return build(root, test_fraction=0.0, **options)
    except KpbenchError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.strip(), msg
        assert name in msg, f"{name!r} not named in: {msg}"
        return None


def mutate(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    """``data`` cut to a prefix (``cut`` of its length) with some bytes overwritten."""
    out = bytearray(data[: int(len(data) * cut)])
    for where, value in flips:
        if out:
            out[int(where * (len(out) - 1))] = value
    return bytes(out)


MUTATIONS = st.tuples(
    st.floats(0.0, 1.0), st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6)
)


def same_points(got: np.ndarray, want: np.ndarray) -> None:
    """Finite where the input was, equal to it there, NaN elsewhere (nothing made up)."""
    want = np.asarray(want, np.float64)
    assert np.isfinite(got[~np.isnan(got)]).all()
    ok = np.isfinite(want).all(-1)
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-6, atol=1e-3)
    assert np.isnan(got[~ok]).all()


# -- DeepLabCut ------------------------------------------------------------------------------------
def _dlc_project(root: Path, values) -> Path:
    folder = root / "labeled-data" / "v1"
    folder.mkdir(parents=True)
    for i in range(len(values)):
        _write_image(folder / f"img{i}.png", size=(40, 30))
    (root / "config.yaml").write_text("bodyparts: [snout, tail]\n")
    cols = pd.MultiIndex.from_product(
        [["me"], ["snout", "tail"], ["x", "y"]], names=["scorer", "bodyparts", "coords"]
    )
    index = [f"labeled-data/v1/img{i}.png" for i in range(len(values))]
    pd.DataFrame(values, index=index, columns=cols, dtype=object).to_csv(
        folder / "CollectedData_me.csv"
    )
    return folder


@FUZZ
@given(st.lists(st.lists(CSV_CELLS, min_size=4, max_size=4), min_size=0, max_size=3))
def test_dlc_csv_values(rows):
    with tempfile.TemporaryDirectory() as tmp:
        _dlc_project(Path(tmp), rows)
        data = build_or_error(Path(tmp), "CollectedData_me.csv")
        values = [[cell_value(c) for c in r] for r in rows]
        if data is None:
            return
        assert all(v is not None for r in values for v in r), "text read as a number"
        want = np.array(values, np.float64).reshape(-1, 4)
        got = {f.source: f.keypoints for f in data.labeled_frames("train")}
        want = want.reshape(-1, 2, 2)
        want[np.isnan(want).any(-1)] = np.nan  # half a point is no point
        for i, row in enumerate(want):
            if np.isnan(row).all():
                continue
            same_points(got[f"labeled-data/v1/img{i}.png"][None], row[None])


@FUZZ
@given(MUTATIONS, st.booleans())
def test_dlc_csv_and_h5_bytes(mutation, as_h5):
    with tempfile.TemporaryDirectory() as tmp:
        folder = _dlc_project(Path(tmp), [[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, None, None]])
        table = folder / "CollectedData_me.csv"
        if as_h5:
            pd.read_csv(table, header=[0, 1, 2], index_col=0).to_hdf(
                folder / "CollectedData_me.h5", key="df"
            )
            table.unlink()
            table = folder / "CollectedData_me.h5"
        table.write_bytes(mutate(table.read_bytes(), *mutation))
        data = build_or_error(Path(tmp), table.name)
        for f in [] if data is None else data.labeled_frames("train"):
            assert np.isfinite(f.keypoints[~np.isnan(f.keypoints)]).all()


# -- COCO ------------------------------------------------------------------------------------------
@FUZZ
@given(
    st.lists(CELLS, min_size=0, max_size=7),
    st.one_of(CELLS, st.lists(CELLS, max_size=5)),
    st.one_of(CELLS, st.just(40)),
    st.sampled_from(["images", "annotations", "categories", "keypoints", None]),
)
def test_coco_fields(keypoints, bbox, width, drop):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_image(root / "images" / "a.jpg", size=(40, 30))
        doc = {
            "images": [{"id": 1, "file_name": "a.jpg", "width": width, "height": 30}],
            "annotations": [
                {"id": 5, "image_id": 1, "category_id": 1, "keypoints": keypoints, "bbox": bbox}
            ],
            "categories": [{"id": 1, "name": "p", "keypoints": ["nose", "tail"]}],
        }
        if drop in doc:
            del doc[drop]
        elif drop:
            del doc["annotations"][0]["keypoints"]
        (root / "person_keypoints_a.json").write_text(json.dumps(doc))
        data = build_or_error(root, "person_keypoints_a.json")
        for f in [] if data is None else data.labeled_instances("train"):
            want = np.array(keypoints, np.float64).reshape(2, 3)
            want[want[:, 2] == 0, :2] = np.nan
            same_points(f.keypoints[None], want[None, :, :2])
            assert np.isfinite(f.bbox()).all() and f.image_size == (40, 30)


@FUZZ
@given(MUTATIONS)
def test_coco_bytes(mutation):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_image(root / "images" / "a.jpg", size=(40, 30))
        doc = {
            "images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "keypoints": [1, 2, 2]}],
            "categories": [{"id": 1, "name": "p", "keypoints": ["nose"]}],
        }
        path = root / "person_keypoints_a.json"
        path.write_bytes(mutate(json.dumps(doc).encode(), *mutation))
        data = build_or_error(root, path.name)
        for f in [] if data is None else data.labeled_instances("train"):
            assert np.isfinite(f.keypoints[~np.isnan(f.keypoints)]).all()


# -- SLEAP -----------------------------------------------------------------------------------------
def _write_slp(path: Path, points: np.ndarray, predicted: bool) -> None:
    import sleap_io as sio

    skel = sio.Skeleton(["head", "tail"])
    video = sio.Video(filename="v.mp4", open_backend=False)
    make = (
        (lambda p: sio.PredictedInstance.from_numpy(p, skeleton=skel, score=0.5))
        if predicted
        else (lambda p: sio.Instance.from_numpy(p, skeleton=skel))
    )
    frames = [
        sio.LabeledFrame(video=video, frame_idx=t, instances=[make(p)])
        for t, p in enumerate(points)
    ]
    sio.save_slp(
        sio.Labels(labeled_frames=frames, videos=[video], skeletons=[skel]),
        str(path),
        verbose=False,
    )


@FUZZ
@given(st.lists(st.lists(NUMBERS, min_size=4, max_size=4), max_size=4), st.booleans())
def test_slp_points(rows, predicted):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_video(root / "v.mp4", frames=6)
        points = np.array(rows, np.float32).reshape(-1, 2, 2)
        _write_slp(root / "v.slp", points, predicted)
        data = build_or_error(root, "v.slp", use_predictions=True)
        if data is None:
            return
        assert (np.abs(points[~np.isnan(points)]) <= 1e9).all(), "an infinite point was read"
        kp = data.videos()[0].keypoints
        if kp is not None:
            same_points(kp[: len(points)], points)


@FUZZ
@given(MUTATIONS)
def test_slp_bytes(mutation):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_video(root / "v.mp4", frames=6)
        _write_slp(root / "v.slp", np.arange(12, dtype=np.float32).reshape(3, 2, 2), False)
        (root / "v.slp").write_bytes(mutate((root / "v.slp").read_bytes(), *mutation))
        data = build_or_error(root, "v.slp")
        kp = None if data is None else data.videos()[0].keypoints
        if kp is not None:
            assert np.isfinite(kp[~np.isnan(kp)]).all()


# -- phase tables ----------------------------------------------------------------------------------
@FUZZ
@given(st.lists(st.tuples(CELLS, CELLS), max_size=5), MUTATIONS)
def test_phase_csv(rows, mutation):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_video(root / "v.mp4", frames=6)
        text = "frame,phase\n" + "".join(f"{a},{b}\n" for a, b in rows)
        (root / "v.phases.csv").write_bytes(mutate(text.encode(), *mutation))
        data = build_or_error(root, "v.phases.csv")
        labels = None if data is None else data.videos()[0].labels
        if labels is not None:
            assert len(labels) == 6 and (labels >= -1).all()


# -- videos ----------------------------------------------------------------------------------------
@FUZZ
@given(MUTATIONS, st.sampled_from(["v.avi", "v.mp4", "v\udcff\udcfe.avi"]))
def test_video_bytes_and_names(mutation, name):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        root.mkdir()
        if name.endswith(".mp4"):
            source = _write_video(Path(tmp) / "src.mp4", frames=20, size=(32, 24))
        else:
            source = write_avi(Path(tmp) / "src.avi", frames=20, size=(32, 24))
        with open(os.path.join(os.fsencode(root), os.fsencode(name)), "wb") as fh:
            fh.write(mutate(source.read_bytes(), *mutation))
        data = build_or_error(root, "no readable video")
        if data is None:
            return
        files = data.notes["files"]
        assert len(files["used"]) + len(files["skipped"]) == 1
        for item in data.videos():
            r = item.reader
            assert 1 <= r.num_frames <= r.header_frames or r.header_frames == 0
            try:  # every usable frame decodes, or a damaged one is named in one line
                assert sum(1 for _ in r.iter_frames()) == r.num_frames
            except KpbenchError as exc:
                assert "\n" not in str(exc) and "cannot be decoded (the file is damaged)" in str(
                    exc
                )


@FUZZ
@given(st.integers(1, 2**31 - 1), st.integers(1, 2**31 - 1))
def test_frame_images_with_huge_declared_sizes(width, height):
    import struct
    import zlib

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        _write_image(root / "frames" / "a.png", size=(40, 30))
        head = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        chunk = b"IHDR" + head
        png = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
        png += struct.pack(">I", zlib.crc32(chunk)) + b"\0\0\0\0IEND\xaeB`\x82"
        (root / "frames" / "b.png").write_bytes(png)
        data = build_or_error(root, "frames")
        if data is not None:
            [item] = data.videos()
            assert (item.reader.width, item.reader.height) == (40, 30) == (width, height)
