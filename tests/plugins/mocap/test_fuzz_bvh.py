"""Fuzzed BVH files (issue #13): a file reads into exactly the numbers it holds, with finite
joint positions, or fails with one ``DataError`` line naming the file; never another exception,
never a hang or a huge allocation. One mutation per example of a valid file: a token replaced
by text, NaN/inf or an out-of-range number, a token dropped, a truncated file, non-UTF-8 bytes,
a huge frame count, duplicate joint names, deep hierarchies, non-UTF-8 file names."""

from __future__ import annotations

import numpy as np
from fuzzing import one_line_naming, write_fuzzed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpbench.errors import DataError
from kpbench_plugins.mocap.bvh import forward_kinematics, read_bvh

NAMES = [b"take.bvh", b"take_\xff\xfe.bvh", "prise_é.bvh".encode()]
WEIRD_TOKENS = ["nan", "inf", "-inf", "1e999", "abc", "{", "}", "²", "١", "-0", "1e308", "CHANNELS"]
MUTATIONS = ["token", "drop", "truncate", "non_utf8", "huge_frames", "duplicate", "deep", "none"]


def _joint(name: str, depth: int, children: int, out: list[str]) -> None:
    pad = "  " * depth
    out += [f"{pad}JOINT {name}", pad + "{", f"{pad}  OFFSET 0.0 1.5 0.0",
            f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation"]  # fmt: skip
    for c in range(children):
        _joint(f"{name}_{c}", depth + 1, 0, out)
    out += [f"{pad}  End Site", pad + "  {", f"{pad}    OFFSET 0.0 1.0 0.0", pad + "  }", pad + "}"]


def _bvh(rng, joints: int, frames: int, deep: int = 0) -> tuple[str, np.ndarray]:
    out = ["HIERARCHY", "ROOT Hips", "{", "  OFFSET 0.0 0.0 0.0",
           "  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation"]  # fmt: skip
    for j in range(joints):
        _joint(f"J{j}", 1, j % 2, out)
    for d in range(deep):  # a chain of `deep` nested joints
        out += [f"JOINT D{d}", "{", "OFFSET 0 1 0", "CHANNELS 1 Zrotation"]
    out += ["End Site", "{", "OFFSET 0 1 0", "}"] * (deep > 0) + ["}"] * deep + ["}"]
    n_chan = 6 + 3 * sum(1 + j % 2 for j in range(joints)) + deep
    values = rng.uniform(-90, 90, (frames, n_chan)).round(4)
    out += ["MOTION", f"Frames: {frames}", "Frame Time: 0.0083333"]
    out += [" ".join(f"{v:.4f}" for v in row) for row in values]
    return "\n".join(out) + "\n", values


@st.composite
def files(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    mutation = draw(st.sampled_from(MUTATIONS))
    deep = 3000 if mutation == "deep" else 0
    text, values = _bvh(rng, draw(st.integers(0, 3)), draw(st.integers(1, 3)), deep)
    if mutation == "token":
        tokens = text.split(" ")
        tokens[draw(st.integers(0, len(tokens) - 1))] = draw(st.sampled_from(WEIRD_TOKENS))
        text = " ".join(tokens)
    elif mutation == "drop":
        tokens = text.split(" ")
        del tokens[draw(st.integers(0, len(tokens) - 1))]
        text = " ".join(tokens)
    elif mutation == "truncate":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif mutation == "huge_frames":
        text = text.replace("Frames: ", f"Frames: {draw(st.sampled_from([10**15, 10**40, 0]))}#")
        text = text.replace("#" + text.split("#")[1].split("\n")[0], "", 1)
    elif mutation == "duplicate":
        text = text.replace("ROOT Hips", "ROOT J0") if "JOINT J0" in text else text + "x"
    raw = text.encode()
    if mutation == "non_utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + b"\xff\xfe" + raw[at:]
    return draw(st.sampled_from(NAMES)), raw, values, mutation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fuzzed_bvh(tmp_path_factory, case):
    name, raw, values, mutation = case
    path = write_fuzzed(tmp_path_factory, "bvh", name, raw)
    try:
        take = read_bvh(path)
        positions = forward_kinematics(take)
    except DataError as exc:
        assert mutation != "none", one_line_naming(exc, str(path))
        return
    assert mutation not in ("non_utf8", "huge_frames", "duplicate"), mutation
    assert np.isfinite(take.values).all() and np.isfinite(positions).all()
    assert positions.shape == (take.num_frames, len(take.names), 3)
    if mutation in ("none", "deep"):
        np.testing.assert_array_equal(take.values, values)
