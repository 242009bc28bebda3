"""The ``actions`` twin: small videos of two actions with per-frame phases and progress (TCC).

``kpbench data synth actions --out DIR`` writes one folder per action, each holding ``videos``
clips of that action, so the ``video`` loader (``kpbench run --dataset actions|video``) reads
one ``alignment`` set per action:

* ``pour`` (5 phases, like TCC's Pouring): an arm hinged at a shoulder lifts a cup from the
  table to above a glass (``lift``), tips the cup towards the glass (``tilt``, 0 → 60°), pours
  (``pour``, 60 → 115°, a stream falls and the glass fills), tips it back upright (``untilt``,
  the glass stays full) and lowers it to the table (``lower``).
* ``pen_rotate`` (4 phases): a pen pinned a quarter of its length from its back end turns
  clockwise one full turn from pointing up; the phases are its quarters (``up_to_right``,
  ``right_to_down``, ``down_to_left``, ``left_to_up``).

**Progress and phases.** The action's own clock ``u`` runs from 0 to 1 with the phases in equal
shares (phase ``p`` = ``[p/n, (p+1)/n)`` of ``u``); within a phase the motion eases in and out.
Every clip plays the action at its own pace: a random number of frames in
``[min_frames, max_frames]``, idle frames before the start (0–20 % of the clip, ``u = 0``, the
first phase), a speed that wanders (``u`` advances by ``exp(0.6 · smooth noise)`` per frame) and
one or two pauses (``u`` held for 2 to 8 % of the clip's frames). ``progress`` = ``u``; the
phase is the share ``u`` is in (``u = 1`` in the last).

**Looks.** Each clip has its own actor (colour, size) on its own background: a uniform light
colour, a gradient between two, or a low-frequency noise texture, plus mild sensor noise per
frame, seen by its own camera: the scene zoomed by a factor in ``ZOOM`` (0.75–1.25) about the
frame's centre and shifted by up to ``SHIFT`` (15 %) of the frame each way, as Pouring's and
Penn Action's videos are filmed from different places. Every look is drawn per clip, so no
test clip's actor, background or framing appears in training. Actors are dark and backgrounds
light, so the action shows in coarse grey pixels (the alignment task's ``raw`` baseline), but
not at one fixed place in the frame.

**Files.** ``DIR/<action>/<action>_<i>.mp4`` (mp4v, checked to decode back with every frame) and
``<action>_<i>.phases.csv`` (``frame,phase,progress``; phase = the phase's name), and
``DIR/README.md`` describing the layout. Deterministic for a seed: clip ``i`` of an action
depends only on ``(seed, action, i)``. Drawn at 4× the size with OpenCV and shrunk with
``INTER_AREA`` (smooth sub-pixel motion). The defaults (2 × 30 clips of 40–80 frames at
64 × 64; with the loader's ``test_fraction`` 0.2, 24 train and 6 test clips per action, enough
test clips for a stable phase accuracy) take about 3 s on a CPU and under 2 MB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kpbench.errors import ConfigError, DataError

PHASES = {
    "pour": ("lift", "tilt", "pour", "untilt", "lower"),
    "pen_rotate": ("up_to_right", "right_to_down", "down_to_left", "left_to_up"),
}
SS = 4  # supersampling factor of the drawing
ZOOM = (0.75, 1.25)  # the camera: zoom about the frame centre
SHIFT = 0.15  # and shift, as a fraction of the frame size


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    """RGB 0..255 of hue (0..1), saturation and value (0..1)."""
    import colorsys

    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), np.float32) * 255


def _background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB: a uniform light colour, a gradient, or a noise texture."""
    import cv2

    base = _hsv(rng.uniform(), rng.uniform(0, 0.3), rng.uniform(0.72, 0.92))
    kind = int(rng.integers(3))
    if kind == 0:
        return np.broadcast_to(base, (h, w, 3)).astype(np.float32)
    if kind == 1:
        other = _hsv(rng.uniform(), rng.uniform(0, 0.3), rng.uniform(0.72, 0.92))
        a = rng.uniform(0, 2 * np.pi)
        ys, xs = np.mgrid[0:h, 0:w] / max(w, h)
        t = (np.cos(a) * xs + np.sin(a) * ys)[..., None]
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-9)
        return (base * (1 - t) + other * t).astype(np.float32)
    low = rng.normal(0, 1, (max(2, h // 8), max(2, w // 8), 3))
    low = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    return (base + 12.0 * low).astype(np.float32)


def _smooth_noise(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smooth random signal of about unit size over ``n`` steps (a sum of slow sines)."""
    u = np.arange(n) / max(n, 1)
    freq, phase = rng.uniform(0.5, 2.0, 3), rng.uniform(0, 2 * np.pi, 3)
    return np.sin(2 * np.pi * freq[:, None] * u + phase[:, None]).mean(0) * 1.5


def timeline(rng: np.random.Generator, frames: int) -> np.ndarray:
    """``(frames,)`` progress ``u``: idle zeros, then a wandering pace with one or two pauses."""
    idle = int(rng.integers(0, int(0.2 * frames) + 1))
    pauses = [
        int(rng.integers(2, max(3, int(0.08 * frames)) + 1)) for _ in range(rng.integers(1, 3))
    ]
    moving = frames - idle - sum(pauses)
    step = np.exp(0.6 * _smooth_noise(rng, moving - 1))
    u = np.concatenate([[0.0], np.cumsum(step)])
    u /= u[-1]
    at = np.sort(rng.integers(1, moving - 1, len(pauses)))
    held = np.repeat(np.arange(moving), 1 + np.bincount(at, pauses, moving).astype(int))
    return np.concatenate([np.zeros(idle), u[held]])


def phase_of(u: np.ndarray, n: int) -> np.ndarray:
    """Phase index of progress ``u`` for ``n`` equal phases (``u = 1`` is in the last)."""
    return np.minimum((np.asarray(u) * n).astype(np.int64), n - 1)


def _ease(x: float) -> float:
    return x * x * (3 - 2 * x)


def _segment(u: float, n: int) -> tuple[int, float]:
    """Phase of ``u`` and the eased fraction through it."""
    p = int(phase_of(np.array([u]), n)[0])
    return p, _ease(float(np.clip(u * n - p, 0.0, 1.0)))


def _c(rgb) -> tuple[float, float, float]:
    """A colour as OpenCV wants it."""
    return tuple(float(v) for v in rgb)


def _p(point, cam) -> tuple[int, int]:
    """A scene point (float px) through the clip's camera, on the supersampled canvas."""
    x, y = (cam["centre"] + cam["zoom"] * (np.asarray(point) - cam["centre"]) + cam["offset"]) * SS
    return int(round(x)), int(round(y))


def _line(img, a, b, rgb, width: float, cam) -> None:
    import cv2

    thick = max(1, int(width * cam["zoom"] * SS))
    cv2.line(img, _p(a, cam), _p(b, cam), _c(rgb), thick, cv2.LINE_AA)


def _box(img, a, b, rgb, cam) -> None:
    import cv2

    cv2.rectangle(img, _p(a, cam), _p(b, cam), _c(rgb), -1)


def _disc(img, centre, radius: float, rgb, cam) -> None:
    import cv2

    r = max(1, int(radius * cam["zoom"] * SS))
    cv2.circle(img, _p(centre, cam), r, _c(rgb), -1, cv2.LINE_AA)


def _draw_pour(img: np.ndarray, u: float, look: dict, w: int, h: int) -> None:
    """The arm, cup, glass and table of ``pour`` at progress ``u``."""
    import cv2

    s, cam, actor = look["scale"] * min(w, h), look, look["actor"]
    p, f = _segment(u, 5)
    arm = np.deg2rad({0: 80 - 70 * f, 4: 10 + 70 * f}.get(p, 10.0))
    tilt = np.deg2rad({1: 60 * f, 2: 60 + 55 * f, 3: 115 * (1 - f)}.get(p, 0.0))
    fill = {0: 0.0, 1: 0.0, 2: f}.get(p, 1.0)
    shoulder = np.array([0.24 * w, 0.4 * h])
    hand = shoulder + 0.42 * s * np.array([np.cos(arm), np.sin(arm)])
    table, gx0, gx1, gtop = 0.86 * h, 0.7 * w, 0.88 * w, 0.58 * h
    _box(img, [-w, table], [2 * w, 2 * h], look["prop"] * 0.6, cam)  # to past the edges
    level = table - fill * (table - gtop - 2)
    if fill > 0:
        _box(img, [gx0, level], [gx1, table], look["liquid"], cam)
    for a, b in (
        ([gx0, gtop], [gx0, table]),
        ([gx0, table], [gx1, table]),
        ([gx1, table], [gx1, gtop]),
    ):
        _line(img, a, b, (40, 40, 40), 0.02 * s, cam)
    _box(img, shoulder - [0.12 * s, 0.05 * s], [shoulder[0], table], actor, cam)  # body
    _disc(img, shoulder - [0.06 * s, 0.16 * s], 0.09 * s, actor, cam)  # head
    _line(img, shoulder, hand, actor, 0.09 * s, cam)
    up, side = np.array([np.sin(tilt), -np.cos(tilt)]), np.array([np.cos(tilt), np.sin(tilt)])
    half, tall = 0.07 * s * side, 0.2 * s * up
    cup = [hand - half, hand + half, hand + half + tall, hand - half + tall]
    cv2.fillPoly(
        img, [np.array([_p(c, cam) for c in cup], np.int32)], _c(look["prop"]), cv2.LINE_AA
    )
    if p == 2:  # the stream, from the cup's lip into the glass
        x = float(np.clip(cup[2][0], gx0 + 2, gx1 - 2))
        _line(img, cup[2], [x, level], look["liquid"], 0.04 * s, cam)


def _draw_pen(img: np.ndarray, u: float, look: dict, w: int, h: int) -> None:
    """The pen of ``pen_rotate`` at progress ``u``: body, dark cap at the tip, light pin."""
    s, cam = look["scale"] * min(w, h), look
    p, f = _segment(u, 4)
    theta = np.deg2rad(-90.0 + 90.0 * (p + f))
    d = np.array([np.cos(theta), np.sin(theta)])
    pivot = np.array([0.5 * w, 0.5 * h])
    tip = pivot + 0.38 * s * d
    _line(img, pivot - 0.11 * s * d, tip, look["actor"], 0.09 * s, cam)
    _disc(img, tip, 0.07 * s, look["prop"] * 0.35, cam)
    _disc(img, pivot, 0.03 * s, (235, 235, 235), cam)


DRAW = {"pour": _draw_pour, "pen_rotate": _draw_pen}


def render(
    action: str, seed: int, index: int, *, width=64, height=64, min_frames=40, max_frames=80
):
    """One clip of ``action``: ``(frames (T, H, W, 3) uint8 RGB, progress (T,), phases (T,))``.

    Deterministic for ``(seed, action, index)``.
    """
    import cv2

    rng = np.random.default_rng([seed, list(PHASES).index(action), index])
    frames = int(rng.integers(min_frames, max_frames + 1))
    look = {
        "actor": _hsv(rng.uniform(), rng.uniform(0.5, 1.0), rng.uniform(0.15, 0.45)),
        "prop": _hsv(rng.uniform(), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.6)),
        "liquid": _hsv(rng.uniform(0.5, 0.7), rng.uniform(0.6, 1.0), rng.uniform(0.25, 0.5)),
        "scale": rng.uniform(0.85, 1.15),
        "zoom": rng.uniform(*ZOOM),
        "offset": rng.uniform(-SHIFT, SHIFT, 2) * [width, height],
        "centre": np.array([width, height]) / 2.0,
    }
    background = cv2.resize(_background(rng, width, height), (width * SS, height * SS))
    u = timeline(rng, frames)
    out = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        canvas = background.copy()
        DRAW[action](canvas, float(u[t]), look, width, height)
        small = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_AREA)
        out[t] = np.clip(np.round(small + rng.normal(0, 2.0, small.shape)), 0, 255)
    return out, u, phase_of(u, len(PHASES[action]))


def _write(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write ``frames`` as mp4v and check that every frame decodes back."""
    import cv2

    from kpbench.video import VideoReader

    h, w = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise DataError(
            f"{path}: OpenCV cannot write mp4v video here; check the opencv-python install"
        )
    try:
        for img in frames:
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    decoded = VideoReader(path).num_frames
    if decoded != len(frames):
        raise DataError(
            f"{path}: wrote {len(frames)} frames but OpenCV reads back {decoded}; "
            "check the opencv-python install"
        )


def _readme(
    actions: list[str], videos: int, size: tuple[int, int], frames: tuple, fps: float, seed: int
) -> str:
    rows = "\n".join(f"| `{a}/` | {videos} | {', '.join(PHASES[a])} |" for a in actions)
    return f"""# Synthetic `actions` (kpbench twin, seed {seed})

One folder per action (an `alignment` set), {videos} clips each, {size[0]} x {size[1]} px,
{frames[0]}-{frames[1]} frames at {fps:g} fps, each clip at its own pace (idle start, pauses).

| folder | clips | phases, in order |
|---|---|---|
{rows}

Per clip: `<action>_<i>.mp4` (mp4v) and `<action>_<i>.phases.csv` with columns
`frame` (0-based), `phase` (the phase's name) and `progress` (0 at the start of the action,
1 at its end; the phases take equal shares of it). Idle frames before the action are the first
phase with progress 0. Read it with `kpbench run --dataset actions --data-dir THIS_FOLDER`
(or `--dataset video`). Written by kpbench_plugins.video.actions, whose docstring describes the
scenes.
"""


def _check(actions, videos, width, height, min_frames, max_frames, fps) -> list[str]:
    names = (
        list(PHASES) if actions == "all" else actions if isinstance(actions, list) else [actions]
    )
    for a in names:
        if a not in PHASES:
            raise ConfigError(f"actions={a!r}: unknown; use one of {', '.join(PHASES)} or all")
    whole = lambda v, lo: isinstance(v, int) and not isinstance(v, bool) and v >= lo  # noqa: E731
    if not whole(videos, 1):
        raise ConfigError(f"videos={videos!r}: must be a whole number >= 1 (clips per action)")
    for key, v in (("width", width), ("height", height)):
        if not whole(v, 32) or v % 2:
            raise ConfigError(
                f"{key}={v!r}: must be an even whole number >= 32 (mp4v needs even sizes)"
            )
    if not whole(min_frames, 20) or not whole(
        max_frames, min_frames if whole(min_frames, 20) else 20
    ):
        raise ConfigError(
            f"min_frames={min_frames!r}, max_frames={max_frames!r}: need whole numbers with "
            "20 <= min_frames <= max_frames"
        )
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or fps <= 0:
        raise ConfigError(f"fps={fps!r}: must be a number > 0")
    return names


def synthesize(
    out: Path,
    seed: int = 0,
    *,
    actions="all",
    videos: int = 30,
    width: int = 64,
    height: int = 64,
    min_frames: int = 40,
    max_frames: int = 80,
    fps: float = 30.0,
) -> Path:
    """Write the ``actions`` twin into ``out`` (see the module docstring); return ``out``.

    Args:
        out: folder to write (created if missing).
        seed: random seed; the same seed writes the same clips.
        actions: ``"pour"``, ``"pen_rotate"``, a list of them, or ``"all"``.
        videos: clips per action.
        width, height: frame size in px, even, >= 32.
        min_frames, max_frames: each clip's length is drawn from this range (>= 20).
        fps: frames per second written in the container.

    Raises:
        ConfigError: a bad option (one line).
        DataError: OpenCV cannot write or read back mp4v here.
    """
    names = _check(actions, videos, width, height, min_frames, max_frames, fps)
    out = Path(out)
    for action in names:
        folder = out / action
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(videos):
            frames, progress, phases = render(
                action, seed, i, width=width, height=height,
                min_frames=min_frames, max_frames=max_frames,
            )  # fmt: skip
            stem = f"{action}_{i:02d}"
            _write(folder / f"{stem}.mp4", frames, fps)
            rows = [
                f"{t},{PHASES[action][p]},{u:.5f}" for t, (p, u) in enumerate(zip(phases, progress))
            ]
            (folder / f"{stem}.phases.csv").write_text(
                "frame,phase,progress\n" + "\n".join(rows) + "\n"
            )
    text = _readme(names, videos, (width, height), (min_frames, max_frames), fps, seed)
    (out / "README.md").write_text(text)
    return out
