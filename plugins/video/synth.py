"""Synthetic scenes for the ``video`` dataset: the custom videos of the course report, with shadows.

The report this project started from recorded a pen rotating about a fixed point and a hand
moving an object, both under a static camera, and found that BKinD put keypoints on the
objects' shadows; masking the object by colour in HSV (a blue pen on white paper: H 90–130,
S ≥ 50, V ≥ 50 in OpenCV's HSV) fixed it. The scenes here recreate that case with known truth:

* ``"pen"``: a blue pen rotating (at a varying speed) about a fixed pivot on a white sheet;
* ``"object"``: a hand-sized blue object with a pointed front and a flat back dragged along a
  smooth random path while it turns.

Both cast a moving soft shadow: a blurred copy of the object's outline, offset along a fixed light
direction, that darkens the paper to grey (low saturation, so the HSV mask removes it). The
paper has a fixed low-frequency texture and every frame mild sensor noise. Both objects share
one outline (a rounded "house" pentagon along an axis) and one set of keypoints, so both clips
can sit in one data folder: ``tip`` (front), ``mid`` (middle of the axis), ``pivot`` (the point
the motion is applied at: the pen's pin, the object's grab point) and ``end`` (back).

``synthesize`` writes ``out/<scene>.mp4`` (mp4v, checked to decode back with every frame) and
``out/<scene>.slp`` (SLEAP, one user instance on one track per frame, video path = the mp4).
Deterministic for a seed; the default 240 frames at 256 × 256 take about 2 s per scene on a CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kpbench.errors import ConfigError, DataError

KEYPOINTS = ("tip", "mid", "pivot", "end")
EDGES = (("tip", "mid"), ("mid", "pivot"), ("pivot", "end"))
SCENES = ("pen", "object")
COLOURS = {
    "blue": (40, 70, 200),
    "red": (200, 40, 40),
    "green": (40, 160, 60),
    "yellow": (225, 190, 30),
}
PAPER = 236.0  # grey level of the white sheet
SHADOW = 0.42  # fraction of light the shadow takes away at its core


@dataclass(frozen=True)
class Shape:
    """An object's outline along its axis, in px: ``end`` at x=0, ``tip`` at x=``length``.

    Attributes:
        length: distance end → tip (px).
        half_width: half the body width, rounding included (px).
        body: fraction of ``length`` where the body starts to taper towards the tip.
        radius: rounding radius of every corner (px).
        pivot: fraction of ``length`` from the end where the motion is applied.
    """

    length: float
    half_width: float
    body: float
    radius: float
    pivot: float

    def outline(self, steps: int = 8) -> np.ndarray:
        """Closed outline ``(P, 2)`` px in axis coordinates: a pentagon rounded by ``radius``."""
        a, L = self.half_width - self.radius, self.length
        core = np.array([[0, -a], [self.body * L, -a], [L, 0], [self.body * L, a], [0, a]], float)
        pts = []
        for i, p in enumerate(core):  # Minkowski sum of the convex core with a disc
            n_in = _normal(core[i - 1], p)
            n_out = _normal(p, core[(i + 1) % len(core)])
            a0, a1 = np.arctan2(n_in[1], n_in[0]), np.arctan2(n_out[1], n_out[0])
            a1 = a1 if a1 >= a0 else a1 + 2 * np.pi
            for t in np.linspace(a0, a1, steps):
                pts.append(p + self.radius * np.array([np.cos(t), np.sin(t)]))
        return np.asarray(pts)

    def keypoints(self) -> np.ndarray:
        """``(4, 2)`` px in axis coordinates, ordered as :data:`KEYPOINTS`."""
        L = self.length
        return np.array([[L, 0], [0.5 * L, 0], [self.pivot * L, 0], [0, 0]], float)


def _normal(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Outward unit normal of the edge p → q of a polygon whose vertices turn clockwise in y-down."""
    d = (q - p) / np.linalg.norm(q - p)
    return np.array([d[1], -d[0]])


def _smooth(rng: np.random.Generator, frames: int, waves: int = 3) -> np.ndarray:
    """A smooth random signal in [-1, 1] over ``frames`` frames: a sum of slow sines."""
    u = np.arange(frames) / max(frames, 1)
    amp = rng.uniform(0.3, 1.0, waves)
    amp /= amp.sum()
    freq, phase = rng.uniform(0.4, 1.6, waves), rng.uniform(0, 2 * np.pi, waves)
    return (amp[:, None] * np.sin(2 * np.pi * freq[:, None] * u + phase[:, None])).sum(0)


def _motion(scene: str, rng: np.random.Generator, frames: int, size: tuple[int, int], shape: Shape):
    """Pivot position ``(T, 2)`` px and axis angle ``(T,)`` rad of ``scene`` over time."""
    w, h = size
    t = np.arange(frames)
    if scene == "pen":
        centre = np.array([w / 2, h / 2]) + rng.uniform(-0.02, 0.02, 2) * min(w, h)
        turns = rng.uniform(1.0, 1.5) * rng.choice([-1, 1])
        theta = (
            rng.uniform(0, 2 * np.pi)
            + 2 * np.pi * turns * t / frames
            + 0.35 * _smooth(rng, frames, 2)
        )
        return np.repeat(centre[None], frames, 0), theta
    reach = (1 - shape.pivot) * shape.length + shape.radius + 2
    half = np.array([w / 2 - reach, h / 2 - reach])
    pivot = np.array([w / 2, h / 2]) + half * np.stack(
        [_smooth(rng, frames), _smooth(rng, frames)], 1
    )
    theta = rng.uniform(0, 2 * np.pi) + 2.0 * _smooth(rng, frames)
    return pivot, theta


def _colour(colour) -> np.ndarray:
    if isinstance(colour, str):
        if colour not in COLOURS:
            raise ConfigError(
                f"colour={colour!r}: unknown; use one of {', '.join(COLOURS)} or an RGB triple like [40, 70, 200]"
            )
        return np.asarray(COLOURS[colour], np.float32)
    rgb = np.asarray(colour, np.float32)
    if rgb.shape != (3,) or (rgb < 0).any() or (rgb > 255).any():
        raise ConfigError(f"colour={colour!r}: an RGB colour is three numbers in 0..255")
    return rgb


@dataclass
class Frame:
    """One rendered frame with its truth.

    Attributes:
        image: ``(H, W, 3)`` uint8 RGB.
        keypoints: ``(4, 2)`` float32 px ``(x, y)``, ordered as :data:`KEYPOINTS`.
        object_mask: ``(H, W)`` bool, pixels at least half covered by the object.
        shadow_mask: ``(H, W)`` bool, shadowed pixels (light reduced by over half of
            :data:`SHADOW`) not covered by the object.
    """

    image: np.ndarray
    keypoints: np.ndarray
    object_mask: np.ndarray
    shadow_mask: np.ndarray


def render(
    scene: str,
    seed: int = 0,
    *,
    frames: int = 240,
    width: int = 256,
    height: int = 256,
    colour="blue",
) -> Iterator[Frame]:
    """Render ``scene`` frame by frame (deterministic for ``seed``).

    Args:
        scene: ``"pen"`` or ``"object"``.
        seed: random seed (light direction, motion, texture, noise).
        frames: number of frames.
        width, height: frame size in px.
        colour: a name in :data:`COLOURS` or an RGB triple (0..255).

    Yields:
        :class:`Frame` for every frame, in order.
    """
    import cv2

    if scene not in SCENES:
        raise ConfigError(f"scene={scene!r}: unknown; use one of {', '.join(SCENES)} or all")
    rgb = _colour(colour)
    rng = np.random.default_rng([seed, SCENES.index(scene)])
    s = min(width, height)
    if scene == "pen":
        shape = Shape(length=0.64 * s, half_width=0.036 * s, body=0.84, radius=0.018 * s, pivot=0.3)
    else:
        shape = Shape(length=0.3 * s, half_width=0.095 * s, body=0.62, radius=0.03 * s, pivot=0.35)
    pivot, theta = _motion(scene, rng, frames, (width, height), shape)
    light = rng.uniform(0, 2 * np.pi)  # direction of the shadow from the object, fixed per clip
    offset = 0.07 * s * np.array([np.cos(light), np.sin(light)])
    blur = 0.012 * s + 0.5
    low = cv2.resize(
        rng.normal(0, 1, (max(2, height // 16), max(2, width // 16))),
        (width, height),
        interpolation=cv2.INTER_CUBIC,
    )
    paper = (PAPER + 5.0 * low + rng.normal(0, 1.2, (height, width))).astype(np.float32)
    outline, local_kp = shape.outline(), shape.keypoints()
    origin = np.array([shape.pivot * shape.length, 0.0])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)

    def fill(points: np.ndarray) -> np.ndarray:
        mask = np.zeros((height, width), np.uint8)
        cv2.fillPoly(mask, [np.round(points * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        return mask.astype(np.float32) / 255.0

    for t in range(frames):
        c, sn = np.cos(theta[t]), np.sin(theta[t])
        rot = np.array([[c, -sn], [sn, c]])
        edge = (outline - origin) @ rot.T + pivot[t]  # axis coordinates → px
        body = fill(edge)[..., None]
        shade = cv2.GaussianBlur(fill(edge + offset), (0, 0), blur) * SHADOW
        across = (-(xs - pivot[t][0]) * sn + (ys - pivot[t][1]) * c) / shape.half_width
        tone = 1.0 - 0.14 * np.clip(across, -1, 1)[..., None] ** 2  # rounded: darker at the sides
        img = (paper * (1 - shade))[..., None] * (1 - body) + rgb * tone * body
        img = img + rng.normal(0, 1.5, img.shape)
        yield Frame(
            image=np.clip(np.round(img), 0, 255).astype(np.uint8),
            keypoints=((local_kp - origin) @ rot.T + pivot[t]).astype(np.float32),
            object_mask=body[..., 0] >= 0.5,
            shadow_mask=(shade > 0.5 * SHADOW) & (body[..., 0] == 0),
        )


def _write_slp(path: Path, video: Path, keypoints: np.ndarray, track) -> None:
    """Write user-labelled keypoints as a SLEAP file: ``(T, K, 2)`` px of one animal on track
    ``track``, or ``(T, A, K, 2)`` of ``A`` animals on tracks ``track`` (a list of ``A`` names).
    An animal whose keypoints in a frame are all NaN has no instance there."""
    import sleap_io as sio

    kp = np.asarray(keypoints, np.float64)
    tracks = [track] if isinstance(track, str) else list(track)
    kp = kp[:, None] if kp.ndim == 3 else kp
    if kp.shape[1] != len(tracks):
        raise ValueError(f"{kp.shape[1]} animals in keypoints but {len(tracks)} track names")
    skeleton = sio.Skeleton(list(KEYPOINTS), list(EDGES))
    vid = sio.Video(filename=str(video), open_backend=False)
    trks = [sio.Track(name=t) for t in tracks]
    frames = []
    for t, animals in enumerate(kp):
        insts = [
            sio.Instance.from_numpy(a, skeleton=skeleton, track=trk)
            for a, trk in zip(animals, trks)
            if not np.isnan(a).all()
        ]
        if insts:
            frames.append(sio.LabeledFrame(video=vid, frame_idx=t, instances=insts))
    sio.save_slp(
        sio.Labels(labeled_frames=frames, videos=[vid], skeletons=[skeleton], tracks=trks),
        str(path),
        verbose=False,
    )


def write_scene(
    out: Path,
    scene: str,
    seed: int = 0,
    *,
    frames: int = 240,
    width: int = 256,
    height: int = 256,
    fps: float = 30.0,
    colour="blue",
) -> Path:
    """Write ``out/<scene>.mp4`` and ``out/<scene>.slp``; return the mp4 path.

    Raises:
        DataError: OpenCV cannot write mp4v here, or the file does not decode back with every frame.
    """
    import cv2

    from kpbench.video import VideoReader

    video = out / f"{scene}.mp4"
    writer = cv2.VideoWriter(
        str(video), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise DataError(
            f"{video}: OpenCV cannot write mp4v video here; check the opencv-python install"
        )
    truth = []
    try:
        for frame in render(scene, seed, frames=frames, width=width, height=height, colour=colour):
            writer.write(cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR))
            truth.append(frame.keypoints)
    finally:
        writer.release()
    decoded = VideoReader(video).num_frames
    if decoded != frames:
        raise DataError(
            f"{video}: wrote {frames} frames but OpenCV reads back {decoded}; check the opencv-python install"
        )
    _write_slp(out / f"{scene}.slp", video, np.stack(truth), scene)
    return video


def synthesize(
    out: Path,
    seed: int = 0,
    *,
    scene: str = "pen",
    frames: int = 240,
    width: int = 256,
    height: int = 256,
    fps: float = 30.0,
    colour="blue",
) -> Path:
    """Write synthetic scenes (mp4 + SLEAP truth) into ``out``, a folder the ``video`` loader reads.

    Args:
        out: folder to write (created if missing).
        seed: random seed; the same seed writes the same scenes.
        scene: ``"pen"``, ``"object"`` or ``"all"`` (both).
        frames: frames per scene (>= 2).
        width, height: frame size in px, even numbers >= 32 (mp4v needs even sizes).
        fps: frames per second written in the container.
        colour: the object's colour, a name in :data:`COLOURS` or an RGB triple; the default blue
            is kept by the HSV mask H 90–130, S >= 50, V >= 50.

    Returns:
        ``out``.
    """
    scenes = SCENES if scene == "all" else (scene,)
    if scene != "all" and scene not in SCENES:
        raise ConfigError(f"scene={scene!r}: unknown; use one of {', '.join(SCENES)} or all")
    if not isinstance(frames, int) or frames < 2:
        raise ConfigError(f"frames={frames!r}: must be a whole number >= 2")
    for key, v in (("width", width), ("height", height)):
        if not isinstance(v, int) or v < 32 or v % 2:
            raise ConfigError(
                f"{key}={v!r}: must be an even whole number >= 32 (mp4v needs even frame sizes)"
            )
    if not fps or fps <= 0:
        raise ConfigError(f"fps={fps!r}: must be > 0")
    _colour(colour)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in scenes:
        write_scene(
            out, name, seed, frames=frames, width=width, height=height, fps=fps, colour=colour
        )
    return out
