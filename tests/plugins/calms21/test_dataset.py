"""The CalMS21 loader on the synthetic twin: shapes, vocabularies, videos, the npz cache, bad input."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from kpbench.errors import ConfigError, DataError
from kpbench.plugins import get_registry
from kpbench_plugins.calms21.dataset import KEYPOINT_NAMES, build

SEQ = "task1/train/mouse001_task1_annotator1"
TRAIN_JSON = "calms21_task1_train.json"


def read_json(path):
    return json.loads(path.read_text())


def write_json(path, data) -> None:
    """Rewrite ``path`` and move its mtime, so a cache keyed on (size, mtime) must notice."""
    path.write_text(json.dumps(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def one_line_error(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


def test_shapes_names_and_tasks(twin):
    ds = build(twin)
    assert ds.tasks == ("discovery2d", "pose2d", "propagation", "behavior")
    assert len(ds.keypoint_names) == 14 and ds.keypoint_names[0] == "resident_nose"
    assert (
        ds.keypoint_names[13] == "intruder_tail_base" and ds.keypoint_names[10] == "intruder_neck"
    )
    assert all(0 <= a < 14 and 0 <= b < 14 for a, b in ds.skeleton)
    videos = ds.videos("train")
    assert [v.name for v in videos] == ["mouse001_task1_annotator1", "mouse002_task1_annotator1"]
    assert {v.split for v in ds.videos()} == {"train", "test"} and len(ds.videos("test")) == 1
    item = videos[0]
    assert item.keypoints.shape == (40, 14, 2) and item.keypoints.dtype == np.float32
    assert item.labels.shape == (40,) and item.reader.num_frames == 40
    seqs = ds.sequences("train")
    assert [s["name"] for s in seqs] == [SEQ, "task1/train/mouse002_task1_annotator1"]
    seq = seqs[0]
    assert (
        seq["keypoints"].shape == (40, 2, 7, 2)
        and seq["scores"].shape == (40, 2, 7)
        and seq["fps"] == 30.0
    )
    np.testing.assert_array_equal(seq["keypoints"].reshape(40, 14, 2), item.keypoints)
    np.testing.assert_array_equal(seq["labels"], item.labels)


def test_values_are_the_json_transposed(twin):
    rec = read_json(twin / TRAIN_JSON)["annotator-id_0"][SEQ]
    seq = build(twin).sequences("train")[0]
    official = np.asarray(rec["keypoints"], np.float32)  # (T, mouse, xy, part)
    np.testing.assert_allclose(
        seq["keypoints"][:, 1, 4, 0], official[:, 1, 0, 4]
    )  # intruder left hip x
    np.testing.assert_allclose(
        seq["keypoints"][:, 0, 0, 1], official[:, 0, 1, 0]
    )  # resident nose y
    np.testing.assert_allclose(seq["scores"], np.asarray(rec["scores"], np.float32))
    np.testing.assert_array_equal(seq["labels"], rec["annotations"])
    assert seq["vocab"] == rec["metadata"]["vocab"]


def test_labeled_frames_load_the_right_frame(twin):
    ds = build(twin)
    frames = ds.labeled_frames("test")
    assert len(frames) == 40
    frame = frames[7]
    assert (frame.video, frame.index, frame.image_size) == (
        "mouse003_task1_annotator1",
        7,
        (128, 128),
    )
    np.testing.assert_array_equal(frame.load(), ds.videos("test")[0].reader.read(7))
    np.testing.assert_array_equal(frame.keypoints, ds.videos("test")[0].keypoints[7])


def test_pose2d_instances_are_one_mouse_each_and_frames_stay_both_mice(twin):
    from kpbench.dataset import box_from_keypoints
    from kpbench.tasks import discovery2d, pose2d
    from kpbench_plugins.calms21.dataset import PARTS

    ds = build(twin)
    assert ds.per_instance_keypoint_names() == list(PARTS) == [
        "nose", "left_ear", "right_ear", "neck", "left_hip", "right_hip", "tail_base",
    ]  # fmt: skip
    assert ds.oks_sigmas().shape == (7,) and ds.left_right() == [(1, 2), (4, 5)]
    assert ds.describe()["frame_instances"] == ["resident", "intruder"]
    frames, inst = ds.labeled_frames("test"), ds.labeled_instances("test")
    assert len(frames) == 40 and frames[0].keypoints.shape == (14, 2)  # discovery2d: both mice
    assert len(inst) == 80 and [f.instance for f in inst[:4]] == ["resident", "intruder"] * 2
    resident, intruder = inst[14], inst[15]
    assert resident.index == intruder.index == 7 and resident.source == frames[7].source
    np.testing.assert_array_equal(resident.keypoints, frames[7].keypoints[:7])
    np.testing.assert_array_equal(intruder.keypoints, frames[7].keypoints[7:])
    np.testing.assert_allclose(
        intruder.bbox(), box_from_keypoints(frames[7].keypoints[7:], (128, 128))
    )
    ev = pose2d.select(ds, {"max_test_instances": None, "pck_normaliser": "box"})
    assert ev.dims == {"N": 80, "K": 7} and ev.truth["keypoints"].shape == (80, 7, 2)
    assert ev.truth["image_ids"][:4].tolist() == [0, 0, 1, 1] and ev.ids[1].endswith("#0/intruder")
    assert ev.info == {"test_instances": 80, "train_instances": 160}
    disc = discovery2d.select(ds, dict(discovery2d.kpbench_tasks()[0].options))
    assert disc.truth["annotated"].shape[1:] == (14, 2)  # frame-level, unchanged


def test_notes_count_what_was_read(twin):
    notes = build(twin).notes
    assert notes["splits"]["train"] == {
        "sequences": 2,
        "frames": 80,
        "labelled_frames": 80,
        "videos": 2,
    }
    assert notes["splits"]["test"]["frames"] == 40
    assert notes["vocab"] == {"attack": 0, "investigation": 1, "mount": 2, "other": 3}
    used = notes["files"]["used"]
    assert used[TRAIN_JSON] == {"split": "train", "sequences": 2, "frames": 80}
    assert used["calms21_task1_test.json"] == {"split": "test", "sequences": 1, "frames": 40}
    assert sum(f.endswith(".mp4") for f in used) == 3 and not notes["files"]["skipped"]
    assert notes["cache"] == str(twin / ".kpbench_cache")


def test_other_files_are_listed_as_ignored(twin_copy):
    (twin_copy / "calms21_task2_train.json").write_text("{}")
    (twin_copy / "stray.mp4").write_bytes(b"")
    ignored = build(twin_copy).notes["files"]["ignored"]
    assert ignored["calms21_task2_train.json"].startswith("another task's file")
    assert ignored["stray.mp4"] == "no sequence of the loaded JSON files has this video's name"


def test_task3_vocabulary_comes_from_the_metadata(twin_copy):
    """Task-3 files: behaviour names as top keys and {other: 0, <behaviour>: 1}, unlike task 1."""
    vocab = {"other": 0, "sniff_face": 1}
    expected = {}
    for split in ("train", "test"):
        task1 = read_json(twin_copy / f"calms21_task1_{split}.json")["annotator-id_0"]
        records = {}
        for seq_id, rec in task1.items():
            labels = [
                1 if a == rec["metadata"]["vocab"]["investigation"] else 0
                for a in rec["annotations"]
            ]
            records[seq_id.replace("task1/", "task3/sniff_face/")] = {
                **rec,
                "annotations": labels,
                "metadata": {"annotator-id": 0, "vocab": vocab},
            }
            expected[f"sniff_face/{seq_id.replace('task1/', 'task3/sniff_face/')}"] = labels
        write_json(twin_copy / f"calms21_task3_{split}.json", {"sniff_face": records})
    ds = build(twin_copy, task=3)
    seqs = ds.sequences("train") + ds.sequences("test")
    assert [s["name"] for s in seqs] == list(expected)
    for seq in seqs:
        assert seq["vocab"] == vocab
        np.testing.assert_array_equal(seq["labels"], expected[seq["name"]])
    assert ds.notes["vocab"] == vocab and ds.videos("train")[0].vocab == vocab


def test_without_videos_only_behavior(twin_copy):
    shutil.rmtree(twin_copy / "videos")
    ds = build(twin_copy, max_sequences=1)
    assert ds.tasks == ("behavior",)
    assert ds.videos() == [] and len(ds.sequences("train")) == 1
    assert ds.describe()["videos"] == {"train": 0, "test": 0}


def test_videos_found_in_the_official_mp4_layout(twin_copy):
    (twin_copy / "task1_videos_mp4" / "train").mkdir(parents=True)
    for stem in ("mouse001", "mouse002"):
        name = f"{stem}_task1_annotator1.mp4"
        (twin_copy / "videos" / name).rename(twin_copy / "task1_videos_mp4" / "train" / name)
    ds = build(twin_copy)
    assert "discovery2d" in ds.tasks
    assert (
        ds.videos("train")[0].reader.path
        == twin_copy / "task1_videos_mp4" / "train" / "mouse001_task1_annotator1.mp4"
    )


def test_data_dir_defaults_to_kpbench_data(twin, tmp_path, monkeypatch):
    shutil.copytree(twin, tmp_path / "data" / "calms21")
    monkeypatch.setenv("KPBENCH_DATA", str(tmp_path / "data"))
    assert len(build().sequences("test")) == 1
    monkeypatch.delenv("KPBENCH_DATA")
    with pytest.raises(DataError) as exc:
        build()
    assert "$KPBENCH_DATA is not set" in one_line_error(exc)


def test_cache_is_reused_without_parsing_json(twin_copy, monkeypatch):
    first = build(twin_copy).sequences("train")[0]

    def no_parsing(*args, **kwargs):
        raise AssertionError("the JSON was parsed again")

    monkeypatch.setattr(json, "load", no_parsing)
    again = build(twin_copy).sequences("train")[0]
    np.testing.assert_array_equal(first["keypoints"], again["keypoints"])
    assert (twin_copy / ".kpbench_cache" / "calms21_task1_train.npz").is_file()


def test_cache_is_rebuilt_when_the_json_changes(twin_copy):
    assert build(twin_copy).sequences("train")[0]["keypoints"][0, 0, 0, 0] != 7.5
    data = read_json(twin_copy / TRAIN_JSON)
    data["annotator-id_0"][SEQ]["keypoints"][0][0][0][0] = 7.5  # frame 0, resident, x, nose
    write_json(twin_copy / TRAIN_JSON, data)
    assert build(twin_copy).sequences("train")[0]["keypoints"][0, 0, 0, 0] == 7.5


def test_cache_falls_back_when_the_folder_is_not_writable(twin_copy, tmp_path, monkeypatch):
    (twin_copy / ".kpbench_cache").write_text("a file where the cache folder would go")
    monkeypatch.setenv("KPBENCH_CACHE", str(tmp_path / "elsewhere"))
    ds = build(twin_copy)
    cache = tmp_path / "elsewhere" / "calms21"
    assert ds.notes["cache"].startswith(str(cache))
    assert len(list(cache.glob("*/calms21_task1_train.npz"))) == 1
    assert len(ds.sequences("train")) == 2


def test_missing_folder(tmp_path):
    with pytest.raises(DataError) as exc:
        build(tmp_path / "nowhere")
    msg = one_line_error(exc)
    assert (
        str(tmp_path / "nowhere") in msg
        and "kpbench data synth calms21" in msg
        and "s0vdx-0k302" in msg
    )


def test_folder_without_json(tmp_path):
    with pytest.raises(DataError) as exc:
        build(tmp_path)
    assert "calms21_task1_{train,test}.json" in one_line_error(exc)


def _corrupt_keypoints_shape(rec):
    rec["keypoints"] = np.transpose(
        np.asarray(rec["keypoints"]), (0, 1, 3, 2)
    ).tolist()  # (T, 2, 7, 2)


def _drop_keypoints(rec):
    del rec["keypoints"]


def _short_annotations(rec):
    rec["annotations"] = rec["annotations"][:-3]


def _ragged_keypoints(rec):
    rec["keypoints"][5] = rec["keypoints"][5][:1]


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (_corrupt_keypoints_shape, "(40, 2, 7, 2)"),
        (_drop_keypoints, "no 'keypoints'"),
        (_short_annotations, "'annotations' has shape (37,)"),
        (_ragged_keypoints, "not a numeric array"),
    ],
)
def test_malformed_record(twin_copy, corrupt, expected):
    data = read_json(twin_copy / TRAIN_JSON)
    corrupt(data["annotator-id_0"]["task1/train/mouse002_task1_annotator1"])
    write_json(twin_copy / TRAIN_JSON, data)
    with pytest.raises(DataError) as exc:
        build(twin_copy)
    msg = one_line_error(exc)
    assert TRAIN_JSON in msg and "task1/train/mouse002_task1_annotator1" in msg and expected in msg


@pytest.mark.parametrize(
    ("text", "expected"), [("{not json", "not valid JSON"), ("[1, 2, 3]", "top level")]
)
def test_not_a_calms21_json(twin_copy, text, expected):
    (twin_copy / TRAIN_JSON).write_text(text)
    with pytest.raises(DataError) as exc:
        build(twin_copy)
    msg = one_line_error(exc)
    assert str(twin_copy / TRAIN_JSON) in msg and expected in msg


def test_video_with_the_wrong_frame_count(twin_copy):
    import cv2

    path = twin_copy / "videos" / "mouse002_task1_annotator1.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (128, 128))
    for i in range(10):
        writer.write(np.full((128, 128, 3), 20 * i, np.uint8))
    writer.release()
    ds = build(twin_copy)
    assert len(ds.sequences("train")) == 2  # behaviour needs no video
    with pytest.raises(DataError) as exc:
        ds.videos("train")
    msg = one_line_error(exc)
    assert (
        str(path) in msg
        and "10 frames" in msg
        and "40 keypoint frames" in msg
        and "mouse002" in msg
    )


@pytest.mark.parametrize(
    ("options", "expected"), [({"task": 4}, "task=4"), ({"max_sequences": 0}, "max_sequences=0")]
)
def test_bad_options(twin, options, expected):
    with pytest.raises(ConfigError, match=expected):
        build(twin, **options)


def test_registered_as_a_plugin_with_a_synthetic_twin(twin):
    spec = get_registry().dataset("calms21")
    assert spec.tasks == ("discovery2d", "pose2d", "behavior", "propagation")
    assert spec.synthesize is not None
    ds = spec.build(twin, max_sequences=1)
    assert ds.name == "calms21" and ds.keypoint_names == KEYPOINT_NAMES
    assert ds.describe()["videos"] == {"train": 1, "test": 1}
