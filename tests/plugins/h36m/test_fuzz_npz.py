"""Fuzzed VideoPose3D npz pairs (issue #13): the dataset holds exactly the 2D numbers of the
files (and finite 3D), or fails with one ``DataError`` line naming the file at fault; never
another exception, never a huge allocation. One mutation per example of a valid pair: wrong
dtypes, NaN/inf/overflow, empty or mismatched sequences, wrong shapes and keys, broken
metadata, truncated or garbage bytes, a header that declares a huge array."""

from __future__ import annotations

import io
import zipfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpbench.errors import DataError
from kpbench_plugins.h36m.dataset import build
from kpbench_plugins.h36m.layout import LEFT, RIGHT

F3, F2 = "data_3d_h36m.npz", "data_2d_h36m_gt.npz"
WEIRD = st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e39])
DTYPES = st.sampled_from([np.int32, np.bool_, "U3", object, np.complex64, np.float16])
MUTATIONS_3D = [
    "cell3d",
    "dtype3d",
    "shape3d",
    "empty3d",
    "subject_key",
    "action_key",
    "not_dict3d",
]
MUTATIONS_2D = ["cell2d", "dtype2d", "shape2d", "frames2d", "views2d", "meta"]
BYTES = ["truncate", "garbage", "huge_header"]


def _pair(rng, frames: int) -> tuple[dict, dict]:
    p3 = {"S9": {"Walking 1": rng.uniform(-1, 1, (frames, 32, 3))}}
    p2 = {"S9": {"Walking 1": [rng.uniform(0, 1000, (frames, 17, 2)).astype(np.float32)
                               for _ in range(4)]}}  # fmt: skip
    meta = {
        "layout_name": "h36m",
        "num_joints": 17,
        "keypoints_symmetry": [list(LEFT), list(RIGHT)],
    }
    return {"positions_3d": p3}, {"positions_2d": p2, "metadata": meta}


def _mutate(draw, f3: dict, f2: dict, mutation: str, frames: int) -> str:
    """Apply ``mutation``; return the file it touched."""
    a3 = f3["positions_3d"]["S9"]["Walking 1"]
    views = f2["positions_2d"]["S9"]["Walking 1"]
    c = draw(st.integers(0, 3))
    idx = (draw(st.integers(0, frames - 1)), draw(st.integers(0, 16)), draw(st.integers(0, 1)))
    if mutation == "cell3d":
        a3[idx] = draw(WEIRD)
    elif mutation == "dtype3d":
        f3["positions_3d"]["S9"]["Walking 1"] = a3.astype(draw(DTYPES))
    elif mutation == "shape3d":
        f3["positions_3d"]["S9"]["Walking 1"] = np.zeros(
            draw(st.lists(st.integers(0, 3), max_size=4))
        )
    elif mutation == "empty3d":
        f3["positions_3d"]["S9"]["Walking 1"] = np.zeros((0, 32, 3))
    elif mutation == "subject_key":
        f3["positions_3d"] = {9: f3["positions_3d"]["S9"]}
    elif mutation == "action_key":
        f3["positions_3d"]["S9"] = {1: a3, "Walking 1": a3}
    elif mutation == "not_dict3d":
        f3["positions_3d"] = draw(st.sampled_from([[1, 2], "S9", 3.0, np.zeros(3)]))
    elif mutation == "cell2d":
        views[c][idx] = draw(WEIRD)
    elif mutation == "dtype2d":
        views[c] = views[c].astype(draw(DTYPES))
    elif mutation == "shape2d":
        views[c] = np.zeros(draw(st.lists(st.integers(0, 18), max_size=4)))
    elif mutation == "frames2d":
        views[c] = views[c][: draw(st.integers(0, frames - 1))]
    elif mutation == "views2d":
        f2["positions_2d"]["S9"]["Walking 1"] = draw(st.sampled_from([views[:3], views[0], None]))
    elif mutation == "meta":
        key = draw(st.sampled_from(["num_joints", "keypoints_symmetry", "layout_name"]))
        f2["metadata"][key] = draw(st.sampled_from(["abc", None, 16, [[1]], [1, 2], True, 17.5]))
    return F3 if mutation in MUTATIONS_3D else F2


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _huge_header() -> bytes:
    npy = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (10**12, 32, 3)}
    np.lib.format.write_array_header_2_0(npy, header)
    npy.write(b"\0" * 64)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("positions_3d.npy", npy.getvalue())
    return buf.getvalue()


@st.composite
def pairs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    frames = draw(st.integers(1, 3))
    f3, f2 = _pair(rng, frames)
    mutation = draw(st.sampled_from(MUTATIONS_3D + MUTATIONS_2D + BYTES + ["none"]))
    target = F3 if mutation == "none" else draw(st.sampled_from([F3, F2]))
    if mutation in MUTATIONS_3D + MUTATIONS_2D:
        target = _mutate(draw, f3, f2, mutation, frames)
    raw = {F3: _npz_bytes(f3), F2: _npz_bytes(f2)}
    if mutation == "truncate":
        raw[target] = raw[target][: draw(st.integers(0, len(raw[target]) - 1))]
    elif mutation == "garbage":
        raw[target] = b"PK\x03\x04" + draw(st.binary(max_size=64))
    elif mutation == "huge_header":
        raw[target] = _huge_header()
    return raw, f2, mutation, target


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs())
def test_fuzzed_h36m_npz(tmp_path_factory, case):
    raw, f2, mutation, target = case
    folder = tmp_path_factory.mktemp("h36m")
    for name, data in raw.items():
        (folder / name).write_bytes(data)
    try:
        data = build(folder, test_subjects=["S9"])
    except DataError as exc:
        message = str(exc)
        assert "\n" not in message and target in message, (mutation, message)
        return
    assert mutation in ("none", "cell2d", "dtype2d", "cell3d", "dtype3d", "meta"), mutation
    (seq0, *others) = data.sequences3d("test")
    views = f2["positions_2d"]["S9"]["Walking 1"]
    for seq, view in zip([seq0, *others], views):
        assert np.isfinite(seq["keypoints2d"]).all() and np.isfinite(seq["keypoints3d"]).all()
        np.testing.assert_array_equal(seq["keypoints2d"], np.asarray(view, np.float32)[..., :2])
