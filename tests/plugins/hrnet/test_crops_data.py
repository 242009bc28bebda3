"""Top-down crops and HRNet's training samples: geometry, labels following pixels, determinism,
and predictions mapped back to the original frame."""

from __future__ import annotations

import numpy as np
import pytest

from kpbench.config import resolve
from kpbench.dataset import LabeledFrame
from kpbench.plugins import get_registry
from kpbench_plugins.hrnet import crops
from kpbench_plugins.hrnet.data import TrainCrops, flip, upper_body
from kpbench_plugins.hrnet.heatmaps import gaussian_targets

NAMES = ["left_eye", "right_eye", "nose", "tail"]
COLOURS = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]], np.uint8)


def config(**over) -> dict:
    return resolve(get_registry().method("hrnet"), "smoke", None, over)[0]


def test_box_is_padded_to_the_input_aspect_then_enlarged():
    center, size = crops.box_to_center_size(np.array([10, 20, 30, 60]), aspect=0.75)
    np.testing.assert_allclose(center, [25, 50])
    np.testing.assert_allclose(size, [45 * 1.25, 60 * 1.25])  # w grows to 0.75 · h
    _, size = crops.box_to_center_size(np.array([0, 0, 80, 20]), aspect=1.0, padding=1.0)
    np.testing.assert_allclose(size, [80, 80])


def test_crop_matrix_maps_the_box_onto_the_input_and_back():
    center, size = np.array([100.0, 50.0]), np.array([60.0, 80.0])
    m = crops.crop_matrix(center, size, (48, 64))
    np.testing.assert_allclose(crops.transform(center, m), [24, 32])
    np.testing.assert_allclose(crops.transform(center + [30, 40], m), [48, 64])
    pts = np.random.default_rng(0).uniform(0, 200, (5, 2))
    np.testing.assert_allclose(crops.transform(crops.transform(pts, m), crops.invert(m)), pts)
    r = crops.crop_matrix(center, size, (48, 64), rotation=90)  # counter-clockwise
    np.testing.assert_allclose(crops.transform(center + [10, 0], r), [24, 32 - 8], atol=1e-9)


def _frame(rng, size=(200, 150)) -> LabeledFrame:
    w, h = size
    img = (rng.uniform(0, 60, (h // 10, w // 10, 3))).astype(np.uint8)
    import cv2

    img = cv2.resize(img, (w, h), interpolation=cv2.INTER_CUBIC)
    kp = np.array([[80.0, 60.0], [110.0, 62.0], [95.0, 80.0], [96.0, 115.0]])
    kp += rng.uniform(-5, 5, kp.shape)
    for (x, y), c in zip(kp.round().astype(int), COLOURS):
        img[y - 3 : y + 4, x - 3 : x + 4] = c
    return LabeledFrame("frame.png", kp.astype(np.float32), (w, h), lambda: img.copy())


def test_context_crops_give_the_crop_a_full_frame_warp_gives():
    frame = _frame(np.random.default_rng(1))
    c = config(scale_factor=0.0, rotation_prob=0.0, flip=False, half_body_prob=0.0,
               image_size=[64, 96])  # fmt: skip
    ds = TrainCrops([frame], c, [(0, 1)], upper_body(NAMES))
    got, points = ds.sample(0, np.random.default_rng(0))
    center, size = crops.box_to_center_size(frame.bbox(), 64 / 96, c["padding"])
    m = crops.crop_matrix(center, size, (64, 96))
    want = crops.warp(frame.load(), m, (64, 96))
    np.testing.assert_allclose(points, crops.transform(frame.keypoints, m))
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.mean() < 2.0 and np.percentile(diff, 99) < 40


def test_augmented_labels_follow_their_pixels_and_flips_swap_pairs():
    frame = _frame(np.random.default_rng(2))
    c = config(image_size=[96, 96], half_body_prob=0.0)
    ds = TrainCrops([frame], c, [(0, 1)], upper_body(NAMES), seed=5)
    kinds = set()
    for s in range(24):
        image, points = ds.sample(0, np.random.default_rng(s))
        at = [image[int(round(y)), int(round(x))] for x, y in points]
        swapped = np.abs(at[0].astype(int) - COLOURS[1]).max() < 80
        kinds.add(swapped)
        for j, colour in enumerate(COLOURS):
            want = COLOURS[{0: 1, 1: 0}.get(j, j)] if swapped else colour
            assert np.abs(at[j].astype(int) - want).max() < 80, (s, j, at[j], want)
    assert kinds == {False, True}  # both flipped and unflipped samples were drawn


def test_samples_are_reproducible_per_epoch_and_change_across_epochs():
    frame = _frame(np.random.default_rng(3))
    ds = TrainCrops([frame], config(), [(0, 1)], upper_body(NAMES), seed=1)
    a = ds[0][0]
    assert (ds[0][0] == a).all()
    ds.set_epoch(1)
    b = ds[0][0]
    assert not (b == a).all()
    ds.set_epoch(1, repeat=1)  # a further pass within one epoch draws afresh
    assert not (ds[0][0] == b).all()
    image, target, weight = ds[0]
    assert image.shape == (3, 64, 64) and target.shape == (4, 16, 16) and weight.shape == (4,)


def test_flip_mirrors_pixels_and_points_with_torchvision_v2():
    img = np.zeros((4, 6, 3), np.uint8)
    img[1, 0] = 255
    out, pts = flip(img, np.array([[0.0, 1.0], [5.0, 2.0], [2.0, 3.0]]), [(0, 1)])
    assert out[1, 5].tolist() == [255, 255, 255]
    np.testing.assert_allclose(pts, [[0.0, 2.0], [5.0, 1.0], [3.0, 3.0]])


def test_upper_body_names():
    coco = ["nose", "left_eye", "left_shoulder", "left_wrist", "left_hip", "left_ankle"]
    assert upper_body(coco).tolist() == [True, True, True, True, False, False]


def test_predict_maps_heatmap_peaks_back_to_frame_pixels(monkeypatch):
    spec = get_registry().method("hrnet")
    method = spec.build(config(image_size=[64, 96]), num_keypoints=4)
    rng = np.random.default_rng(4)
    frames = [_frame(rng, (200 + 40 * i, 150)) for i in range(3)]
    truth = np.stack([f.keypoints for f in frames]).astype(np.float64)
    inputs = [{"source": f"f{i}", "load": f.load, "box": f.bbox(), "image_size": f.image_size,
               "instance": None} for i, f in enumerate(frames)]  # fmt: skip
    scales = []

    def perfect(batch):
        maps = []
        for kp, f in zip(truth, frames):
            center, size = crops.box_to_center_size(f.bbox(), 64 / 96, 1.25)
            scales.append(size[0] / 64)
            xy = crops.transform(kp, crops.crop_matrix(center, size, (64, 96))) / 4
            maps.append(gaussian_targets(xy, np.ones(4), (16, 24), 1)[0])
        return np.stack(maps)

    monkeypatch.setattr(method, "heatmaps", perfect)
    out = method.predict(inputs, ctx=None)
    err = np.abs(out["keypoints"] - truth)
    assert out["keypoints"].shape == (3, 4, 2) and out["scores"].shape == (3, 4)
    assert (err <= 2.0 * np.array(scales)[:, None, None] + 1e-9).all()  # ≤ half a heatmap px
    assert err.max() > 0  # the quantised target really was decoded, not copied


@pytest.mark.parametrize("size", [[64, 80], [100, 128]])
def test_input_sizes_must_be_multiples_of_32(size):
    from kpbench.errors import ConfigError

    with pytest.raises(ConfigError, match="divisible by 32"):
        get_registry().method("hrnet").build(config(image_size=size), num_keypoints=4)
