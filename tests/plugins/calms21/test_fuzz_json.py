"""Fuzzed CalMS21 JSON files (issue #13): each file parses into exactly the numbers it holds,
or fails with one ``DataError`` line naming the file (and the field at fault); never another
exception, never a silently converted value. One mutation per example of a valid file:
wrong types, NaN/inf, out-of-range numbers, wrong shapes, empty sequences, frame counts that
disagree, truncated or non-UTF-8 bytes, deep nesting, non-UTF-8 file names."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fuzzing import one_line_naming, write_fuzzed
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpbench.errors import DataError
from kpbench_plugins.calms21.cache import parse_file

NAMES = [b"calms21_task1_train.json", b"calms21_\xff\xfe_train.json", "calms21_é.json".encode()]
WEIRD = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.text(max_size=3),
    st.booleans(),
    st.none(),
    st.just([]),
    st.just({"x": 1}),
)
FIELD_MUTATIONS = {
    "keypoints_cell": "'keypoints'",
    "keypoints_shape": "'keypoints'",
    "keypoints_empty": "'keypoints'",
    "keypoints_missing": "'keypoints'",
    "scores_cell": "'scores'",
    "scores_frames": "'scores'",
    "annotations_cell": "'annotations'",
    "annotations_frames": "'annotations'",
    "vocab_value": "vocab",
}
TEXT_MUTATIONS = ["truncate", "non_utf8", "deep", "top_level", "none"]


def _valid(rng, frames: int) -> dict:
    return {
        "keypoints": rng.uniform(0, 1024, (frames, 2, 2, 7)).round(2).tolist(),
        "scores": rng.uniform(0, 1, (frames, 2, 7)).round(3).tolist(),
        "annotations": rng.integers(0, 4, frames).tolist(),
        "metadata": {"annotator-id": 0, "vocab": {"attack": 0, "investigation": 1,
                                                  "mount": 2, "other": 3}},
    }  # fmt: skip


def _mutate(draw, rec: dict, mutation: str, frames: int) -> None:
    t = draw(st.integers(0, frames - 1))
    if mutation == "keypoints_cell":
        rec["keypoints"][t][draw(st.integers(0, 1))][draw(st.integers(0, 1))][
            draw(st.integers(0, 6))
        ] = draw(WEIRD)
    elif mutation == "keypoints_shape":
        dims = draw(st.lists(st.integers(0, 3), min_size=0, max_size=5))
        rec["keypoints"] = np.zeros(dims).tolist() if dims != [frames, 2, 2, 7] else 5
    elif mutation == "keypoints_empty":
        rec["keypoints"] = draw(st.sampled_from([[], [[]], [[[[]]]]]))
    elif mutation == "keypoints_missing":
        del rec["keypoints"]
    elif mutation == "scores_cell":
        rec["scores"][t][draw(st.integers(0, 1))][draw(st.integers(0, 6))] = draw(WEIRD)
    elif mutation == "scores_frames":
        rec["scores"] = rec["scores"][:t] if draw(st.booleans()) else rec["scores"] * 2
    elif mutation == "annotations_cell":
        rec["annotations"][t] = draw(WEIRD)
    elif mutation == "annotations_frames":
        rec["annotations"] = rec["annotations"][:t] + (rec["annotations"] * 2)[t + frames :]
        rec["annotations"] = rec["annotations"] + ([1] if draw(st.booleans()) else [])
    elif mutation == "vocab_value":
        rec["metadata"]["vocab"]["mount"] = draw(WEIRD)


@st.composite
def files(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    frames = draw(st.integers(1, 3))
    rec = _valid(rng, frames)
    mutation = draw(st.sampled_from(sorted(FIELD_MUTATIONS) + TEXT_MUTATIONS))
    if mutation in FIELD_MUTATIONS:
        _mutate(draw, rec, mutation, frames)
    data = {"annotator-id_0": {"task1/train/mouse001": rec}}
    text = json.dumps(data, allow_nan=True).encode()
    if mutation == "truncate":
        text = text[: draw(st.integers(0, len(text) - 1))]
    elif mutation == "non_utf8":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + b"\xff\xfe\x80" + text[at:]
    elif mutation == "deep":
        text = b"[" * 200_000 + b"]" * 200_000
    elif mutation == "top_level":
        text = json.dumps(draw(st.sampled_from([[], {}, 3, "x", {"g": []}, {"g": {"s": 1}}])))
        text = text.encode()
    return draw(st.sampled_from(NAMES)), text, rec, mutation


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files())
def test_fuzzed_calms21_json(tmp_path_factory, case):
    name, text, rec, mutation = case
    path = write_fuzzed(tmp_path_factory, "fuzz", name, text)
    try:
        sequences, arrays = parse_file(path)
    except DataError as exc:
        message = one_line_naming(exc, path.name)
        if mutation in FIELD_MUTATIONS:
            assert FIELD_MUTATIONS[mutation] in message, message
        return
    assert mutation not in ("truncate", "non_utf8", "deep", "top_level"), mutation
    (info,) = sequences
    kp = arrays[f"{info.key}_keypoints"]
    assert np.isfinite(kp).all()
    np.testing.assert_array_equal(kp, np.asarray(rec["keypoints"], np.float32))
    np.testing.assert_array_equal(
        arrays[f"{info.key}_scores"], np.asarray(rec["scores"], np.float32)
    )
    np.testing.assert_array_equal(arrays[f"{info.key}_annotations"], rec["annotations"])
    assert info.frames == len(rec["keypoints"]) == len(rec["annotations"])


@pytest.mark.parametrize(
    "value, field",
    [
        ("1.5", "'keypoints' holds text"),  # numeric text is not silently read as a number
        (True, "'keypoints' holds true/false"),
        (None, "'keypoints' holds nulls"),
        (1e300, "'keypoints' has NaN, inf or a value beyond float32 at frame 0"),
        (float("nan"), "'keypoints' has NaN, inf"),
        (10**30, "'keypoints' holds nulls, objects or too large integers"),
    ],
)
def test_wrong_keypoint_values_name_the_field(tmp_path, value, field):
    rec = _valid(np.random.default_rng(0), 2)
    rec["keypoints"][0][0][0][0] = value
    path = tmp_path / "calms21_task1_train.json"
    path.write_text(json.dumps({"annotator-id_0": {"seq": rec}}))
    with pytest.raises(DataError, match=f"calms21_task1_train.json: sequence 'seq'.*{field}"):
        parse_file(path)


def test_deeply_nested_json_is_one_line(tmp_path):
    path = tmp_path / "calms21_task1_train.json"
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    with pytest.raises(DataError, match="not valid JSON"):
        parse_file(path)
