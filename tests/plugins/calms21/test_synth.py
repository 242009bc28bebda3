"""The synthetic CalMS21 twin: official schema, keypoints on the drawn mice, labels, determinism."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kpbench.errors import ConfigError
from kpbench.video import VideoReader
from kpbench_plugins.calms21.render import body_length, mouse_keypoints
from kpbench_plugins.calms21.synth import VOCAB, derive_labels, simulate, synthesize

FPS = 30.0


def records(path) -> dict:
    data = json.loads(path.read_text())
    assert list(data) == ["annotator-id_0"]
    return data["annotator-id_0"]


def first_sequence(twin) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``(T, 2, 7, 2)`` px of the first training sequence and its decoded grey frames."""
    rec = records(twin / "calms21_task1_train.json")["task1/train/mouse001_task1_annotator1"]
    kp = np.transpose(np.asarray(rec["keypoints"]), (0, 1, 3, 2))
    video = VideoReader(twin / "videos" / "mouse001_task1_annotator1.mp4")
    return kp, video.read_all().astype(float).mean(axis=-1)


def test_writes_the_official_schema(twin):
    train = records(twin / "calms21_task1_train.json")
    test = records(twin / "calms21_task1_test.json")
    assert list(train) == [f"task1/train/mouse00{i}_task1_annotator1" for i in (1, 2)]
    assert list(test) == ["task1/test/mouse003_task1_annotator1"]
    for rec in [*train.values(), *test.values()]:
        assert set(rec) == {"keypoints", "scores", "annotations", "metadata"}
        assert np.asarray(rec["keypoints"]).shape == (40, 2, 2, 7)
        scores = np.asarray(rec["scores"])
        assert scores.shape == (40, 2, 7) and scores.min() >= 0.05 and scores.max() <= 0.999
        assert len(rec["annotations"]) == 40 and set(rec["annotations"]) <= set(VOCAB.values())
        assert rec["metadata"] == {"annotator-id": 0, "vocab": VOCAB}
    assert "128x128" in (twin / "README.txt").read_text()


def test_annotations_follow_from_the_written_keypoints(twin):
    for rec in records(twin / "calms21_task1_train.json").values():
        kp = np.transpose(np.asarray(rec["keypoints"]), (0, 1, 3, 2))
        labels = derive_labels(kp, body_length(128, 128), FPS)
        np.testing.assert_array_equal(labels, rec["annotations"])


def test_video_frame_count_equals_label_count(twin):
    for stem in ("mouse001", "mouse002", "mouse003"):
        reader = VideoReader(twin / "videos" / f"{stem}_task1_annotator1.mp4")
        assert (reader.num_frames, reader.width, reader.height) == (40, 128, 128)
        assert len(reader.read_all()) == 40


def test_keypoints_sit_on_the_drawn_mice(twin):
    """Dark pixels under the resident's neck and back; light ones under the intruder's neck."""
    kp, frames = first_sequence(twin)
    floor, length = np.median(frames), body_length(128, 128)

    def grey(t: int, xy) -> float:
        x, y = np.round(xy).astype(int)
        return float(np.median(frames[t, y - 1 : y + 2, x - 1 : x + 2]))

    assert (kp >= 0).all() and (kp[..., 0] < 128).all() and (kp[..., 1] < 128).all()
    apart = 0
    for t in range(0, 40, 3):
        back = kp[t, 0, 3] * 0.5 + kp[t, 0, 4:6].mean(axis=0) * 0.5
        assert grey(t, kp[t, 0, 3]) < floor - 50 and grey(t, back) < floor - 50
        centres = kp[t, :, 3:].mean(axis=1)
        if np.hypot(*(centres[0] - centres[1])) > 1.2 * length:  # intruder not under the resident
            apart += 1
            assert grey(t, kp[t, 1, 3]) > floor + 50
    assert apart > 0


def test_moving_keypoints_move_pixels(twin):
    """Frames change where the resident's neck moved, much more than in a wall corner."""
    kp, frames = first_sequence(twin)
    diff = np.abs(np.diff(frames, axis=0))
    neck = np.round(kp[:, 0, 3]).astype(int)
    moved = [t for t in range(39) if np.hypot(*(kp[t + 1, 0, 3] - kp[t, 0, 3])) > 1.0]
    assert moved
    near = [
        diff[t, neck[t, 1] - 4 : neck[t, 1] + 5, neck[t, 0] - 4 : neck[t, 0] + 5].mean()
        for t in moved
    ]
    assert np.mean(near) > 4 * diff[:, :4, :4].mean()


def test_same_seed_same_twin_other_seed_differs(tmp_path):
    tiny = {"n_train": 1, "n_test": 1, "frames": 12, "width": 96, "height": 96}
    a, b, c = (
        synthesize(tmp_path / name, seed, **tiny) for name, seed in (("a", 3), ("b", 3), ("c", 4))
    )
    for name in ("calms21_task1_train.json", "calms21_task1_test.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes()
        assert (a / name).read_bytes() != (c / name).read_bytes()
    video = "videos/mouse001_task1_annotator1.mp4"
    frames_a, frames_b, frames_c = (VideoReader(d / video).read_all() for d in (a, b, c))
    assert np.array_equal(frames_a, frames_b)
    assert not np.array_equal(frames_a, frames_c)


def _pose_pair(resident, intruder, length):
    return np.stack([mouse_keypoints(resident, length), mouse_keypoints(intruder, length)])


def test_label_rules_on_hand_made_poses():
    length, frames = 50.0, 10
    intruder = (300.0, 200.0, 0.0, 0.0, 0.0)

    def labels(resident_at) -> np.ndarray:
        kp = np.stack([_pose_pair(resident_at(t), intruder, length) for t in range(frames)])
        return derive_labels(kp, length, FPS)

    # far away and still → other
    assert (labels(lambda t: (100.0, 100.0, 0.0, 0.0, 0.0)) == VOCAB["other"]).all()
    # nose on the intruder's left hip, still → investigation
    hip = mouse_keypoints(intruder, length)[4]
    still = (hip[0], hip[1] + 0.5 * length + 0.1 * length, -np.pi / 2, 0.0, 0.0)
    assert (labels(lambda t: still) == VOCAB["investigation"]).all()
    # on the intruder's back, facing the same way → mount
    assert (labels(lambda t: (295.0, 200.0, 0.05, 0.0, 0.0)) == VOCAB["mount"]).all()
    # rushing past the intruder's head (3 L/s) with the nose in contact → attack
    rush = labels(
        lambda t: (
            300.0 + 0.65 * length - 2.5 + 5.0 * (t - 5),
            200.0 + 0.3 * length,
            np.pi,
            0.0,
            0.0,
        )
    )
    assert (rush[3:8] == VOCAB["attack"]).all()


def test_label_rules_read_the_vocabulary_given():
    vocab = {"other": 0, "mount": 7, "attack": 5, "investigation": 2}
    kp = np.stack(
        [_pose_pair((295.0, 200.0, 0.0, 0.0, 0.0), (300.0, 200.0, 0.0, 0.0, 0.0), 50.0)] * 4
    )
    assert (derive_labels(kp, 50.0, FPS, vocab) == 7).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_simulated_episodes_show_every_behaviour(seed):
    kp = simulate(np.random.default_rng([seed, 1]), 400, 256, 256, FPS)[1]
    labels = derive_labels(kp, body_length(256, 256), FPS)
    assert set(np.unique(labels).tolist()) == set(VOCAB.values())
    assert kp.min() >= 0 and kp.max() < 256


def test_bad_options_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="n_train >= 1"):
        synthesize(tmp_path / "x", 0, n_train=0)
    with pytest.raises(ConfigError, match="width/height >= 48"):
        synthesize(tmp_path / "x", 0, width=16)


def test_synth_and_plugin_import_without_torch():
    code = (
        "import sys, kpbench_plugins.calms21.plugin as p; light = 'cv2' not in sys.modules; "
        "import kpbench_plugins.calms21.synth; print(light, 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "False"]
