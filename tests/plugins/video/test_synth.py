"""Synthetic scenes: pixels agree with the truth, shadows are grey, the HSV mask keeps only the object."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.errors import ConfigError
from kpbench.video import VideoReader
from kpbench_plugins.video.synth import KEYPOINTS, render, synthesize

from .conftest import TINY

HSV_LOWER, HSV_UPPER = (90, 50, 50), (130, 255, 255)  # BKinD's default colour mask (OpenCV HSV)


def hsv_mask(image: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool: pixels kept by the default HSV bounds, as ``cv2.inRange`` computes them."""
    import cv2

    return cv2.inRange(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), HSV_LOWER, HSV_UPPER) > 0


def away_from_object(object_mask: np.ndarray, px: int) -> np.ndarray:
    """``(H, W)`` bool: pixels more than ``px`` px from the object (its anti-aliased rim excluded)."""
    import cv2

    return (
        cv2.dilate(object_mask.astype(np.uint8), np.ones((2 * px + 1, 2 * px + 1), np.uint8)) == 0
    )


def at(mask: np.ndarray, xy: np.ndarray) -> bool:
    x, y = np.round(xy).astype(int)
    return bool(mask[y, x])


@pytest.mark.parametrize("scene", ["pen", "object"])
def test_hsv_mask_keeps_object_and_drops_paper_and_shadow(scene):
    for t, frame in enumerate(render(scene, 0, **TINY)):
        if t % 15:
            continue
        keep = hsv_mask(frame.image)
        assert (
            frame.shadow_mask.sum() > 5 and frame.object_mask.sum() > 50
        )  # px; a shadow along the pen hides under it
        outside = away_from_object(frame.object_mask, 1)
        assert not keep[frame.shadow_mask & outside].any()
        assert not keep[~frame.shadow_mask & outside].any()
        assert keep[frame.object_mask].mean() > 0.97
        assert all(at(keep, kp) for kp in frame.keypoints)  # every keypoint sits on object pixels


def test_shadow_is_grey_and_moves():
    import cv2

    frames = list(render("pen", 0, **TINY))
    for f in frames[::20]:
        hsv = cv2.cvtColor(f.image, cv2.COLOR_RGB2HSV)
        shadow, paper = hsv[f.shadow_mask], hsv[~f.shadow_mask & ~f.object_mask]
        assert shadow[:, 1].mean() < 25  # grey: low saturation
        assert shadow[:, 2].mean() < paper[:, 2].mean() - 40  # and clearly darker than the paper
    centres = [np.argwhere(f.shadow_mask).mean(0) for f in frames[::15]]
    assert min(np.linalg.norm(a - b) for a, b in zip(centres, centres[1:])) > 3  # px


def test_pen_rotates_about_a_fixed_pivot_and_object_travels():
    pen = np.stack([f.keypoints for f in render("pen", 3, **TINY)])
    obj = np.stack([f.keypoints for f in render("object", 3, **TINY)])
    pivot = KEYPOINTS.index("pivot")
    assert np.ptp(pen[:, pivot], axis=0).max() < 1e-3
    angles = np.unwrap(np.arctan2(*(pen[:, 0] - pen[:, pivot]).T[::-1]))
    assert abs(angles[-1] - angles[0]) > np.pi  # more than half a turn
    assert np.ptp(obj[:, pivot], axis=0).min() > 10  # the object is dragged around (px)
    for kp in (pen, obj):
        assert (kp >= 0).all() and (kp < 96).all()  # stays in the 96 × 96 frame


def test_video_and_slp_hold_the_rendered_truth(pen_clip):
    import sleap_io as sio

    reader = VideoReader(pen_clip / "pen.mp4")
    assert (reader.num_frames, reader.width, reader.height) == (60, 96, 96)
    labels = sio.load_slp(str(pen_clip / "pen.slp"), open_videos=False)
    assert labels.skeletons[0].node_names == list(KEYPOINTS) and len(labels.labeled_frames) == 60
    assert labels.videos[0].filename.endswith("pen.mp4")
    truth = list(render("pen", 0, **TINY))
    np.testing.assert_allclose(
        labels.numpy()[:, 0], np.stack([f.keypoints for f in truth]), atol=1e-4
    )
    for t, image in reader.iter_frames(
        [0, 30, 59]
    ):  # decoded frames: the tip still sits on blue pixels
        keep = hsv_mask(image)
        assert at(keep, truth[t].keypoints[KEYPOINTS.index("tip")])
        outside = away_from_object(
            truth[t].object_mask, 3
        )  # mp4v halves chroma resolution near edges
        assert (
            truth[t].shadow_mask[outside].sum() > 20
            and not keep[truth[t].shadow_mask & outside].any()
        )
        assert not keep[outside].any()
        assert (
            np.abs(image.astype(int) - truth[t].image).mean() < 4
        )  # grey levels, mp4v at default quality


def test_deterministic_per_seed():
    a, b, c = (list(render("object", s, frames=5, width=64, height=64)) for s in (1, 1, 2))
    assert all(
        np.array_equal(x.image, y.image) and np.array_equal(x.keypoints, y.keypoints)
        for x, y in zip(a, b)
    )
    assert not np.allclose(a[0].keypoints, c[0].keypoints)


def test_all_scenes_and_colour(tmp_path):
    out = synthesize(tmp_path / "all", 0, scene="all", frames=8, width=64, height=64, colour="red")
    assert sorted(p.name for p in out.iterdir()) == [
        "object.mp4",
        "object.slp",
        "pen.mp4",
        "pen.slp",
    ]
    frame = next(render("pen", 0, frames=1, width=64, height=64, colour="red"))
    assert not hsv_mask(frame.image).any()  # a red pen is not kept by the blue bounds
    assert frame.image[frame.object_mask].mean(0)[0] > 150  # it is red


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"scene": "cube"}, "scene='cube'"),
        ({"width": 95}, "width=95: must be an even"),
        ({"frames": 1}, "frames=1"),
        ({"colour": "mauve"}, "colour='mauve'"),
        ({"colour": [300, 0, 0]}, "RGB colour"),
    ],
)
def test_bad_options(tmp_path, options, problem):
    with pytest.raises(ConfigError, match=problem):
        synthesize(tmp_path / "x", 0, **options)
    assert not (tmp_path / "x").exists()
