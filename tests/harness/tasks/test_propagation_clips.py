"""The ``video`` dataset's real clips as propagation videos (skipped where ../shared/data is
absent): the SLEAP flies give one test segment labelled from its first frame; the DeepLabCut
mouse project gives none (its labels are stills in labeled-data, not frames of its video)."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.tasks import propagation as task

SPEC = task.kpbench_tasks()[0]


def _build(shared_data, name):
    from kpbench_plugins.video.dataset import build

    folder = shared_data / name
    if not folder.is_dir():
        pytest.skip(f"{folder} is not present")
    return build(folder)


def test_sleap_flies13_clip_gives_a_test_video_labelled_from_its_first_frame(shared_data):
    data = _build(shared_data, "sleap_flies13_clip")
    [video] = task.samples(data, "test")
    assert (video["name"], video["start"], video["keypoints"].shape) == ("clip[1200:1500]", 1200,
                                                                         (300, 26, 2))  # fmt: skip
    assert not np.isnan(video["keypoints"][0]).all() and video["frames"].width == 1024
    ev = task.select(data, dict(SPEC.options))
    assert ev.unavailable is None and ev.dims == {"F": 300, "K": 26}
    assert ev.truth["keypoint_names"][:2] == ["female_head", "female_thorax"]
    SPEC.inputs.validate(ev.inputs[0])


def test_dlc_openfield_mouse_has_no_propagation_video(shared_data):
    data = _build(shared_data, "dlc_openfield_mouse")
    assert task.samples(data, "test") == [] and task.samples(data, "train") == []
    assert "no test-split video" in task.select(data, dict(SPEC.options)).unavailable
