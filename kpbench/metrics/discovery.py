"""``discovery2d`` metrics: how well discovered keypoints predict annotated ones (BKinD protocol).

Discovered keypoints have no names, so they are scored through a linear regression to the
annotated joints, as in BKinD (``regressor/regression.py``: ``Ridge(alpha=0,
fit_intercept=False)``), i.e. least squares **without bias** from the K×2 discovered to the
J×2 annotated coordinates. The regression is fitted on the ``fit_*`` frames and scored on the
held-out ``test_*`` frames of a :class:`kpbench.types.DiscoveryEvaluation`.

Coordinates are normalised by the image size, ``(x / W, y / H)``, before the fit. For the
square-resized frames of the paper this is its unit, "% of image size". BKinD's code only has
the Human3.6M regression; the CalMS21 regression protocol (frames, normaliser) is not published,
so kpbench fixes this one: fit on train-split labelled frames, score on test-split labelled
frames, normalise by ``(W, H)`` of the original frames.

Every metric is a pure function of the evaluation record; the two baselines build records of
the same form, so a method and its baselines are scored by the same code.
"""

from __future__ import annotations

import numpy as np

from kpbench.types import DiscoveryEvaluation

_KEYS = ("fit_discovered", "fit_annotated", "test_discovered", "test_annotated")


def normalise(points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    """Pixel coordinates to fractions of the image size.

    ``(x / W, y / H)``: for square frames (as BKinD resizes them) an error in these units ×100 is
    the paper's "% of image size"; for non-square frames each axis is a fraction of its own side.

    Args:
        points: ``(..., 2)`` px ``(x, y)``.
        image_size: ``(W, H)`` px.

    Returns:
        ``(..., 2)`` in [0, 1] for points inside the image (NaN stays NaN).
    """
    return np.asarray(points, dtype=np.float64) / _size(image_size)


def _size(image_size) -> np.ndarray:
    size = np.asarray(image_size, dtype=np.float64)
    if size.shape != (2,) or not np.all(size > 0):
        raise ValueError(f"image_size must be (W, H) with W, H > 0 px, got {image_size!r}")
    return size


def fit_regression(discovered: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """Least squares without bias from discovered to annotated coordinates.

    Both arrays are flattened per frame, ``(N, 2K)`` and ``(N, 2J)`` with ``(x, y)`` interleaved,
    and each output column is solved on its own with ``scipy.linalg.lstsq`` using only the
    frames where that coordinate is labelled (not NaN). Pass normalised coordinates
    (:func:`normalise`) to follow the protocol.

    Args:
        discovered: ``(N, K, 2)`` discovered keypoints, all finite.
        annotated: ``(N, J, 2)`` annotated joints, NaN where not labelled.

    Returns:
        ``W`` of shape ``(2K, 2J)``: ``annotated.reshape(N, -1) ≈ discovered.reshape(N, -1) @ W``.

    Raises:
        ValueError: on mismatched shapes, non-finite discovered keypoints, or a target
            coordinate labelled on fewer than 2K frames.
    """
    from scipy.linalg import lstsq

    x, y = np.asarray(discovered, np.float64), np.asarray(annotated, np.float64)
    if x.ndim != 3 or y.ndim != 3 or x.shape[2] != 2 or y.shape[2] != 2 or len(x) != len(y):
        raise ValueError(
            f"fit_regression: need discovered (N, K, 2) and annotated (N, J, 2) for the same N "
            f"frames, got {x.shape} and {y.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError(
            "fit_regression: discovered keypoints contain NaN or inf; every frame needs all K"
        )
    x, y = x.reshape(len(x), -1), y.reshape(len(y), -1)
    w = np.empty((x.shape[1], y.shape[1]))
    for col in range(y.shape[1]):
        rows = ~np.isnan(y[:, col])
        if rows.sum() < x.shape[1]:
            raise ValueError(
                f"fit_regression: joint {col // 2} {'xy'[col % 2]} is labelled on {rows.sum()} fit "
                f"frames; the regression from K={x.shape[1] // 2} keypoints needs at least "
                f"{x.shape[1]} (use more fit frames or fewer keypoints)"
            )
        w[:, col] = lstsq(x[rows], y[rows, col])[0]
    return w


def _check(ev: DiscoveryEvaluation) -> None:
    missing = [k for k in (*_KEYS, "image_size") if k not in ev]
    if missing:
        raise ValueError(f"discovery evaluation lacks {', '.join(missing)}")
    fd, fa, td, ta = (np.shape(ev[k]) for k in _KEYS)
    ok = all(len(s) == 3 and s[2] == 2 for s in (fd, fa, td, ta))
    # same N1 (fit), same N2 (test), same K (discovered), same J (annotated)
    if not (ok and fd[0] == fa[0] and td[0] == ta[0] and fd[1] == td[1] and fa[1] == ta[1]):
        raise ValueError(
            "discovery evaluation shapes disagree: need fit_discovered (N1, K, 2), fit_annotated "
            f"(N1, J, 2), test_discovered (N2, K, 2), test_annotated (N2, J, 2); got {fd}, {fa}, {td}, {ta}"
        )


def regress(ev: DiscoveryEvaluation) -> tuple[np.ndarray, np.ndarray]:
    """Fit the regression on the fit frames and predict the test frames, in normalised coordinates.

    Args:
        ev: the evaluation record (px).

    Returns:
        ``(pred, target)``, both ``(N2, J, 2)`` as fractions of ``(W, H)``; ``target`` keeps NaN
        where a joint is not labelled.
    """
    _check(ev)
    size = ev["image_size"]
    w = fit_regression(normalise(ev["fit_discovered"], size), normalise(ev["fit_annotated"], size))
    test = normalise(ev["test_discovered"], size)
    if not np.all(np.isfinite(test)):
        raise ValueError("regress: test_discovered contains NaN or inf; every frame needs all K")
    target = normalise(ev["test_annotated"], size)
    return (test.reshape(len(test), -1) @ w).reshape(target.shape), target


def _distances(ev: DiscoveryEvaluation, px: bool = False) -> np.ndarray:
    """L2 distance per labelled test (frame, joint), normalised (or px), as a flat array."""
    pred, target = regress(ev)
    if px:
        size = _size(ev["image_size"])
        pred, target = pred * size, target * size
    labelled = ~np.isnan(target).any(axis=-1)
    if not labelled.any():
        raise ValueError("discovery evaluation: test_annotated has no labelled joint to score")
    return np.linalg.norm(pred - target, axis=-1)[labelled]


def regression_error_percent(ev: DiscoveryEvaluation) -> float:
    """Mean L2 error of the regressed joints, in % of the image size (BKinD's regression error).

    Definition: mean over labelled test (frame, joint) of ``||pred - target||₂`` in
    coordinates normalised by ``(W, H)``, ×100. Lower is better.

    Args:
        ev: the evaluation record.

    Returns:
        Error, % of image size.
    """
    return float(100.0 * _distances(ev).mean())


def regression_error_px(ev: DiscoveryEvaluation) -> float:
    """Mean L2 error of the regressed joints, in pixels of the original frame.

    Definition: the regression is fitted in normalised coordinates, its predictions scaled back
    by ``(W, H)``; mean over labelled test (frame, joint) of ``||pred - target||₂`` px.

    Args:
        ev: the evaluation record.

    Returns:
        Error, px.
    """
    return float(_distances(ev, px=True).mean())


def pck_after_regression(ev: DiscoveryEvaluation, alpha: float) -> float:
    """Percentage of correct keypoints after the regression.

    Definition: % of labelled test (frame, joint) whose regressed prediction lies within
    ``alpha`` of the annotation, L2 in coordinates normalised by ``(W, H)``. Higher is better.

    Args:
        ev: the evaluation record.
        alpha: threshold, fraction of the image size (e.g. 0.05).

    Returns:
        PCK, %.
    """
    return float(100.0 * np.mean(_distances(ev) <= alpha))


def baseline_random(ev: DiscoveryEvaluation, seed: int) -> DiscoveryEvaluation:
    """``ev`` with the discovered keypoints replaced by uniformly random points in the image.

    Each frame and keypoint gets its own point, drawn uniformly in ``[0, W) × [0, H)`` px with
    ``numpy.random.default_rng(seed)``; the same seed gives the same points.

    Args:
        ev: the evaluation record (its K and frame counts are kept).
        seed: random seed.

    Returns:
        A new evaluation record (the annotations are shared, not copied).
    """
    _check(ev)
    rng = np.random.default_rng(seed)
    size = _size(ev["image_size"])
    out = _copy(ev)
    for key in ("fit_discovered", "test_discovered"):
        out[key] = rng.uniform(0.0, 1.0, np.shape(ev[key])) * size
    return out


def baseline_grid(ev: DiscoveryEvaluation) -> DiscoveryEvaluation:
    """``ev`` with the discovered keypoints fixed at a regular grid over the image.

    The K points are the first K cell centres (row-major) of a ``ceil(sqrt(K))``-column grid
    covering the image, the same in every frame. With inputs that never change, a regression
    without bias can only predict one constant pose: least squares makes it the mean labelled
    pose of the fit frames, so this baseline is the "mean pose" error.

    Args:
        ev: the evaluation record (its K and frame counts are kept).

    Returns:
        A new evaluation record (the annotations are shared, not copied).
    """
    _check(ev)
    size = _size(ev["image_size"])
    k = np.shape(ev["fit_discovered"])[1]
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    i = np.arange(k)
    grid = np.stack([(i % cols + 0.5) / cols, (i // cols + 0.5) / rows], axis=-1) * size
    out = _copy(ev)
    for key in ("fit_discovered", "test_discovered"):
        out[key] = np.broadcast_to(grid, np.shape(ev[key])).copy()
    return out


def _copy(ev: DiscoveryEvaluation) -> DiscoveryEvaluation:
    return DiscoveryEvaluation(
        fit_discovered=ev["fit_discovered"],
        fit_annotated=ev["fit_annotated"],
        test_discovered=ev["test_discovered"],
        test_annotated=ev["test_annotated"],
        image_size=tuple(ev["image_size"]),
    )
