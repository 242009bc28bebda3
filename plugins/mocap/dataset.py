"""The ``mocap`` dataset: BVH motion-capture takes as ``lifting3d`` sequences seen by virtual cameras.

Made for the CMU Graphics Lab Motion Capture Database in Bruce Hahne's BVH conversion (31 joints,
``Hips`` root; see ``SOURCE.md`` of ``cmu_mocap_131``), read with :mod:`.bvh`.

**Units and axes.** A CMU BVH unit is CMU's ASF length unit, (1/0.45) inch = **56.444 mm**
(:data:`MM_PER_UNIT`; the ``scaled_*`` copies of the same takes are exactly 0.056444 × the
offsets, and it gives a femur of 411 mm and a shin of 391 mm for subject 131). BVH's Y is up;
the world frame is Z up: world = (x, −z, y) · 56.444 mm (:func:`.cameras.bvh_to_world`).

**Joints.** The 31 CMU joints (plus end sites) are mapped to Human3.6M's 17 (:data:`H36M_FROM_CMU`):

====================================  ======================================================
Human3.6M (index)                     CMU BVH point
====================================  ======================================================
hip (0, the root)                     ``Hips``
right/left_hip (1/4)                  ``RightHip`` / ``LeftHip``
right/left_knee (2/5)                 ``RightKnee`` / ``LeftKnee``
right/left_foot (3/6)                 ``RightAnkle`` / ``LeftAnkle``
spine (7)                             midpoint of ``Chest`` and ``Chest2``
thorax (8)                            ``Neck``
neck_nose (9)                         ``Head``
head (10)                             ``Head_End`` (the Head's End Site)
left/right_shoulder (11/14)           ``LeftShoulder`` / ``RightShoulder``
left/right_elbow (12/15)              ``LeftElbow`` / ``RightElbow``
left/right_wrist (13/16)              ``LeftWrist`` / ``RightWrist``
====================================  ======================================================

Flip pairs: (1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16). CMU's ``LeftHip``/``RightHip`` are the femur heads
(the ends of the ``L/RHipJoint`` pelvis bones), ``Neck`` the base of the neck at shoulder height,
``Head`` the top of the neck and ``Head_End`` (the Head's End Site) the top of the head. Human3.6M's
spine joint lies about midway between pelvis and thorax: the midpoint of ``Chest`` and ``Chest2``
(for subject 131, 53 % of the way from ``Hips`` to ``Neck``). The other CMU joints (collars,
hands, fingers, thumbs, toes, the zero-length ``*HipJoint``/``lowerback``/``lowerneck``) and
the other end sites are ignored.

**Frames.** Joint positions are computed at the file's rate (``Frame Time`` .0083333 s → 120 fps;
a rate within 0.01 % of a whole number is taken as that number) and resampled to ``fps``
(default 50, Human3.6M's rate) by linear interpolation of positions at ``k / fps`` seconds, for
every ``k`` with ``k / fps`` within the take. At 120 → 50 fps a bone shrinks by well under 1 mm.

**Cameras.** ``cameras`` virtual cameras (default 4) stand on a ring around the capture area's
centre (the middle of the bounding box of every take's root path on the floor),
``camera_distance`` mm away (default 5000) at ``camera_height`` mm (default 1500), looking at the
centre 1000 mm above the floor, with Human3.6M-like intrinsics (:mod:`.cameras`). Each camera sees
every take: one ``lifting3d`` sample per (take, camera), named ``"131_01.cam0"``. Nothing is
clipped: a joint may project outside the 1000 × 1002 px frame (``points_outside_image`` in the
notes: the largest fraction over the samples; 0.5 % on the CMU 131 takes at 5 m). The 2D keypoints
are the projections of the 3D ones, plus Gaussian noise of ``noise_px`` px (default 0; seeded by
``seed`` and the sample's name, so a build is repeatable).

**Splits.** ``test_takes`` (default: the last take in sorted order, a held-out take, e.g.
``131_03``) are test, every camera view of them; the other takes are train. Names match the file
stem, with or without its ``_`` (``--set data.test_takes=131_03`` reads as YAML's 13103).

**Alignment.** Walking takes only (:data:`CMU_ACTIONS`: 131_01 and 131_02), set ``"walk"``: one
sequence per (take, camera), named like the ``lifting3d`` sample, with the camera's 2D keypoints
(T, 17, 2) px at ``fps``. Phases and progress come from the gait rule of :mod:`.gait` (heel
strikes; phase 0 left → right strike, 1 right → left; progress through the current gait cycle),
computed once per take on the 3D joints, so every camera of a take has the same labels; only
whole gait cycles are kept. The hop (131_03) and takes of unknown action are not alignment
sequences: the gait rule is defined for walking (``notes["alignment"]["excluded"]``). The splits
follow ``test_takes``; with the default (131_03, the hop, not a walk) the last walking take
(131_02) is the alignment test take and 131_01 trains, as the notes say (``test_split``).
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from kpbench.dataset import KeypointDataset, find_data_dir
from kpbench.errors import ConfigError, DataError

from . import cameras as cams
from .bvh import BvhTake, forward_kinematics, read_bvh
from .gait import gait_labels
from .plugin import DATA_HINT

#: mm per CMU BVH unit: CMU's ASF unit, (1/0.45) inch.
MM_PER_UNIT = 25.4 / 0.45
#: Human3.6M's 17 joints (VideoPose3D's order) and the CMU point(s) each is taken from.
H36M_FROM_CMU = (
    ("hip", ("Hips",)),
    ("right_hip", ("RightHip",)),
    ("right_knee", ("RightKnee",)),
    ("right_foot", ("RightAnkle",)),
    ("left_hip", ("LeftHip",)),
    ("left_knee", ("LeftKnee",)),
    ("left_foot", ("LeftAnkle",)),
    ("spine", ("Chest", "Chest2")),
    ("thorax", ("Neck",)),
    ("neck_nose", ("Head",)),
    ("head", ("Head_End",)),
    ("left_shoulder", ("LeftShoulder",)),
    ("left_elbow", ("LeftElbow",)),
    ("left_wrist", ("LeftWrist",)),
    ("right_shoulder", ("RightShoulder",)),
    ("right_elbow", ("RightElbow",)),
    ("right_wrist", ("RightWrist",)),
)
KEYPOINT_NAMES = [name for name, _ in H36M_FROM_CMU]
#: Parent of each Human3.6M joint (-1: the root); the skeleton's bones.
PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
SKELETON = [(p, j) for j, p in enumerate(PARENTS) if p >= 0]
FLIP_PAIRS = [(1, 4), (2, 5), (3, 6), (11, 14), (12, 15), (13, 16)]
#: What the CMU database says each take of subject 131 is (mocap.cs.cmu.edu), as an action.
CMU_ACTIONS = {"131_01": "walk", "131_02": "walk", "131_03": "hop"}
CMU_DESCRIPTIONS = {"131_01": "Start Walk Stop", "131_02": "Start Walk Stop",
                    "131_03": "Start Hop Stop"}  # fmt: skip
TARGET_HEIGHT_MM = 1000.0
DEFAULTS = {
    "fps": 50.0,
    "cameras": 4,
    "noise_px": 0.0,
    "test_takes": None,
    "seed": 0,
    "camera_distance": 5000.0,
    "camera_height": 1500.0,
}


def map_to_h36m(take: BvhTake, positions: np.ndarray) -> np.ndarray:
    """``(T, 17, 3)`` Human3.6M joints from FK positions ``(T, J, 3)`` of a CMU take.

    Raises:
        DataError: the skeleton lacks CMU joints the mapping needs (one line naming them).
    """
    index = {n: i for i, n in enumerate(take.names)}
    missing = sorted({c for _, cmu in H36M_FROM_CMU for c in cmu if c not in index})
    if missing:
        shown = [f"End Site of {c[:-4]}" if c.endswith("_End") else c for c in missing]
        raise DataError(
            f"{take.source}: the skeleton has no CMU joint {', '.join(shown)} "
            "(needed for the Human3.6M 17-joint layout; is it a CMU BVH?)"
        )
    return np.stack([positions[:, [index[c] for c in cmu]].mean(1) for _, cmu in H36M_FROM_CMU], 1)


def source_fps(frame_time: float) -> float:
    """Frames per second of a BVH ``Frame Time``, snapped to a whole number within 0.01 %."""
    fps = 1.0 / frame_time
    return float(round(fps)) if abs(fps - round(fps)) <= 1e-4 * fps else fps


def resample(points: np.ndarray, fps_in: float, fps_out: float) -> np.ndarray:
    """Linear interpolation of ``(T, ...)`` at ``k / fps_out`` s, every k within the take."""
    t = len(points)
    n = int(np.floor((t - 1) * fps_out / fps_in + 1e-9)) + 1
    src = np.arange(n) * (fps_in / fps_out)
    i0 = np.minimum(np.floor(src + 1e-9).astype(np.int64), t - 1)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (src - i0).clip(0.0, 1.0).reshape(-1, *([1] * (points.ndim - 1)))
    return points[i0] * (1.0 - w) + points[i1] * w


def _take_matches(value, stem: str) -> bool:
    return str(value) in (stem, stem.replace("_", ""))


class MocapDataset(KeypointDataset):
    """A folder of BVH takes as ``lifting3d`` sequences (see the module docstring).

    Attributes:
        takes: the take names (file stems), sorted; ``test_takes`` those held out.
        keypoint_names: Human3.6M's 17 joints; ``flip_pairs`` their left/right pairs.
    """

    name = "mocap"
    tasks = ("lifting3d", "alignment")

    def __init__(self, root: Path, files: list[Path], options: dict):
        super().__init__()
        self.root = Path(root)
        self.keypoint_names = list(KEYPOINT_NAMES)
        self.skeleton = list(SKELETON)
        self.flip_pairs = list(FLIP_PAIRS)
        self.takes = [p.stem for p in files]
        fps_out = float(options["fps"])
        world, info = {}, {}
        for path in files:
            take = read_bvh(path)
            joints = map_to_h36m(take, forward_kinematics(take))
            fps_in = source_fps(take.frame_time)
            if fps_out > fps_in:
                raise ConfigError(
                    f"mocap: fps={fps_out:g} is above {path.name}'s {fps_in:g} fps; "
                    "choose a rate at or below the capture rate"
                )
            world[path.stem] = resample(cams.bvh_to_world(joints, MM_PER_UNIT), fps_in, fps_out)
            info[path.stem] = {"frames_in": take.num_frames, "fps_in": fps_in,
                               "frames": len(world[path.stem])}  # fmt: skip
        self.test_takes = self._test_takes(options["test_takes"])
        self.default_split = options["test_takes"] is None
        roots = np.concatenate([w[:, 0, :2] for w in world.values()])
        centre = (roots.min(0) + roots.max(0)) / 2
        rig = cams.ring(int(options["cameras"]), centre, float(options["camera_distance"]),
                        float(options["camera_height"]), TARGET_HEIGHT_MM)  # fmt: skip
        self._samples: dict[str, list[dict]] = {"train": [], "test": []}
        outside = []
        for stem, points in world.items():
            split = "test" if stem in self.test_takes else "train"
            for c, cam in enumerate(rig):
                sample = self._sample(stem, c, cam, points, fps_out, options)
                self._samples[split].append(sample)
                u, v = np.moveaxis(sample["keypoints2d"], -1, 0)
                outside.append(float(((u < 0) | (v < 0) | (u > cam["size"][0]) |
                                      (v > cam["size"][1])).mean()))  # fmt: skip
        self._gait, align_notes = self._gait_labels(world, fps_out)
        self.notes = {
            "takes_found": list(self.takes),
            "takes": info,
            "test_takes": list(self.test_takes),
            "fps_out": fps_out,
            "resampling": "linear interpolation of joint positions",
            "mm_per_bvh_unit": MM_PER_UNIT,
            "world": "Z up, mm: (x, -z, y) of the BVH's Y-up axes",
            "cameras": int(options["cameras"]),
            "camera_positions_mm": [np.round(c["position"], 1).tolist() for c in rig],
            "capture_centre_mm": np.round(centre, 1).tolist(),
            "noise_px": float(options["noise_px"]),
            "points_outside_image": round(max(outside), 4),
            "samples": {s: len(v) for s, v in self._samples.items()},
            "alignment": align_notes,
            "ignored": "CMU joints and end sites outside the 17-joint mapping; files not *.bvh",
        }

    def _test_takes(self, value) -> list[str]:
        if value is None:
            return [self.takes[-1]]
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        out = []
        for v in values:
            hit = [s for s in self.takes if _take_matches(v, s)]
            if not hit:
                raise ConfigError(
                    f"mocap: test_takes={v!r} is not a take here; takes: {', '.join(self.takes)}"
                )
            out += hit
        return sorted(set(out))

    def _sample(self, stem, c, cam, points, fps, options) -> dict:
        name = f"{stem}.cam{c}"
        p3 = cams.to_camera(points, cam)
        if (p3[..., 2] <= 0).any():
            raise ConfigError(
                f"mocap: {name}: a joint is behind the camera; increase camera_distance"
            )
        p2 = cams.project(p3, cam["intrinsics"])
        sigma = float(options["noise_px"])
        if sigma > 0:
            rng = np.random.default_rng([int(options["seed"]), zlib.crc32(name.encode())])
            p2 = p2 + rng.normal(0.0, sigma, p2.shape)
        return {
            "name": name,
            "subject": stem.split("_")[0],
            "action": CMU_ACTIONS.get(stem, stem),
            "keypoints2d": p2,
            "keypoints3d": p3,
            "camera": {k: cam[k] for k in ("intrinsics", "R", "t", "size")},
            "fps": fps,
        }

    def _gait_labels(self, world: dict, fps: float) -> tuple[dict, dict]:
        """Gait labels of every walking take, and what the notes say about alignment."""
        gaits, excluded, strikes = {}, {}, {}
        for stem, points in world.items():
            action = CMU_ACTIONS.get(stem)
            if action != "walk":
                excluded[stem] = f"{action or 'unknown action'}: the gait rule is for walks"
                continue
            gait = gait_labels(points[:, 0], points[:, 6], points[:, 3], fps)
            if gait is None:
                excluded[stem] = "fewer than two left heel strikes: no whole gait cycle"
                continue
            gaits[stem] = gait
            strikes[stem] = {"left": gait.left.tolist(), "right": gait.right.tolist(),
                             "kept_frames": [gait.start, gait.stop]}  # fmt: skip
        test_walks = [s for s in gaits if s in self.test_takes]
        if not test_walks and gaits and self.default_split:  # the default test take is the hop
            test_walks = [sorted(gaits)[-1]]
        self.alignment_test_takes = test_walks
        notes = {"set": "walk", "takes": sorted(gaits), "excluded": excluded, "strikes": strikes,
                 "phases": "0: left strike to next strike, 1: right strike to next strike",
                 "progress": "fraction of the gait cycle (left strike to next left strike)"}  # fmt: skip
        if not test_walks:
            notes["test_split"] = (
                "no walking take among test_takes: no test alignment sequence; "
                "e.g. --set data.test_takes=131_02"
            )
        elif not set(test_walks) & set(self.test_takes):
            notes["test_split"] = (
                f"the default test take ({', '.join(self.test_takes)}) is not a walk: the last "
                f"walking take, {test_walks[0]}, is the alignment test take (set "
                "data.test_takes to choose)"
            )
        return gaits, notes

    def sequences3d(self, split: str) -> list[dict]:
        return list(self._samples.get(split, []))

    def alignment_sequences(self, split: str) -> list[dict]:
        """One ``"walk"`` sequence per (walking take, camera) of ``split``: the camera's 2D
        keypoints over the take's whole gait cycles, with gait phases and cycle progress."""
        out = []
        if split not in ("train", "test"):
            return out
        for sample in [x for samples in self._samples.values() for x in samples]:
            stem = sample["name"].rsplit(".cam", 1)[0]
            gait = self._gait.get(stem)
            if gait is None or (stem in self.alignment_test_takes) != (split == "test"):
                continue
            out.append({
                "name": sample["name"], "set": "walk",
                "keypoints": sample["keypoints2d"][gait.start : gait.stop],
                "fps": sample["fps"], "phases": gait.phases, "progress": gait.progress,
            })  # fmt: skip
        return out

    def describe(self) -> dict:
        out = super().describe()
        out.pop("videos", None)
        return out


def _check_options(options: dict) -> dict:
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ConfigError(
            f"mocap: unknown option(s) {', '.join(unknown)}; options: {', '.join(DEFAULTS)}"
        )
    opts = {**DEFAULTS, **options}
    checks = {
        "fps": lambda v: isinstance(v, (int, float)) and v > 0,
        "cameras": lambda v: isinstance(v, (int, float)) and v == int(v) and v >= 1,
        "noise_px": lambda v: isinstance(v, (int, float)) and v >= 0,
        "seed": lambda v: isinstance(v, (int, float)) and v == int(v),
        "camera_distance": lambda v: isinstance(v, (int, float)) and v > 0,
        "camera_height": lambda v: isinstance(v, (int, float)),
    }
    for key, ok in checks.items():
        if isinstance(opts[key], bool) or not ok(opts[key]):
            raise ConfigError(f"mocap: {key}={opts[key]!r} is not valid (default {DEFAULTS[key]})")
    return opts


def build(data_dir: Path | str | None = None, **options) -> MocapDataset:
    """Open a folder of BVH takes (``*.bvh``, searched recursively; default ``$KPBENCH_DATA/mocap``).

    Options (defaults in :data:`DEFAULTS`): ``fps``, ``cameras``, ``noise_px``, ``test_takes``
    (a take name or a list; None: the last take), ``seed``, ``camera_distance`` (mm),
    ``camera_height`` (mm).

    Raises:
        DataError: no folder, no BVH file, two takes with one name, a malformed BVH (file and
            line) or a skeleton without the CMU joints the mapping needs (one line).
        ConfigError: an unknown or invalid option.
    """
    opts = _check_options(options)
    root = find_data_dir("mocap", data_dir, DATA_HINT)
    files = sorted(root.rglob("*.bvh"), key=lambda p: (p.stem, str(p)))
    if not files:
        raise DataError(f"mocap: no *.bvh file in {root}; {DATA_HINT}")
    stems = [p.stem for p in files]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise DataError(f"mocap: take name(s) {', '.join(twice)} found twice under {root}")
    return MocapDataset(root, files, opts)
