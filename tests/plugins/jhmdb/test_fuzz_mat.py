"""Fuzzed JHMDB ``joint_positions.mat`` files (issue #13): ``read_joints`` returns exactly the
file's numbers (0-based, finite) or fails with one ``DataError`` line naming the file; never
another exception, never a huge allocation. One mutation per example of a valid file: wrong
dtypes, NaN/inf, wrong or empty shapes, a missing field, truncated or garbage bytes, dims that
declare a huge array, non-UTF-8 file names."""

from __future__ import annotations

import io

import numpy as np
from fuzzing import one_line_naming, write_fuzzed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.io import savemat

from kpbench.errors import DataError
from kpbench_plugins.jhmdb.dataset import read_joints

NAMES = [b"joint_positions.mat", b"joint_\xff\xfe.mat", "articulations_é.mat".encode()]
MUTATIONS = ["cell", "dtype", "shape", "empty", "missing", "truncate", "garbage", "huge_dims",
             "none"]  # fmt: skip


def _mat(arrays: dict) -> bytes:
    buf = io.BytesIO()
    savemat(buf, arrays)
    return buf.getvalue()


@st.composite
def files(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    t = draw(st.integers(1, 4))
    pos = rng.uniform(1, 320, (2, 15, t)).round(3)
    mutation = draw(st.sampled_from(MUTATIONS))
    arrays = {"pos_img": pos, "scale": np.ones(t)}
    if mutation == "cell":
        pos[draw(st.integers(0, 1)), draw(st.integers(0, 14)), draw(st.integers(0, t - 1))] = draw(
            st.sampled_from([np.nan, np.inf, -np.inf])
        )
    elif mutation == "dtype":
        kind = draw(st.sampled_from(["int", "bool", "str", "complex", "cell"]))
        arrays["pos_img"] = {
            "int": pos.astype(np.int32),
            "bool": pos > 100,
            "str": "not numbers",
            "complex": pos.astype(np.complex128),
            "cell": np.array([pos, pos], dtype=object),
        }[kind]
    elif mutation == "shape":
        arrays["pos_img"] = np.zeros(draw(st.lists(st.integers(1, 16), min_size=1, max_size=4)))
    elif mutation == "empty":
        arrays["pos_img"] = np.zeros((2, 15, 0))
    elif mutation == "missing":
        del arrays["pos_img"]
    raw = _mat(arrays)
    if mutation == "truncate":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif mutation == "garbage":
        raw = raw[:128] + draw(st.binary(min_size=1, max_size=64))
    elif mutation == "huge_dims":
        dims = np.array([2, 15, t], "<i4").tobytes()
        assert dims in raw
        raw = raw.replace(dims, np.array([2, 15, 2**31 - 1], "<i4").tobytes(), 1)
    return draw(st.sampled_from(NAMES)), raw, pos, mutation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fuzzed_jhmdb_mat(tmp_path_factory, case):
    name, raw, pos, mutation = case
    path = write_fuzzed(tmp_path_factory, "jhmdb", name, raw)
    try:
        joints = read_joints(path)
    except DataError as exc:
        assert mutation != "none", one_line_naming(exc, str(path))
        return
    assert mutation in ("none", "dtype", "shape"), mutation
    assert np.isfinite(joints).all()
    if mutation == "none":
        np.testing.assert_array_equal(joints, pos.transpose(2, 1, 0) - 1.0)
