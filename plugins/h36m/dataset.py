"""Human3.6M as VideoPose3D prepares it: ``data_3d_h36m.npz`` + ``data_2d_h36m_<detector>.npz``.

Files (facebookresearch/VideoPose3D ``data/prepare_data_h36m.py``, ``DATASETS.md``):

* ``data_3d_h36m.npz``: ``positions_3d`` = {subject: {action: (F, 32, 3) float}}, the mocap
  joints in world coordinates, **metres**.
* ``data_2d_h36m_<detector>.npz``: ``positions_2d`` = {subject: {action: [4 arrays (F', 17, 2)
  px, one per camera in Human3.6M's camera order]}} and ``metadata`` = {``num_joints``,
  ``keypoints_symmetry`` = [left, right], optional ``layout_name``}. ``gt`` is the mocap
  projected through the cameras; the detections (``cpn_ft_h36m_dbb``, ...) are downloaded.

What the loader does, as VideoPose3D's ``Human36mDataset`` and ``run.py`` do: keep 17 of the 32
joints (:mod:`.layout`), move the world poses into each camera's frame with the published
calibration (:mod:`.cameras`), cut 2D sequences longer than their mocap to the mocap length,
50 fps. Then, for kpbench: 3D in mm, one lifting3d sample per (subject, action, camera), named
``"S9/Walking 1.54138969"``; its ``action`` is the action without its take number
(``"Walking 1"`` → ``"Walking"``: the reference's ``action.split(' ')[0]``, so action-wise
averages pool the takes of an action). Subjects go in split-list order, actions sorted by name,
cameras in Human3.6M order. Both files hold pickled dicts, as the reference writes them; they
are unpickled by :mod:`.npz`, which resolves numpy arrays only, so a crafted file cannot run code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kpbench.dataset import FileLedger, KeypointDataset, find_data_dir
from kpbench.errors import ConfigError, DataError

from . import cameras as cams
from . import npz
from .layout import FLIP_PAIRS, KEPT32, KEYPOINT_NAMES, LEFT, RIGHT, SKELETON
from .plugin import DATA_HINT

FPS = 50.0
FILE_3D = "data_3d_h36m.npz"
TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
TEST_SUBJECTS = ("S9", "S11")
MAKE_2D = (
    "make it with VideoPose3D's data/prepare_data_h36m.py (gt) or get the detections as its "
    "DATASETS.md says (e.g. data_2d_h36m_cpn_ft_h36m_dbb.npz), or write a twin with "
    "`kpbench data synth h36m`"
)


def file_2d(detector: str) -> str:
    """The 2D file of a detector: ``data_2d_h36m_<detector>.npz``."""
    return f"data_2d_h36m_{detector}.npz"


def action_group(action: str) -> str:
    """The action without its take number: ``"Walking 1"`` → ``"Walking"`` (as the reference)."""
    return action.split(" ")[0]


def _is_int(value, expected: int) -> bool:
    """``value`` is the whole number ``expected`` (an int or numpy integer, not text or bool)."""
    return (
        isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value == expected
    )


def _subjects(value, default: tuple[str, ...], option: str) -> tuple[list[str], bool]:
    """Subjects from an option (list, or comma-separated text); True when given explicitly."""
    if value is None:
        return list(default), False
    items = value.split(",") if isinstance(value, str) else list(value)
    out = [str(s).strip() for s in items if str(s).strip()]
    if not out:
        raise ConfigError(f"h36m: data.{option}={value!r} names no subject, e.g. [S9, S11]")
    return out, True


def _cameras(value) -> list[int]:
    """Camera indices (0-3) from None (all), indices or Human3.6M ids, a list or comma text."""
    if value is None:
        return list(range(4))
    items = str(value).split(",") if isinstance(value, (str, int)) else list(value)
    out = []
    for item in items:
        text = str(item).strip()
        if text in cams.CAMERA_IDS:
            out.append(cams.CAMERA_IDS.index(text))
        elif text in ("0", "1", "2", "3"):
            out.append(int(text))
        else:
            raise ConfigError(
                f"h36m: data.cameras has {item!r}, not a camera index 0-3 nor an id of "
                f"{', '.join(cams.CAMERA_IDS)}"
            )
    return sorted(set(out))


class H36MDataset(KeypointDataset):
    """Human3.6M lifting sequences: 17 joints, 2D px + 3D mm in each camera's frame, 50 fps.

    Args:
        root: the folder holding the npz files.
        detector: which 2D file to read (``data_2d_h36m_<detector>.npz``).
        train_subjects, test_subjects: subjects of each split (lists or ``"S1,S5"``).
        cameras: camera indices (0-3) or ids to use (None: all four).
        max_frames_per_sequence: keep only the first N frames of each sequence (None: all).

    Attributes:
        keypoint_names: the 17 Human3.6M joints (:data:`.layout.KEYPOINT_NAMES`), pelvis first.
        skeleton: (parent, child) bones of the reduced skeleton.
        flip_pairs: ``(left, right)`` pairs: VideoPose3D's ``keypoints_symmetry``.
    """

    name = "h36m"
    tasks = ("lifting3d",)

    def __init__(
        self,
        root: Path,
        detector: str = "gt",
        train_subjects=None,
        test_subjects=None,
        cameras=None,
        max_frames_per_sequence: int | None = None,
        ignored_options: dict | None = None,
    ):
        super().__init__()
        self.root = Path(root)
        self.keypoint_names = list(KEYPOINT_NAMES)
        self.skeleton = list(SKELETON)
        self.flip_pairs = list(FLIP_PAIRS)
        if not isinstance(detector, str) or not detector or "/" in detector or "\\" in detector:
            raise ConfigError(f"h36m: data.detector={detector!r} must be a name such as gt")
        if max_frames_per_sequence is not None and (
            isinstance(max_frames_per_sequence, bool)
            or not isinstance(max_frames_per_sequence, int)
            or max_frames_per_sequence < 1
        ):
            raise ConfigError(
                f"h36m: data.max_frames_per_sequence={max_frames_per_sequence!r} must be a whole "
                "number >= 1 (or unset for whole sequences)"
            )
        self.max_frames = max_frames_per_sequence
        self.camera_index = _cameras(cameras)
        train, train_given = _subjects(train_subjects, TRAIN_SUBJECTS, "train_subjects")
        test, test_given = _subjects(test_subjects, TEST_SUBJECTS, "test_subjects")
        both = sorted(set(train) & set(test))
        if both:
            raise ConfigError(f"h36m: subjects {both} are in both train and test splits")

        path3d, path2d = self.root / FILE_3D, self.root / file_2d(detector)
        if not path3d.is_file():
            raise DataError(f"h36m: no {FILE_3D} in {self.root}; {DATA_HINT}")
        if not path2d.is_file():
            present = sorted(p.name for p in self.root.glob("data_2d_h36m_*.npz"))
            raise DataError(
                f"h36m: no 2D file {path2d.name} in {self.root} for detector={detector!r} "
                f"(2D files there: {', '.join(present) or 'none'}); {MAKE_2D}"
            )
        poses3d, _ = npz.load_dict(path3d, "positions_3d")
        poses2d, meta = npz.load_dict(path2d, "positions_2d")
        layout = self._check_metadata(meta, path2d)

        ignored: dict[str, list] = {}
        self.splits: dict[str, list[str]] = {}
        for split, subjects, given in (("train", train, train_given), ("test", test, test_given)):
            missing = [s for s in subjects if s not in poses3d]
            if missing and given:
                raise DataError(
                    f"h36m: data.{split}_subjects names {missing}, not in {path3d} "
                    f"(it has {', '.join(poses3d) or 'none'}); name subjects it has"
                )
            if missing:
                ignored[f"{split} subjects not in {FILE_3D}"] = missing
            self.splits[split] = [s for s in subjects if s in poses3d]
        used = self.splits["train"] + self.splits["test"]
        for s in used:
            if s not in cams.EXTRINSICS:
                raise DataError(
                    f"h36m: subject {s} of {path3d} has no published camera extrinsics "
                    f"(Human3.6M has them for {', '.join(cams.EXTRINSICS)}); leave it out with "
                    "--set data.train_subjects=... / data.test_subjects=..."
                )
        unused = [s for s in poses3d if s not in used]
        if unused:
            ignored[f"subjects of {FILE_3D} in no split"] = unused
        only2d = [s for s in poses2d if s not in poses3d]
        if only2d:
            ignored[f"subjects with 2D but no 3D (unlabelled) in {path2d.name}"] = only2d

        self._world: dict[tuple[str, str], np.ndarray] = {}
        self._seqs: list[tuple[str, str, int, np.ndarray]] = []
        truncated = 0
        for s in used:
            if s not in poses2d:
                raise DataError(
                    f"h36m: {path2d.name} has no subject {s}, which {FILE_3D} has (2D subjects: "
                    f"{', '.join(poses2d) or 'none'}); use a 2D file made for these subjects or "
                    f"leave {s} out with --set data.train_subjects=... / data.test_subjects=..."
                )
            extra = sorted(a for a in poses2d[s] if a not in poses3d[s])
            if extra:
                ignored.setdefault(f"actions with 2D but no 3D in {path2d.name}", []).extend(
                    f"{s}/{a}" for a in extra
                )
            for action in sorted(poses3d[s]):
                world = self._world_poses(poses3d[s][action], path3d, s, action)
                where = f"{path2d.name} {s}/{action}"
                views = poses2d[s].get(action)
                if views is None:
                    raise DataError(
                        f"h36m: {path2d.name} has no action {action!r} of subject {s}, which "
                        f"{FILE_3D} has; make the 2D file from the same 3D file ({MAKE_2D})"
                    )
                if not isinstance(views, (list, tuple)) or len(views) != len(cams.INTRINSICS):
                    n = len(views) if isinstance(views, (list, tuple)) else type(views).__name__
                    raise DataError(
                        f"h36m: {where} holds {n} camera arrays, expected a list of 4 (one per "
                        "Human3.6M camera, in camera order); write the 2D file again"
                    )
                self._world[(s, action)] = world
                for c in self.camera_index:
                    kp, cut = self._keypoints2d(views[c], len(world), f"{where} camera {c}")
                    truncated += cut
                    self._seqs.append((s, action, c, kp))
        if not self._seqs:
            raise DataError(
                f"h36m: {self.root} gives no sequence for subjects {used or 'none'}; "
                f"{path3d.name} has {', '.join(poses3d) or 'no subject'}"
            )
        self.notes = {
            "files": self._ledger(path3d, path2d, detector),
            "detector": detector,
            "layout": layout,
            "fps": FPS,
            "subjects": dict(self.splits),
            "subjects_in_files": {"3d": list(poses3d), "2d": list(poses2d)},
            "cameras": [cams.CAMERA_IDS[c] for c in self.camera_index],
            "actions": sorted({action_group(a) for _, a, _, _ in self._seqs}),
            "action_grouping": "take number dropped: 'Walking 1' -> 'Walking' "
            "(VideoPose3D run.py, action.split(' ')[0])",
            "splits": {k: self._counts(k) for k in self.splits},
            "truncated_2d_sequences": truncated,
            "max_frames_per_sequence": self.max_frames,
        }
        if ignored:
            self.notes["ignored"] = ignored
        if ignored_options:
            self.notes["ignored_options"] = dict(ignored_options)

    def _ledger(self, path3d: Path, path2d: Path, detector: str) -> dict:
        """The two files read (what they gave) and every other file of the folder (why not)."""
        ledger = FileLedger(self.root)
        subjects = sorted({s for s, _, _, _ in self._seqs})
        ledger.used(path3d, subjects=subjects, actions=len(self._world))
        ledger.used(path2d, detector=detector, sequences=len(self._seqs))
        for p in sorted(self.root.iterdir()):
            if p.is_file() and p not in (path3d, path2d):
                other = p.name.startswith("data_2d_h36m_") and p.suffix == ".npz"
                ledger.ignored(p, f"2D file of another detector (data.detector={detector})"
                               if other else "not a VideoPose3D Human3.6M file")  # fmt: skip
        return ledger.as_dict()

    @staticmethod
    def _check_metadata(meta: dict | None, path: Path) -> str:
        """The 2D layout must be Human3.6M's 17 joints (2D and 3D share one joint list)."""
        if meta is None:
            return "h36m (2D file has no metadata; joint count checked per array)"
        name = meta.get("layout_name", "h36m")
        joints = meta.get("num_joints", len(KEYPOINT_NAMES))
        sym = meta.get("keypoints_symmetry")
        try:
            sym_ok = sym is None or (
                [np.asarray(sym[0]).tolist(), np.asarray(sym[1]).tolist()]
                == [list(LEFT), list(RIGHT)]
            )
        except (TypeError, ValueError, IndexError, KeyError):
            sym_ok = False
        if name != "h36m" or not _is_int(joints, len(KEYPOINT_NAMES)) or not sym_ok:
            raise DataError(
                f"h36m: {path} holds 2D keypoints in layout {name!r} ({joints} joints, left/right "
                f"{sym}), not the Human3.6M 17-joint layout of the 3D poses (left {list(LEFT)}, "
                f"right {list(RIGHT)}); lifting3d needs one joint list, so pick an h36m-layout "
                "detector (gt, cpn_ft_h36m_dbb, detectron_ft_h36m, sh_ft_h36m)"
            )
        return f"{name} ({joints} joints)"

    @staticmethod
    def _world_poses(positions, path: Path, subject: str, action: str) -> np.ndarray:
        """(F, 17, 3) float32 world mm from the (F, 32, 3) metres of the 3D file."""
        arr = np.asarray(positions) if isinstance(positions, np.ndarray) else None
        if arr is None or arr.ndim != 3 or arr.shape[1:] != (32, 3) or arr.dtype.kind != "f":
            shape = getattr(positions, "shape", type(positions).__name__)
            raise DataError(
                f"h36m: {path} {subject}/{action} has shape {shape}, expected (frames, 32, 3) "
                "float world metres (the 32 Human3.6M mocap joints); write it again with "
                "VideoPose3D's prepare_data_h36m.py"
            )
        if len(arr) == 0:
            raise DataError(f"h36m: {path} {subject}/{action} has 0 frames; write it again")
        with np.errstate(over="ignore", invalid="ignore"):
            mm = (arr[:, list(KEPT32)].astype(np.float64) * 1000.0).astype(np.float32)
        if not np.isfinite(mm).all():
            raise DataError(
                f"h36m: {path} {subject}/{action} has NaN, inf or out-of-range 3D positions "
                "(metres, kept in float32 mm)"
            )
        return mm

    @staticmethod
    def _keypoints2d(arr, frames3d: int, where: str) -> tuple[np.ndarray, int]:
        """(F, 17, 2) float32 px cut to the mocap length; 1 when it was longer."""
        ok = isinstance(arr, np.ndarray) and arr.ndim == 3 and arr.shape[-1] >= 2
        if not ok or arr.shape[1] != len(KEYPOINT_NAMES) or arr.dtype.kind not in "iuf":
            shape = getattr(arr, "shape", type(arr).__name__)
            raise DataError(
                f"h36m: {where} has shape {shape}, expected (frames, 17, 2) px numbers (dtype "
                f"{getattr(arr, 'dtype', '-')}): the 17 joints the 3D poses are reduced to; use a "
                "2D file in the h36m 17-joint layout"
            )
        if len(arr) < frames3d:
            raise DataError(
                f"h36m: {where} has {len(arr)} frames but the 3D poses have {frames3d}; the 2D "
                f"must cover every mocap frame (longer 2D is cut), make it from the same 3D file"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            kp = np.asarray(arr[:frames3d, :, :2], np.float32)
        if not np.isfinite(kp).all():
            raise DataError(
                f"h36m: {where} has NaN, inf or out-of-range (float32) 2D keypoints; fill or drop them"
            )
        return kp, int(len(arr) > frames3d)

    def _counts(self, split: str) -> dict:
        seqs = [q for q in self._seqs if q[0] in self.splits[split]]
        return {"sequences": len(seqs), "frames": sum(self._length(q[3]) for q in seqs)}

    def _length(self, kp: np.ndarray) -> int:
        return len(kp) if self.max_frames is None else min(len(kp), self.max_frames)

    def sequences3d(self, split: str) -> list[dict]:
        """lifting3d samples of ``split``: 2D px and camera-frame 3D mm, (T, 17, ·) float32.

        The camera carries, beside the schema's ``intrinsics``/``R``/``t``/``size``, its
        Human3.6M ``id`` and ``distortion`` (k1, k2, k3, p1, p2):
        :func:`kpbench_plugins.h36m.cameras.project` maps the 3D onto the 2D of ``gt``.
        """
        out = []
        for s, action, c, kp in self._seqs:
            if s not in self.splits.get(split, ()):
                continue
            cam = cams.camera(s, c)
            n = self._length(kp)
            kp3d = cams.world_to_camera(self._world[(s, action)][:n], cam)
            out.append(
                {
                    "name": f"{s}/{action}.{cam['id']}",
                    "subject": s,
                    "action": action_group(action),
                    "keypoints2d": kp[:n].copy(),
                    "keypoints3d": kp3d.astype(np.float32),
                    "camera": cam,
                    "fps": FPS,
                }
            )
        return out

    def describe(self) -> dict:
        """Summary for the run record: joints, flip pairs, files, subjects, what was ignored."""
        return {
            "name": self.name,
            "tasks": list(self.tasks),
            "keypoint_names": list(self.keypoint_names),
            "flip_pairs": [list(p) for p in self.flip_pairs],
            **self.notes,
        }


def build(
    data_dir: Path | str | None = None,
    *,
    detector: str = "gt",
    train_subjects=None,
    test_subjects=None,
    cameras=None,
    max_frames_per_sequence: int | None = None,
    **others,
) -> H36MDataset:
    """Open a folder of VideoPose3D Human3.6M files (default ``$KPBENCH_DATA/h36m``).

    Args:
        data_dir: the folder holding ``data_3d_h36m.npz`` and ``data_2d_h36m_<detector>.npz``.
        detector: the 2D source (``gt``, ``cpn_ft_h36m_dbb``, the twin's ``noisy``, ...).
        train_subjects: default S1, S5, S6, S7, S8. test_subjects: default S9, S11.
            Default subjects missing from the 3D file are left out (noted); named ones must exist.
        cameras: indices 0-3 or ids (``54138969``, ...) to use; None: all four.
        max_frames_per_sequence: the first N frames of each sequence only (None: all).
        others: options this dataset does not know; recorded in ``notes['ignored_options']``.

    Raises:
        DataError: a missing folder or file, or files that do not fit together (one line).
        ConfigError: an option with a wrong value.
    """
    root = find_data_dir("h36m", data_dir, DATA_HINT)
    return H36MDataset(
        root,
        detector=detector,
        train_subjects=train_subjects,
        test_subjects=test_subjects,
        cameras=cameras,
        max_frames_per_sequence=max_frames_per_sequence,
        ignored_options=others,
    )
