"""The overlay video keeps every frame, whatever its size (issue #13: OpenCV dropped frames of
another size silently, 'Failed to write frame')."""

import numpy as np

from kpbench.video import VideoReader
from kpbench_plugins.bkind.export import save_overlay_video


def test_overlay_video_resizes_frames_of_another_size_with_their_keypoints(tmp_path):
    big = np.zeros((48, 64, 3), np.uint8)
    small = np.zeros((24, 32, 3), np.uint8)
    kps = np.array([[[32.0, 24.0]], [[16.0, 12.0]], [[32.0, 24.0]]])  # each frame's centre
    path = save_overlay_video(tmp_path / "o.mp4", [big, small, big], kps, fps=10.0)
    reader = VideoReader(path)
    assert (reader.num_frames, reader.width, reader.height) == (3, 64, 48)
    for _, frame in reader.iter_frames():  # the dot drawn at the centre of every frame
        assert frame[24, 32].max() > 100
