"""``discovery2d`` metrics: how well discovered keypoints predict annotated ones (BKinD protocol).

Discovered keypoints have no names, so they are scored through a linear regression to the
annotated joints, as in BKinD (``regressor/regression.py``: ``Ridge(alpha=0,
fit_intercept=False)``), i.e. least squares **without bias** from the K×2 discovered to the
J×2 annotated coordinates. The regression is fitted on the ``fit_*`` frames and scored on the
held-out ``test_*`` frames of the ``discovery2d`` evaluation record (its keys are documented in
:func:`kpbench.tasks.discovery2d.evaluation`).

**Coordinate frame.** Without a bias term the origin of the coordinates changes the result,
so it is part of the protocol (``regression_origin`` in the evaluation record):

* ``"centre"`` (the default, BKinD's): coordinates are centred, ``u = 2·x/W − 1`` and
  ``v = 2·y/H − 1`` in [-1, 1], as the reference's soft-argmax outputs and its H3.6M
  evaluation (``test_simplehuman36m.py``) regress them; the regressed joints are mapped back
  with ``(u + 1) / 2`` before the error is taken, so errors stay fractions of the image side.
* ``"corner"`` (kpbench 0.1's protocol, kept selectable): ``(x/W, y/H)`` in [0, 1].

Errors are L2 distances in ``(x/W, y/H)`` units: for the square-resized frames of the paper,
×100 this is its unit, "% of image size". BKinD's code only has the Human3.6M regression; the
CalMS21 frames and normaliser are not published, so kpbench fixes them: fit on train-split
labelled frames, score on test-split labelled frames, normalise by ``(W, H)`` of the originals.

Every metric is a pure function of the evaluation record; the baselines
(:func:`random_keypoints`, :func:`grid_keypoints`) are predictions, scored by the same code.
"""

from __future__ import annotations

import numpy as np

_KEYS = ("fit_discovered", "fit_annotated", "test_discovered", "test_annotated")
ORIGINS = ("centre", "corner")
DiscoveryEvaluation = dict  # the record's form is documented in kpbench.tasks.discovery2d


def normalise(
    points: np.ndarray, image_size: tuple[int, int], origin: str = "corner"
) -> np.ndarray:
    """Pixel coordinates to fractions of the image size.

    ``origin="corner"``: ``(x / W, y / H)`` in [0, 1]. ``origin="centre"``: ``2·(x/W, y/H) − 1``
    in [-1, 1] (BKinD's frame). For square frames an error in corner units ×100 is the paper's
    "% of image size"; for non-square frames each axis is a fraction of its own side.

    Args:
        points: ``(..., 2)`` px ``(x, y)``.
        image_size: ``(W, H)`` px.
        origin: ``"corner"`` or ``"centre"``.

    Returns:
        ``(..., 2)`` normalised coordinates (NaN stays NaN).
    """
    unit = np.asarray(points, dtype=np.float64) / _size(image_size)
    if origin == "corner":
        return unit
    if origin == "centre":
        return unit * 2.0 - 1.0
    raise ValueError(f"regression_origin {origin!r}: expected one of {', '.join(ORIGINS)}")


def _size(image_size) -> np.ndarray:
    size = np.asarray(image_size, dtype=np.float64)
    if size.shape != (2,) or not np.all(size > 0):
        raise ValueError(f"image_size must be (W, H) with W, H > 0 px, got {image_size!r}")
    return size


def fit_regression(discovered: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """Least squares without bias from discovered to annotated coordinates.

    Both arrays are flattened per frame, ``(N, 2K)`` and ``(N, 2J)`` with ``(x, y)`` interleaved,
    and each output column is solved on its own with ``scipy.linalg.lstsq`` using only the
    frames where that coordinate is labelled (not NaN). A column labelled on fewer than 2K
    frames cannot be fitted: its weights are NaN (see :func:`excluded_joints`). Pass
    normalised coordinates (:func:`normalise`) to follow the protocol.

    Args:
        discovered: ``(N, K, 2)`` discovered keypoints, all finite.
        annotated: ``(N, J, 2)`` annotated joints, NaN where not labelled.

    Returns:
        ``W`` of shape ``(2K, 2J)``: ``annotated.reshape(N, -1) ≈ discovered.reshape(N, -1) @ W``,
        NaN columns for coordinates labelled on too few frames.

    Raises:
        ValueError: on mismatched shapes or non-finite discovered keypoints.
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
    w = np.full((x.shape[1], y.shape[1]), np.nan)
    for col in range(y.shape[1]):
        rows = np.isfinite(y[:, col])
        if rows.sum() >= x.shape[1]:
            w[:, col] = lstsq(x[rows], y[rows, col])[0]
    return w


def excluded_joints(ev: DiscoveryEvaluation) -> dict[str, str]:
    """Joints left out of the regression and its metrics, ``{name: why}``.

    A joint is left out when its x or y is labelled on fewer fit frames than the regression
    from K discovered keypoints has unknowns (2K). Names are ``keypoint_names`` where the record
    has them, else ``joint_<j>``.
    """
    _check(ev)
    k2 = 2 * np.shape(ev["fit_discovered"])[1]
    ann = np.asarray(ev["fit_annotated"], np.float64)
    counts = np.isfinite(ann).sum(axis=0).min(axis=-1)  # (J,): the fewer of x and y
    names = _joint_names(ev, ann.shape[1])
    return {
        names[j]: f"joint {names[j]} excluded: labelled on {int(n)} fit frames, the regression "
        f"from K={k2 // 2} keypoints needs ≥ {k2}"
        for j, n in enumerate(counts)
        if n < k2
    }


def _joint_names(ev: DiscoveryEvaluation, j: int) -> list[str]:
    names = [str(n) for n in (ev.get("keypoint_names") or [])]
    return names if len(names) == j else [f"joint_{i}" for i in range(j)]


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
        ``(pred, target)``, both ``(N2, J, 2)`` as fractions of ``(W, H)`` (corner origin,
        whichever ``regression_origin`` the fit used); ``target`` keeps NaN where a joint is
        not labelled; ``pred`` is NaN for joints the regression left out
        (:func:`excluded_joints`).
    """
    _check(ev)
    size, origin = ev["image_size"], ev.get("regression_origin", "centre")
    w = fit_regression(
        normalise(ev["fit_discovered"], size, origin), normalise(ev["fit_annotated"], size, origin)
    )
    test = normalise(ev["test_discovered"], size, origin)
    if not np.all(np.isfinite(test)):
        raise ValueError("regress: test_discovered contains NaN or inf; every frame needs all K")
    target = normalise(ev["test_annotated"], size)
    pred = (test.reshape(len(test), -1) @ w).reshape(target.shape)
    return (pred + 1.0) / 2.0 if origin == "centre" else pred, target


def _distances(ev: DiscoveryEvaluation, px: bool = False) -> np.ndarray:
    """L2 distance per labelled test (frame, joint) of the joints the regression could fit,
    normalised (or px), as a flat array."""
    pred, target = regress(ev)
    if px:
        size = _size(ev["image_size"])
        pred, target = pred * size, target * size
    labelled = ~np.isnan(target).any(axis=-1)
    if not labelled.any():
        raise ValueError("discovery evaluation: test_annotated has no labelled joint to score")
    scored = labelled & ~np.isnan(pred).any(axis=-1)
    if not scored.any():
        excluded = excluded_joints(ev)
        raise ValueError(
            "discovery evaluation: no labelled test joint can be regressed ("
            + "; ".join(excluded.values())
            + "); label these joints on more train-split frames, raise max_fit_frames or "
            "discover fewer keypoints"
        )
    return np.linalg.norm(pred - target, axis=-1)[scored]


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


def random_keypoints(n: int, k: int, image_size: tuple[int, int], seed: int) -> np.ndarray:
    """The random baseline: ``(n, k, 2)`` px drawn uniformly in ``[0, W) × [0, H)``.

    Each frame and keypoint gets its own point from ``numpy.random.default_rng(seed)``; the same
    seed gives the same points (frames in order, so the first frames are the fit frames).
    """
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 1.0, (int(n), int(k), 2)) * _size(image_size)


def grid_keypoints(n: int, k: int, image_size: tuple[int, int]) -> np.ndarray:
    """The grid baseline: ``(n, k, 2)`` px, the same K points in every frame.

    The K points are the first K cell centres (row-major) of a ``ceil(sqrt(K))``-column grid
    covering the image. With inputs that never change, a regression without bias can only
    predict one constant pose: least squares makes it the mean labelled pose of the fit frames
    (in the regression's coordinate frame), so this baseline is the "mean pose" error.
    """
    size = _size(image_size)
    cols = int(np.ceil(np.sqrt(k)))
    rows = int(np.ceil(k / cols))
    i = np.arange(k)
    grid = np.stack([(i % cols + 0.5) / cols, (i // cols + 0.5) / rows], axis=-1) * size
    return np.broadcast_to(grid, (int(n), int(k), 2)).copy()


def per_joint(ev: DiscoveryEvaluation, fn, **kwargs) -> list[float]:
    """``fn`` (a metric above) restricted to each annotated joint in turn.

    The regression is the same one (the fit frames are untouched); only the scored test
    joints change. A joint with no labelled test frame, or left out of the regression
    (:func:`excluded_joints`), gets NaN.

    Returns:
        One value per annotated joint, in order.
    """
    _check(ev)
    target = np.asarray(ev["test_annotated"], np.float64)
    names, excluded = _joint_names(ev, target.shape[1]), excluded_joints(ev)
    out = []
    for j in range(target.shape[1]):
        only = np.full_like(target, np.nan)
        only[:, j] = target[:, j]
        if names[j] in excluded or np.isnan(only[:, j]).any(axis=-1).all():
            out.append(float("nan"))
            continue
        out.append(float(fn({**ev, "test_annotated": only}, **kwargs)))
    return out
