"""Procedural human motion for the Human3.6M twin, in the 32-joint mocap layout (world mm, z up).

A body is a set of bone lengths (:func:`body`). A motion is a set of per-frame parameters:
pelvis position and heading on the floor, trunk lean/roll/twist, head pitch and, per side, hip
flexion/abduction, knee flexion, shoulder flexion/abduction, elbow flexion and the plane the
elbow bends in (:data:`ACTIONS` make them). :func:`pose32` turns both into joint positions by
forward kinematics; the pelvis height is set so that the lower ankle stands ``ankle`` mm above
the floor, so feet stay on the ground while the body sits, squats or strides.

The 17 joints VideoPose3D keeps are placed by the kinematics; the 15 it drops are filled so they
sit where the mocap has them: joint 11 on the pelvis, joints 16 and 24 (clavicle bases) on the
thorax (zero-length bones, as in Human3.6M), toes (4, 5, 9, 10) ahead of the ankles on the
floor, and the hand joints (20-23, 28-31) past the wrists along the forearm.
"""

from __future__ import annotations

import numpy as np

#: Bone lengths (mm) of a 1.75 m adult, close to Human3.6M's subjects.
BONES = {
    "hip": 130.0, "thigh": 445.0, "shin": 445.0, "ankle": 85.0, "foot": 140.0, "toe": 50.0,
    "spine": 235.0, "chest": 250.0, "neck": 115.0, "head": 115.0, "shoulder": 150.0,
    "upper_arm": 280.0, "forearm": 250.0, "hand": 80.0,
}  # fmt: skip
SIDES = (1.0, -1.0)  # left, right: sign of the body's left axis


def body(rng: np.random.Generator) -> dict[str, float]:
    """A subject's bone lengths: an overall scale in [0.88, 1.1] times ±6 % per bone."""
    scale = rng.uniform(0.88, 1.1)
    return {k: float(v * scale * rng.uniform(0.94, 1.06)) for k, v in BONES.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _col(a) -> np.ndarray:
    return np.asarray(a, np.float64)[..., None]


def _smooth(rng: np.random.Generator, t: np.ndarray, amp: float, fmax: float = 0.3) -> np.ndarray:
    """A smooth random signal: three sinusoids (0.03-``fmax`` Hz, random phases), peak ≤ ``amp``."""
    freqs, phases = rng.uniform(0.03, fmax, 3), rng.uniform(0, 2 * np.pi, 3)
    weights = rng.uniform(0.5, 1.0, 3)
    weights /= weights.sum()
    return amp * sum(w * np.sin(2 * np.pi * f * t + p) for w, f, p in zip(weights, freqs, phases))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _cycle(t: np.ndarray, period: float, phase: float, rest=0.2, down=0.25, hold=0.3):
    """A periodic 0 → 1 → 0 amount: rest at 0, ease to 1 over ``down``, hold, ease back."""
    x = (t / period + phase) % 1.0
    up = 1.0 - rest - down - hold
    going = _smoothstep((x - rest) / down)
    back = _smoothstep((x - rest - down - hold) / up)
    return going - back, np.floor(t / period + phase)


def _turns(rng, t: np.ndarray, every=(2.5, 4.5), size=(0.4, 1.0)) -> np.ndarray:
    """Heading changes (rad): a turn of ±``size`` every ``every`` s, each eased in over 0.8 s."""
    count = int(t[-1] / every[0]) + 2
    times = np.cumsum(rng.uniform(*every, count)) - rng.uniform(0, every[0])
    steps = rng.choice([-1.0, 1.0], count) * rng.uniform(*size, count)
    return (steps * _smoothstep((t[:, None] - times) / 0.8 + 0.5)).sum(1)


def _rest(n: int) -> dict[str, np.ndarray]:
    """Standing still at the origin, facing +x, arms hanging, elbows soft."""
    z1, z2 = np.zeros(n), np.zeros((n, 2))
    return {
        "pos": np.zeros((n, 2)), "heading": z1.copy(), "pitch": z1 + 0.05, "roll": z1.copy(),
        "twist": z1.copy(), "head": z1 + 0.1, "hip_flex": z2.copy(), "hip_abd": z2 + 0.04,
        "knee": z2 + 0.05, "sh_flex": z2.copy(), "sh_abd": z2 + 0.12, "elbow": z2 + 0.25,
        "bend": z2.copy(),
    }  # fmt: skip


def _heading_from_path(pos: np.ndarray, fps: float) -> np.ndarray:
    d = np.gradient(pos, 1.0 / fps, axis=0)
    return np.unwrap(np.arctan2(d[:, 1], d[:, 0]))


def _gait(p: dict, phase: np.ndarray, stride: float, arm: float) -> None:
    """Leg and arm swing of walking at gait phase ``phase`` (rad); left leg half a cycle later."""
    for side, shift in ((0, np.pi), (1, 0.0)):
        ph = phase + shift
        p["hip_flex"][:, side] = stride * np.sin(ph) + 0.05
        p["knee"][:, side] = 0.08 + (stride * 1.6) * np.clip(np.cos(ph + np.pi / 4), 0, None) ** 1.5
        p["sh_flex"][:, side] = -arm * np.sin(ph)  # each arm swings with the other leg
        p["elbow"][:, side] = 0.3 + 0.6 * arm * np.clip(-np.sin(ph), 0, None)


def walking(rng, t, fps):
    """Loops of a circle (0.8-1.1 m radius, either way round) at 1.0-1.4 m/s, arms swinging."""
    n, p = len(t), _rest(len(t))
    speed, radius = rng.uniform(1000, 1400), rng.uniform(800, 1100)
    centre = rng.uniform(-200, 200, 2)
    way = rng.choice([-1.0, 1.0])
    r = radius * (1 + _smooth(rng, t, 0.12, 0.15))
    angle = way * speed * t / radius + rng.uniform(0, 2 * np.pi)
    p["pos"] = centre + np.stack([r * np.cos(angle), r * np.sin(angle)], 1)
    p["heading"] = _heading_from_path(p["pos"], fps) if n > 1 else p["heading"]
    cadence = rng.uniform(0.85, 1.0) * speed / 1200
    phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
    _gait(p, phase, rng.uniform(0.32, 0.42), rng.uniform(0.25, 0.4))
    p["twist"] = 0.08 * np.sin(phase)
    p["pitch"] = 0.06 + _smooth(rng, t, 0.03, 0.5)
    p["roll"] = 0.03 * np.cos(phase) - way * 0.04  # lean into the curve
    return p


def sitting_down(rng, t, fps):
    """Sit down and stand up every 4-6 s, leaning forward on the way, hands to the thighs."""
    p = _rest(len(t))
    a, _ = _cycle(t, rng.uniform(4.0, 6.0), rng.uniform(0, 1))
    p["pos"] = rng.uniform(-300, 300, 2) + np.stack([_smooth(rng, t, 80), _smooth(rng, t, 80)], 1)
    p["heading"] = rng.uniform(-np.pi, np.pi) + _turns(rng, t) + _smooth(rng, t, 0.15, 0.2)
    p["hip_flex"] += (1.45 + rng.uniform(-0.1, 0.1)) * a[:, None]
    p["knee"] += 1.5 * a[:, None]
    p["hip_abd"] += 0.12 * a[:, None]
    p["pitch"] = 0.06 + 0.6 * 4 * a * (1 - a) + 0.1 * a
    p["sh_flex"] += (0.35 + 0.5 * a)[:, None]
    p["elbow"] += (0.7 * a)[:, None]
    p["head"] = 0.1 + _smooth(rng, t, 0.15, 0.4)
    return p


def waving(rng, t, fps):
    """Standing, swaying and turning slowly; one arm then the other (or both) raised and waving."""
    p = _rest(len(t))
    p["pos"] = rng.uniform(-300, 300, 2) + np.stack([_smooth(rng, t, 150), _smooth(rng, t, 150)], 1)
    p["heading"] = rng.uniform(-np.pi, np.pi) + _turns(rng, t) + _smooth(rng, t, 0.3, 0.1)
    sway = _smooth(rng, t, 0.06, 0.5)
    p["hip_abd"] += np.stack([sway, -sway], 1)
    p["roll"] = -0.5 * sway
    freq = rng.uniform(1.5, 2.5)
    for side in (0, 1):
        e, _ = _cycle(t, rng.uniform(3.0, 5.0), rng.uniform(0, 1), rest=0.35, down=0.15, hold=0.35)
        swing = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
        p["sh_abd"][:, side] += e * (rng.uniform(1.8, 2.3) + 0.12 * swing)
        p["sh_flex"][:, side] += e * 0.35
        p["elbow"][:, side] += e * (0.7 + 0.4 * swing)
        p["bend"][:, side] = e * 1.3
    p["head"] = 0.1 + _smooth(rng, t, 0.2, 0.4)
    return p


def bending(rng, t, fps):
    """Squat down, then bend over with straight legs, in turn (3-4 s each), turning in between."""
    p = _rest(len(t))
    a, k = _cycle(t, rng.uniform(3.0, 4.0), rng.uniform(0, 1), rest=0.25, down=0.25, hold=0.25)
    squat = (k.astype(int) + int(rng.integers(2))) % 2 == 0
    p["heading"] = rng.uniform(-np.pi, np.pi) + _turns(rng, t, (3.0, 4.5), (0.5, 1.2))
    p["pos"] = rng.uniform(-300, 300, 2) + np.stack([_smooth(rng, t, 100), _smooth(rng, t, 100)], 1)
    hip = np.where(squat, 1.7, 0.2) * a
    p["hip_flex"] += hip[:, None]
    p["knee"] += (np.where(squat, 2.0, 0.15) * a)[:, None]
    p["hip_abd"] += (np.where(squat, 0.25, 0.05) * a)[:, None]
    p["pitch"] = 0.05 + np.where(squat, 0.45, 1.35) * a
    p["sh_flex"] += (p["pitch"] + 0.25 * a)[:, None]  # arms hang, reaching a little forward
    p["head"] = 0.1 - 0.3 * a
    return p


def turning(rng, t, fps):
    """Stepping on the spot while turning, at up to 1.1-1.8 rad/s, the way changing smoothly."""
    p = _rest(len(t))
    rate = rng.uniform(1.1, 1.8) * np.tanh(
        3 * np.sin(2 * np.pi * t / rng.uniform(3.5, 6.0) + rng.uniform(0, 6.3))
    )
    p["heading"] = rng.uniform(-np.pi, np.pi) + np.cumsum(rate) / fps
    p["pos"] = rng.uniform(-300, 300, 2) + np.stack([_smooth(rng, t, 200), _smooth(rng, t, 200)], 1)
    phase = 2 * np.pi * rng.uniform(0.8, 1.0) * t + rng.uniform(0, 2 * np.pi)
    _gait(p, phase, rng.uniform(0.12, 0.18), 0.12)
    p["sh_abd"] += 0.15
    p["twist"] = 0.2 * rate / 1.8
    p["head"] = 0.1 + 0.15 * rate / 1.8
    return p


#: Action name → motion maker ``(rng, t seconds, fps) -> parameters``.
ACTIONS = {
    "Walking": walking,
    "SittingDown": sitting_down,
    "Waving": waving,
    "Bending": bending,
    "Turning": turning,
}


def pose32(bones: dict[str, float], p: dict[str, np.ndarray]) -> np.ndarray:
    """Joint positions ``(T, 32, 3)`` world mm of ``bones`` moving as the parameters ``p`` say."""
    b, n = bones, len(p["heading"])
    up = np.broadcast_to([0.0, 0.0, 1.0], (n, 3))

    def frame(yaw):
        c, s, z = np.cos(yaw), np.sin(yaw), np.zeros(n)
        return np.stack([c, s, z], 1), np.stack([-s, c, z], 1)

    fwd, left = frame(p["heading"])
    fu, lu = frame(p["heading"] + p["twist"])
    pitch, roll = _col(p["pitch"]), _col(p["roll"])
    t_up = _unit(np.cos(pitch) * up + np.sin(pitch) * fu + np.sin(roll) * lu)
    t_fwd = _unit(np.cross(_unit(np.cross(t_up, fu)), t_up))
    t_left = np.cross(t_up, t_fwd)

    j = np.zeros((n, 32, 3))
    legs = []
    for side, sign in enumerate(SIDES):
        hf, ha, kn = (_col(p[k][:, side]) for k in ("hip_flex", "hip_abd", "knee"))
        hip = sign * b["hip"] * left
        thigh = (
            np.sin(hf) * np.cos(ha) * fwd + sign * np.sin(ha) * left - np.cos(hf) * np.cos(ha) * up
        )
        shin_a = hf - kn
        shin = (
            np.sin(shin_a) * np.cos(ha) * fwd
            + sign * np.sin(ha) * left
            - np.cos(shin_a) * np.cos(ha) * up
        )
        knee = hip + b["thigh"] * thigh
        legs.append((hip, knee, knee + b["shin"] * shin))
    lowest = np.minimum(legs[0][2][:, 2], legs[1][2][:, 2])
    pelvis = np.concatenate([p["pos"], (b["ankle"] - lowest)[:, None]], 1)
    j[:, 0] = j[:, 11] = pelvis
    for (hip, knee, ankle), first in zip(legs, (6, 1)):  # left leg 6-10, right leg 1-5
        toe_base = pelvis + ankle + b["foot"] * fwd - 0.6 * b["ankle"] * up
        j[:, first : first + 5] = np.stack(
            [pelvis + hip, pelvis + knee, pelvis + ankle, toe_base, toe_base + b["toe"] * fwd], 1
        )
    spine = pelvis + b["spine"] * t_up
    thorax = spine + b["chest"] * t_up
    hp = _col(p["head"])
    neck = thorax + b["neck"] * _unit(np.cos(hp + 0.3) * t_up + np.sin(hp + 0.3) * t_fwd)
    j[:, 12], j[:, 13], j[:, 16], j[:, 24] = spine, thorax, thorax, thorax
    j[:, 14], j[:, 15] = neck, neck + b["head"] * _unit(np.cos(hp) * t_up + np.sin(hp) * t_fwd)
    for side, (sign, first) in enumerate(zip(SIDES, (17, 25))):  # left arm 17-23, right 25-31
        fl, ab, el, be = (_col(p[k][:, side]) for k in ("sh_flex", "sh_abd", "elbow", "bend"))
        shoulder = thorax + sign * b["shoulder"] * t_left - 20.0 * t_up
        upper = (
            np.sin(fl) * np.cos(ab) * t_fwd
            + sign * np.sin(ab) * t_left
            - np.cos(fl) * np.cos(ab) * t_up
        )
        towards = np.cos(be) * t_fwd + np.sin(be) * t_up
        normal = towards - (towards * upper).sum(-1, keepdims=True) * upper
        small = np.linalg.norm(normal, axis=-1, keepdims=True) < 1e-3
        normal = _unit(np.where(small, sign * t_left, normal))
        fore = np.cos(el) * upper + np.sin(el) * normal
        elbow = shoulder + b["upper_arm"] * upper
        wrist = elbow + b["forearm"] * fore
        thumb = wrist + 0.5 * b["hand"] * fore + 25.0 * normal
        hand_end = wrist + b["hand"] * fore
        j[:, first : first + 7] = np.stack(
            [shoulder, elbow, wrist, thumb, thumb + 20.0 * fore, hand_end, hand_end], 1
        )
    return j
