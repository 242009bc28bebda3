"""A synthetic Human3.6M twin, written in VideoPose3D's npz format so the real loader reads it.

``synthesize(out)`` writes, like VideoPose3D's ``data/prepare_data_h36m.py``:

* ``data_3d_h36m.npz``: ``positions_3d`` = {subject: {action: (F, 32, 3) float32 world metres}};
* ``data_2d_h36m_gt.npz``: ``positions_2d`` = {subject: {action: [4 × (F, 17, 2) float32 px]}},
  the 17 kept joints projected through the four Human3.6M cameras of each subject (the
  published calibration, radial and tangential distortion included, 1000 × 1002 / 1000 × 1000 px
  frames, f ≈ 1145 px), and ``metadata`` = {``num_joints``: 17, ``keypoints_symmetry``};
* with ``noise_px`` > 0 also ``data_2d_h36m_noisy.npz``: the same 2D plus independent Gaussian
  noise of ``noise_px`` px per coordinate (``layout_name`` h36m, as detection files carry);
  read it with ``--set data.detector=noisy``;
* ``README.txt`` saying what this is.

Subjects S1, S5, S6, S7, S8, S9, S11 each get their own body proportions (:func:`.motion.body`);
each performs procedural actions (:data:`.motion.ACTIONS`: Walking, SittingDown, Waving,
Bending, Turning) with random phases, a global trajectory and heading changes, ``frames``
frames at 50 fps. With ``takes`` = 2 each action is recorded twice, named ``"Walking"`` and
``"Walking 1"`` as in the real files. The 15 joints VideoPose3D drops are filled as
:mod:`.motion` says. Deterministic for a seed: each (subject, action, take) has its own
generator seeded from ``(seed, subject, action, take)`` (the body from ``(seed, subject)``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kpbench.errors import ConfigError

from . import cameras as cams
from .layout import KEPT32, KEYPOINT_NAMES, LEFT, RIGHT
from .motion import ACTIONS, body, pose32

FPS = 50.0
SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
NOISY = "noisy"


def _subject_list(subjects) -> list[str]:
    items = subjects.split(",") if isinstance(subjects, str) else list(subjects)
    out = [str(s).strip() for s in items if str(s).strip()]
    bad = [s for s in out if s not in SUBJECTS]
    if not out or bad:
        raise ConfigError(
            f"h36m synth: subjects={subjects!r}: use some of {', '.join(SUBJECTS)} "
            "(the subjects with published camera calibration)"
        )
    return list(dict.fromkeys(out))


def _action_list(actions) -> list[str]:
    names = list(ACTIONS)
    if isinstance(actions, int) and not isinstance(actions, bool):
        if not 1 <= actions <= len(names):
            raise ConfigError(f"h36m synth: actions={actions} must be 1-{len(names)}")
        return names[:actions]
    items = actions.split(",") if isinstance(actions, str) else list(actions)
    out = [str(a).strip() for a in items if str(a).strip()]
    bad = [a for a in out if a not in ACTIONS]
    if not out or bad:
        raise ConfigError(
            f"h36m synth: actions={actions!r}: give a count 1-{len(names)} or names from "
            f"{', '.join(names)}"
        )
    return list(dict.fromkeys(out))


def _seed(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), *parts]))


def take_name(action: str, take: int) -> str:
    """The file's name of take ``take`` (0-based): ``Walking``, ``Walking 1``, ``Walking 2``..."""
    return action if take == 0 else f"{action} {take}"


def project_views(world_mm: np.ndarray, subject: str) -> list[np.ndarray]:
    """(F, 17, 3) world mm → four (F, 17, 2) float32 px arrays, one per camera, distortion in."""
    out = []
    for c in range(len(cams.INTRINSICS)):
        cam = cams.camera(subject, c)
        out.append(cams.project(cams.world_to_camera(world_mm, cam), cam).astype(np.float32))
    return out


def synthesize(
    out: Path,
    seed: int = 0,
    *,
    frames: int = 600,
    actions=5,
    subjects=SUBJECTS,
    takes: int = 1,
    noise_px: float = 0.0,
) -> Path:
    """Write the twin into ``out`` (created) and return ``out``.

    Args:
        frames: frames per (subject, action, take) at 50 fps (600 = 12 s).
        actions: how many of :data:`.motion.ACTIONS` (1-5, in order), or their names.
        subjects: which of S1, S5, S6, S7, S8, S9, S11 (a list or ``"S1,S9"``).
        takes: recordings per action and subject (1 or more; the 2nd is ``"<action> 1"``).
        noise_px: σ (px) of the Gaussian noise of ``data_2d_h36m_noisy.npz``; 0 writes no such file.

    Default size: 7 subjects × 5 actions × 600 frames × 4 cameras = 84,000 2D/3D frames
    (train S1, S5-S8: 60,000; test S9, S11: 24,000), about 11 MB.

    Raises:
        ConfigError: an option out of range.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ConfigError(f"h36m synth: frames={frames!r} must be a whole number >= 2")
    if isinstance(takes, bool) or not isinstance(takes, int) or takes < 1:
        raise ConfigError(f"h36m synth: takes={takes!r} must be a whole number >= 1")
    if not isinstance(noise_px, (int, float)) or isinstance(noise_px, bool) or noise_px < 0:
        raise ConfigError(f"h36m synth: noise_px={noise_px!r} must be a number >= 0")
    subject_names, action_names = _subject_list(subjects), _action_list(actions)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t = np.arange(frames) / FPS
    poses3d: dict[str, dict[str, np.ndarray]] = {}
    poses2d: dict[str, dict[str, list[np.ndarray]]] = {}
    noisy: dict[str, dict[str, list[np.ndarray]]] = {}
    for subject in subject_names:
        who = SUBJECTS.index(subject)
        bones = body(_seed(seed, who))
        poses3d[subject], poses2d[subject], noisy[subject] = {}, {}, {}
        for action in action_names:
            for take in range(takes):
                rng = _seed(seed, who, list(ACTIONS).index(action), take)
                world = pose32(bones, ACTIONS[action](rng, t, FPS))
                name = take_name(action, take)
                poses3d[subject][name] = (world / 1000.0).astype(np.float32)
                # project what the loader will read back: the stored float32 metres
                kept = poses3d[subject][name][:, list(KEPT32)].astype(np.float64) * 1000.0
                views = project_views(kept, subject)
                poses2d[subject][name] = views
                if noise_px > 0:
                    noisy[subject][name] = [
                        (v + rng.normal(0.0, float(noise_px), v.shape)).astype(np.float32)
                        for v in views
                    ]
    symmetry = [list(LEFT), list(RIGHT)]
    meta = {"num_joints": len(KEYPOINT_NAMES), "keypoints_symmetry": symmetry}
    np.savez_compressed(out / "data_3d_h36m.npz", positions_3d=poses3d)
    np.savez_compressed(out / "data_2d_h36m_gt.npz", positions_2d=poses2d, metadata=meta)
    if noise_px > 0:
        meta_noisy = {"layout_name": "h36m", **meta}
        np.savez_compressed(
            out / f"data_2d_h36m_{NOISY}.npz", positions_2d=noisy, metadata=meta_noisy
        )
    (out / "README.txt").write_text(
        "Synthetic twin of Human3.6M in VideoPose3D's npz format, written by kpbench "
        f"(`kpbench data synth h36m`, seed {seed}).\n"
        f"Subjects {', '.join(subject_names)}; actions {', '.join(action_names)}; "
        f"{takes} take(s) each; {frames} frames at 50 fps; procedural motion, not real people.\n"
        "3D: 32 mocap joints, world metres (the 15 joints VideoPose3D drops sit at nearby body points: pelvis, thorax, toes, hands).\n"
        "2D: the 17 kept joints projected through the published Human3.6M cameras "
        "(distortion included)"
        + (
            f"; data_2d_h36m_{NOISY}.npz adds Gaussian noise of {noise_px} px.\n"
            if noise_px
            else ".\n"
        )
    )
    return out
