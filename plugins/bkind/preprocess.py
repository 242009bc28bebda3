"""Optional per-frame preprocessing for BKinD: the HSV colour mask ("shadow removal").

The hassan-byt0 fork of BKinD (``Remove_shadow_color.ipynb``) keeps the pixels whose HSV colour
lies in a box and blacks out everything else, shadows included. It is colour segmentation,
suited to a uniformly coloured subject (the fork used a blue pen on white paper); with the
default blue bounds, CalMS21's black and white mice would be blacked out.

Bounds use OpenCV's HSV ranges: H in 0..179 (degrees / 2), S and V in 0..255.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from kpbench.errors import ConfigError, DataError

#: Default bounds of the fork: blue (H 90..130), not too grey (S >= 50), not too dark (V >= 50).
DEFAULT_LOWER = (90, 50, 50)
DEFAULT_UPPER = (130, 255, 255)

_MAX = (179, 255, 255)
_NAMES = ("none", "colour_mask", "color_mask")


def _check_bound(value: Sequence[int], key: str) -> np.ndarray:
    """One HSV bound as a uint8 array, or a ConfigError naming ``key``."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        arr = np.empty(0)
    ok = arr.shape == (3,) and np.all(arr == np.round(arr)) and np.all(arr >= 0)
    if not ok or np.any(arr > np.array(_MAX)):
        raise ConfigError(
            f"{key}: {value!r} is not an HSV bound; give three integers [H, S, V] with "
            f"H in 0..179 and S, V in 0..255 (OpenCV ranges), e.g. {list(DEFAULT_LOWER)}"
        )
    return arr.astype(np.uint8)


def check_bounds(lower: Sequence[int], upper: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Validate a pair of HSV bounds.

    Args:
        lower: ``[H, S, V]`` lower bound (inclusive), OpenCV ranges.
        upper: ``[H, S, V]`` upper bound (inclusive), OpenCV ranges.

    Returns:
        ``(lower, upper)`` as ``uint8`` arrays of shape ``(3,)``.

    Raises:
        ConfigError: a bound is malformed or out of range (key ``hsv_lower``/``hsv_upper``), or
            ``lower`` exceeds ``upper`` in some channel (hue wrap-around is not supported).
    """
    lo, hi = _check_bound(lower, "hsv_lower"), _check_bound(upper, "hsv_upper")
    if np.any(lo > hi):
        raise ConfigError(
            f"hsv_lower {lo.tolist()} exceeds hsv_upper {hi.tolist()} in some channel; "
            "each of H, S, V needs lower <= upper (hue ranges that wrap past 179 are not supported)"
        )
    return lo, hi


def colour_mask(
    frame_rgb: np.ndarray,
    lower: Sequence[int] = DEFAULT_LOWER,
    upper: Sequence[int] = DEFAULT_UPPER,
) -> np.ndarray:
    """Keep the pixels whose HSV colour is inside ``[lower, upper]``; set the rest to black.

    Args:
        frame_rgb: ``(H, W, 3)`` ``uint8`` RGB frame.
        lower: inclusive ``[H, S, V]`` lower bound (H 0..179, S/V 0..255).
        upper: inclusive ``[H, S, V]`` upper bound.

    Returns:
        ``(H, W, 3)`` ``uint8`` RGB frame: in-range pixels unchanged, all others 0.

    Raises:
        DataError: the frame is not an ``(H, W, 3)`` ``uint8`` array.
        ConfigError: the bounds are invalid (see ``check_bounds``).
    """
    import cv2

    if not isinstance(frame_rgb, np.ndarray) or frame_rgb.ndim != 3 or frame_rgb.shape[2] != 3:
        shape = getattr(frame_rgb, "shape", type(frame_rgb).__name__)
        raise DataError(f"colour_mask: expected an (H, W, 3) RGB frame, got {shape}")
    if frame_rgb.dtype != np.uint8:
        raise DataError(f"colour_mask: expected a uint8 frame, got {frame_rgb.dtype}")
    lo, hi = check_bounds(lower, upper)
    # The reference reads BGR and uses COLOR_BGR2HSV; from RGB the matching code is RGB2HSV.
    hsv = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2HSV)
    mask = cv2.inRange(hsv, lo, hi)
    return cv2.bitwise_and(frame_rgb, frame_rgb, mask=mask)


def make_preprocess(name: str | None, **params) -> Callable[[np.ndarray], np.ndarray] | None:
    """Build the per-frame preprocessor named in the config (key ``preprocess``).

    Args:
        name: ``None`` or ``"none"`` (no preprocessing), or ``"colour_mask"`` / ``"color_mask"``.
        **params: for the colour mask, ``lower`` and ``upper`` HSV bounds (ignored for ``"none"``).

    Returns:
        A function ``(H, W, 3) uint8 RGB -> (H, W, 3) uint8 RGB``, or ``None``.

    Raises:
        ConfigError: unknown name, unknown parameter, or invalid bounds.
    """
    key = "none" if name is None else str(name).strip().lower()
    if key == "none":
        return None
    if key not in _NAMES:
        raise ConfigError(f"preprocess: unknown {name!r}; valid: none, colour_mask (or color_mask)")
    extra = sorted(set(params) - {"lower", "upper"})
    if extra:
        raise ConfigError(
            f"preprocess colour_mask: unknown parameters {extra}; valid: lower, upper"
        )
    lo, hi = check_bounds(params.get("lower", DEFAULT_LOWER), params.get("upper", DEFAULT_UPPER))
    return partial(colour_mask, lower=tuple(lo.tolist()), upper=tuple(hi.tolist()))
