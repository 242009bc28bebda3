"""J-HMDB as distributed (http://jhmdb.is.tue.mpg.de/): frame folders, joint .mat files, splits.

Layout of the data folder (the three archives unzipped side by side)::

    Rename_Images/<action>/<video>/00001.png, 00002.png, ...   frames (320 × 240 in JHMDB)
    joint_positions/<action>/<video>/joint_positions.mat       MATLAB file: pos_img (2, 15, T)
                                                                 px (x; y), 1-based, plus
                                                                 pos_world, scale, viewpoint
    splits/<action>_test_split<k>.txt                          k = 1, 2, 3; one line per video
                                                                 "<video>.avi <1|2>": 1 = train,
                                                                 2 = test

What the loader does, as CRW/UVC's JHMDB readers do: ``pos_img`` is read with
``scipy.io.loadmat``, moved to 0-based pixels (minus 1) and transposed to (T, 15, 2); a joint is
visible when it lies inside the image (``0 ≤ x < W`` and ``0 ≤ y < H``, JHMDB's rule: its
puppet joints are annotated even outside the frame). The 15 joints are named in JHMDB's order
(:data:`KEYPOINT_NAMES`). Split ``k`` (option ``split``, 1–3; 1 is the one CRW/UVC report)
puts every video of its files into ``train`` or ``test``; actions are read in sorted order,
videos in the order of their split file. Each video is one sequence at 30 fps; it serves
``propagation`` as a whole clip (every frame is labelled).

A video whose frames or joint file is missing or unreadable (a ``.mat`` that does not load, a
frame whose header is not an image's, a ``pos_img`` of the wrong shape, type, or with NaN/inf)
is skipped, and ``notes["files"]`` (a :class:`kpbench.dataset.FileLedger`) says which and why.
When a clip has more frames than ``pos_img``, the extra frames are unlabelled (NaN); joints
beyond the last frame are dropped; both are noted under ``frame_count_mismatch``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from kpbench.dataset import FileLedger, KeypointDataset, VideoItem, find_data_dir
from kpbench.errors import ConfigError, DataError
from kpbench.video import IMAGE_SUFFIXES

from .plugin import DATA_HINT

#: JHMDB's 15 joints, in the order of ``pos_img`` (the dataset's README).
KEYPOINT_NAMES = (
    "neck", "belly", "face", "right_shoulder", "left_shoulder", "right_hip", "left_hip",
    "right_elbow", "left_elbow", "right_knee", "left_knee", "right_wrist", "left_wrist",
    "right_ankle", "left_ankle",
)  # fmt: skip
#: Bones to draw (index pairs into :data:`KEYPOINT_NAMES`).
SKELETON = (
    (2, 0), (0, 1), (0, 3), (0, 4), (3, 7), (7, 11), (4, 8), (8, 12),
    (1, 5), (1, 6), (5, 9), (9, 13), (6, 10), (10, 14),
)  # fmt: skip
FPS = 30.0
SPLIT_FILE = re.compile(r"^(?P<action>.+)_test_split(?P<k>[123])\.txt$")
_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM")


def read_split(path: Path) -> list[tuple[str, str]]:
    """``[(video, "train" | "test"), ...]`` from one split file, in its order.

    Raises:
        DataError: a line that is not ``<video>.avi <1|2>`` (file and line named).
    """
    out = []
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("1", "2"):
            raise DataError(
                f"jhmdb: {path} line {n} is {line.strip()[:60]!r}, expected '<video>.avi 1' "
                "(train) or '<video>.avi 2' (test)"
            )
        out.append((Path(parts[0]).stem, "train" if parts[1] == "1" else "test"))
    return out


def read_joints(path: Path) -> np.ndarray:
    """(T, 15, 2) 0-based px from a ``joint_positions.mat``.

    Raises:
        DataError: the file does not load, or has no ``pos_img`` of finite numbers of shape
            (2, 15, T) with T >= 1 (one line naming the file and the field).
    """
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as exc:  # scipy raises many kinds on damaged files
        raise DataError(f"{path}: unreadable .mat ({type(exc).__name__})") from None
    pos = mat.get("pos_img")
    if pos is None or np.ndim(pos) != 3 or np.shape(pos)[:2] != (2, len(KEYPOINT_NAMES)):
        raise DataError(f"{path}: no pos_img of shape (2, 15, T) (got {np.shape(pos)})")
    if pos.dtype.kind not in "iuf" or pos.shape[2] == 0:
        raise DataError(
            f"{path}: pos_img holds {pos.shape[2]} frames of {pos.dtype}, expected numbers "
            "for T >= 1 frames"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.asarray(pos, np.float64).transpose(2, 1, 0) - 1.0
    if not np.isfinite(out).all():
        raise DataError(f"{path}: pos_img has NaN or inf; JHMDB labels every joint in every frame")
    return out


def _frames_ok(folder: Path) -> str | None:
    """None when every frame file starts like an image, else the reason."""
    frames = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not frames:
        return "no frame images"
    for p in frames:
        with open(p, "rb") as fh:
            head = fh.read(8)
        if not any(head.startswith(s) for s in _SIGNATURES):
            return f"{p.name} is not an image file"
    return None


class JHMDBDataset(KeypointDataset):
    """JHMDB clips of one split, 15 joints labelled in every frame (see the module docs).

    Args:
        root: the folder holding ``Rename_Images``, ``joint_positions`` and ``splits``.
        split: which of JHMDB's three splits (1–3).
    """

    name = "jhmdb"
    tasks = ("propagation",)

    def __init__(self, root: Path, split: int = 1, ignored_options: dict | None = None):
        from kpbench.video import VideoReader

        super().__init__()
        if isinstance(split, bool) or str(split) not in ("1", "2", "3"):
            raise ConfigError(f"jhmdb: data.split={split!r} must be 1, 2 or 3 (JHMDB's splits)")
        self.root, self.split = Path(root), int(split)
        self.keypoint_names, self.skeleton = list(KEYPOINT_NAMES), list(SKELETON)
        folders = [self.root / d for d in ("Rename_Images", "joint_positions", "splits")]
        missing = [f.name for f in folders if not f.is_dir()]
        if missing:
            raise DataError(f"jhmdb: {self.root} has no {', '.join(missing)} folder; {DATA_HINT}")
        files = sorted(
            (m["action"], p)
            for p in folders[2].iterdir()
            if (m := SPLIT_FILE.match(p.name)) and m["k"] == str(self.split)
        )
        if not files:
            raise DataError(
                f"jhmdb: {folders[2]} has no <action>_test_split{self.split}.txt; {DATA_HINT}"
            )
        self._items: list[VideoItem] = []
        ledger, mismatch, listed = FileLedger(self.root), {}, set()
        for action, path in files:
            ledger.used(path, split=self.split)
            for video, part in read_split(path):
                name = f"{action}/{video}"
                frames_dir = folders[0] / action / video
                mat = folders[1] / action / video / "joint_positions.mat"
                listed.add(mat)
                if not frames_dir.is_dir() or not mat.is_file():
                    what = "frames folder" if mat.is_file() else "joint_positions.mat"
                    ledger.skipped(frames_dir if mat.is_file() else mat, f"{name}: no {what}")
                    continue
                try:
                    joints = read_joints(mat)
                except DataError as exc:
                    ledger.skipped(mat, str(exc).removeprefix(f"{mat}: "))
                    continue
                try:
                    bad = _frames_ok(frames_dir)
                    if bad:
                        raise ValueError(bad)
                    reader = VideoReader(frames_dir, name=name)
                except (ValueError, DataError) as exc:
                    ledger.skipped(frames_dir, str(exc))
                    continue
                ledger.used(mat, video=name, split=part, frames=len(joints))
                n = reader.num_frames
                if len(joints) != n:
                    mismatch[name] = {"frames": n, "pos_img": len(joints)}
                kp = np.full((n, len(KEYPOINT_NAMES), 2), np.nan)
                kp[: min(n, len(joints))] = joints[:n]
                inside = (
                    (kp >= 0).all(-1) & (kp[..., 0] < reader.width) & (kp[..., 1] < reader.height)
                )
                self._items.append(VideoItem(reader, part, keypoints=kp, visibility=inside,
                                             action=action))  # fmt: skip
        counts = {s: sum(i.split == s for i in self._items) for s in ("train", "test")}
        for mat in sorted(folders[1].glob("*/*/joint_positions.mat")):
            if mat not in listed:
                ledger.ignored(mat, f"its video is in no <action>_test_split{self.split}.txt")
        self.notes = {"split": self.split, "videos": counts, "files": ledger.as_dict()}
        if mismatch:
            self.notes["frame_count_mismatch"] = mismatch
        if ignored_options:
            self.notes["ignored_options"] = dict(ignored_options)
        if not self._items:
            raise DataError(f"jhmdb: no readable video in {self.root} for split {self.split}")

    def videos(self, split: str | None = None) -> list[VideoItem]:
        """The clips of ``split`` (``train``/``test``; all if None), whole, in split-file order.

        ``propagation_videos`` (the default accessor) serves each one from its first frame."""
        return [i for i in self._items if split is None or i.split == split]


def build(data_dir: Path | str | None = None, *, split: int = 1, **others) -> JHMDBDataset:
    """Open a JHMDB folder (default ``$KPBENCH_DATA/jhmdb``).

    Args:
        data_dir: the folder holding ``Rename_Images``, ``joint_positions`` and ``splits``.
        split: JHMDB's split 1, 2 or 3 (1: the split propagation papers report).
        others: options this dataset does not know; recorded in ``notes['ignored_options']``.

    Raises:
        DataError: a missing folder, no split file, a malformed split line, no readable video.
        ConfigError: a split other than 1–3.
    """
    root = find_data_dir("jhmdb", data_dir, DATA_HINT)
    return JHMDBDataset(root, split=split, ignored_options=others or None)
