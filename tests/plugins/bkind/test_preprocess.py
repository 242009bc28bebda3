"""HSV colour-mask preprocessing: what it keeps, what it blacks out, and bad bounds."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.colors import rgb_to_hsv

from kpbench.errors import ConfigError, DataError
from kpbench_plugins.bkind.preprocess import colour_mask, make_preprocess

BLUE, NAVY, WHITE, GREY, SHADOW, RED, GREEN = (
    (0, 0, 255),
    (10, 20, 90),
    (255, 255, 255),
    (128, 128, 128),
    (30, 30, 40),  # dark, low saturation: a shadow on a white floor
    (255, 0, 0),
    (0, 200, 0),
)


def swatches(*colours) -> np.ndarray:
    """A (4, 4·n, 3) uint8 RGB image: one 4×4 patch per colour."""
    return np.concatenate([np.full((4, 4, 3), c, np.uint8) for c in colours], axis=1)


def patch(img: np.ndarray, i: int) -> np.ndarray:
    return img[:, 4 * i : 4 * i + 4]


def test_blue_kept_unchanged_white_grey_shadow_red_zeroed():
    colours = (BLUE, NAVY, WHITE, GREY, SHADOW, RED, GREEN)
    img = swatches(*colours)
    out = colour_mask(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(patch(out, 0), patch(img, 0))
    np.testing.assert_array_equal(patch(out, 1), patch(img, 1))
    for i in range(2, len(colours)):
        assert not patch(out, i).any(), f"colour {colours[i]} should be blacked out"


def test_input_is_read_as_rgb_not_bgr():
    # Pure red in RGB is pure blue in BGR: a BGR/RGB mix-up would keep it.
    img = swatches(RED, BLUE)
    out = colour_mask(img)
    assert not patch(out, 0).any()
    np.testing.assert_array_equal(patch(out, 1), patch(img, 1))


def test_custom_bounds_select_another_colour():
    img = swatches(BLUE, GREEN)
    out = colour_mask(img, lower=(35, 50, 50), upper=(85, 255, 255))
    assert not patch(out, 0).any()
    np.testing.assert_array_equal(patch(out, 1), patch(img, 1))


def test_mask_matches_an_independent_hsv_conversion():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    lower, upper = np.array([90, 50, 50]), np.array([130, 255, 255])
    hsv = rgb_to_hsv(img / 255.0) * np.array([180.0, 255.0, 255.0])
    inside = np.all((hsv >= lower) & (hsv <= upper), axis=-1)
    # OpenCV rounds H, S and V to integers: ignore pixels within one unit of a bound.
    near = np.any((np.abs(hsv - lower) <= 1) | (np.abs(hsv - upper) <= 1), axis=-1)
    out = colour_mask(img)
    assert inside.sum() > 100 and (~inside).sum() > 100
    np.testing.assert_array_equal(out.any(axis=-1)[~near], inside[~near])
    np.testing.assert_array_equal(out[inside & ~near], img[inside & ~near])


@pytest.mark.parametrize(
    ("lower", "upper", "key"),
    [
        ((90, 50), (130, 255, 255), "hsv_lower"),
        ((90, 50, 50), (200, 255, 255), "hsv_upper"),
        ((-1, 50, 50), (130, 255, 255), "hsv_lower"),
        ((90, 50, 50), (130, 255.5, 255), "hsv_upper"),
        ((90, 50, 50), "blue", "hsv_upper"),
        ((140, 50, 50), (130, 255, 255), "exceeds hsv_upper"),
    ],
)
def test_bad_bounds_are_config_errors_naming_the_key(lower, upper, key):
    with pytest.raises(ConfigError, match=key):
        colour_mask(swatches(BLUE), lower, upper)
    with pytest.raises(ConfigError, match=key):
        make_preprocess("colour_mask", lower=lower, upper=upper)


def test_bad_frames_are_data_errors():
    with pytest.raises(DataError, match=r"\(H, W, 3\)"):
        colour_mask(np.zeros((4, 4), np.uint8))
    with pytest.raises(DataError, match="uint8"):
        colour_mask(np.zeros((4, 4, 3), np.float32))


def test_make_preprocess_names():
    assert make_preprocess(None) is None
    assert make_preprocess("none", lower=[0, 0, 0]) is None
    img = swatches(BLUE, WHITE)
    for name in ("colour_mask", "color_mask", "Colour_Mask"):
        fn = make_preprocess(name, lower=[90, 50, 50], upper=[130, 255, 255])
        np.testing.assert_array_equal(fn(img), colour_mask(img))
    green = make_preprocess("colour_mask", lower=[35, 50, 50], upper=[85, 255, 255])
    assert not green(img).any()


def test_make_preprocess_rejects_unknown_names_and_parameters():
    with pytest.raises(ConfigError, match="valid: none, colour_mask"):
        make_preprocess("blur")
    with pytest.raises(ConfigError, match="unknown parameters"):
        make_preprocess("colour_mask", lowr=[0, 0, 0])


def test_real_greyscale_openfield_frame(shared_data):
    import cv2

    frame = cv2.imread(str(shared_data / "dlc_openfield_mouse/labeled-data/m4s1/img0000.png"))
    if frame is None:
        pytest.skip("openfield sample frame not present")
    rgb = np.ascontiguousarray(frame[:, :, ::-1])
    # The default blue bounds black out a grey open-field video entirely (the pitfall to know).
    assert not colour_mask(rgb).any()
    # With any hue/saturation and V >= 100, exactly the pixels whose brightest channel is >= 100 stay.
    out = colour_mask(rgb, lower=(0, 0, 100), upper=(179, 255, 255))
    keep = rgb.max(axis=-1) >= 100
    assert 0.05 < keep.mean() < 0.995
    np.testing.assert_array_equal(out[keep], rgb[keep])
    assert not out[~keep].any()
