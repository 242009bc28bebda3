"""Phase tables of action clips as ``alignment`` sequences (the ``video`` dataset's TCC data).

**The table.** ``<video stem>.phases.csv`` next to a clip (``clip.mp4`` → ``clip.phases.csv``;
a frame folder ``clip/`` → ``clip.phases.csv`` beside it)::

    frame,phase,progress
    0,reach,0.0
    1,reach,0.013
    ...

``frame``: 0-based frame index; ``phase`` (or ``label``): the phase's name or number;
``progress`` (optional): how far the action is in that frame, a number in [0, 1]. Every frame
of the clip needs a row: a clip with frames missing from its table is refused with one line
naming the first missing frames (trim the video, or label them, e.g. as the first phase with
progress 0 for idle frames before the action). A row beyond the clip's last frame is refused
when the dataset is built.

**Phase indices** are per set (action). When every phase name of the set is a whole number
(``0``, ``1``, … or ``1``, ``2``, …), they keep their numeric order; otherwise phases are numbered
in order of first appearance: the set's clips by path, each clip's rows by frame.

**Sets and splits.** ``set`` is the clip's folder relative to the data folder (one folder per
action: ``pour/clip1.mp4`` → ``"pour"``, ``a/b/c.mp4`` → ``"a/b"``); clips at the top level form
one set named after the data folder. Per set, clips sorted by path, the first
``floor((1 − test_fraction) · N)`` are ``"train"`` and the rest ``"test"`` (whole clips: a
sequence is never cut). A sequence is named ``<set>/<clip stem>`` (``"pour/clip1"``), its
frames are the whole clip decoded to ``(T, H, W, 3)`` uint8 RGB, its fps the container's (30
for a folder of frames).

**Memory.** A split's clips are decoded together; before decoding, a split whose frames would
take more than ``max_alignment_mb`` (default :data:`MAX_MB` = 4096 MB as uint8, T·H·W·3 bytes
per clip) is refused with one line saying the size and the option to raise.

**Progress without a column:** within each run of frames of one phase (a maximal stretch
``[a, b)`` of phase ``p``, with ``n`` phases in the set), linear from ``p / n`` at its first frame
towards ``(p + 1) / n``: ``(p + (t − a) / (b − a)) / n``. A clip whose phases run in order thus
rises from 0 to just under 1, in equal shares per phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kpbench.errors import ConfigError, DataError
from kpbench.video import VideoReader

SUFFIX = ".phases.csv"
#: Default ``max_alignment_mb``: the most MB of decoded frames one split may take.
MAX_MB = 4096.0


@dataclass(frozen=True)
class Clip:
    """A clip with a phase table: its split, set, reader and table path."""

    split: str
    set: str
    reader: VideoReader
    table: Path


@dataclass
class PhaseTable:
    """One clip's phase table.

    Attributes:
        path: the CSV.
        frames: ``(N,)`` int frame indices, in the file's order.
        names: ``N`` phase names.
        progress: ``(N,)`` float, or None when the table has no ``progress`` column.
    """

    path: Path
    frames: np.ndarray
    names: list[str]
    progress: np.ndarray | None


def read_table(path: Path) -> PhaseTable:
    """Read a phase table (see the module docstring).

    Raises:
        DataError: no ``frame`` or phase column, a bad frame index, a frame listed twice, or a
            progress value that is missing or outside [0, 1] (one line, naming the file).
    """
    import pandas as pd

    from kpbench_plugins.video.labels import read_phases

    frames, names = read_phases(path)
    df = pd.read_csv(path)
    cols = {str(c).strip().lower(): c for c in df.columns}
    if "progress" not in cols:
        return PhaseTable(path, frames, names, None)
    label = next(cols[c] for c in ("label", "phase", "behavior", "behaviour") if c in cols)
    df = df[df[label].notna() & (df[label].astype(str).str.strip() != "")]
    progress = pd.to_numeric(df[cols["progress"]], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(progress) | (progress < 0) | (progress > 1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: progress {df[cols['progress']].iloc[row]!r} at frame {int(frames[row])} is not "
            "a number in [0, 1]; fix it or drop the progress column to derive progress from phases"
        )
    return PhaseTable(path, frames, names, progress)


def phase_order(tables: list[PhaseTable]) -> dict[str, int]:
    """Phase name → index for one set's tables (numeric order, else first appearance)."""
    seen: dict[str, None] = {}
    for table in tables:
        for i in np.argsort(table.frames, kind="stable"):
            seen.setdefault(table.names[i])
    names = list(seen)
    if names and all(n.lstrip("-").isdigit() for n in names):
        names.sort(key=int)
    return {n: i for i, n in enumerate(names)}


def derived_progress(phases: np.ndarray, n_phases: int) -> np.ndarray:
    """Progress from phase indices: linear through each run of one phase (module docstring)."""
    phases = np.asarray(phases, np.int64)
    out = np.zeros(len(phases))
    starts = np.flatnonzero(np.r_[True, phases[1:] != phases[:-1]])
    for a, b in zip(starts, np.r_[starts[1:], len(phases)]):
        out[a:b] = (phases[a] + np.arange(b - a) / (b - a)) / n_phases
    return out


def frame_labels(
    table: PhaseTable, num_frames: int, order: dict[str, int], video: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(phases (T,) int, progress (T,))`` of a clip of ``num_frames`` frames from its table.

    Raises:
        DataError: a frame of the clip has no row, or a row is beyond the clip.
    """
    if len(table.frames) and table.frames.max() >= num_frames:
        raise DataError(
            f"{table.path}: frame {int(table.frames.max())} is beyond {video}'s {num_frames} frames"
        )
    phases = np.full(num_frames, -1, np.int64)
    phases[table.frames] = [order[n] for n in table.names]
    missing = np.flatnonzero(phases < 0)
    if len(missing):
        shown = ", ".join(str(int(i)) for i in missing[:5]) + (" …" if len(missing) > 5 else "")
        raise DataError(
            f"{table.path}: {len(missing)} of {video}'s {num_frames} frames have no phase row "
            f"(frames {shown}); alignment needs a phase for every frame: add rows or trim the video"
        )
    if table.progress is None:
        return phases, derived_progress(phases, len(order))
    progress = np.zeros(num_frames)
    progress[table.frames] = table.progress
    return phases, progress


def check_max_mb(value) -> None:
    """Raise a one-line ConfigError unless ``value`` is a number of MB > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigError(
            f"data.max_alignment_mb={value!r}: must be a number of MB > 0, "
            "e.g. --set data.max_alignment_mb=8192"
        )


def split_clips(root: Path, readers, tables: dict[Path, Path], cut) -> list[Clip]:
    """The clips with a ``.phases.csv`` (``tables``: video path → its label table), one set per
    folder, split per set: the first ``cut(N)`` clips by path are train, the rest test."""
    sets: dict[str, list] = {}
    for r in sorted(readers, key=lambda r: r.path):
        csv = tables.get(r.path)
        if csv is None or not csv.name.lower().endswith(SUFFIX):
            continue
        folder = "." if r.path == root else r.path.parent.relative_to(root).as_posix()
        name = (root.name or "video") if folder == "." else folder
        sets.setdefault(name, []).append((r, csv))
    out = []
    for name, clips in sorted(sets.items()):
        n_train = cut(len(clips))
        for i, (r, csv) in enumerate(clips):
            out.append(Clip("train" if i < n_train else "test", name, r, csv))
    return out


def notes(clips: list[Clip], videos: list[str], rel) -> dict:
    """What the dataset notes say about alignment: sets, sequences, clips left out."""
    used = {rel(c.reader.path) for c in clips}
    return {
        "sets": sorted({c.set for c in clips}),
        "sequences": {s: sum(c.split == s for c in clips) for s in ("train", "test")},
        "phase_tables": [rel(c.table) for c in clips],
        "without_phase_table": [v for v in videos if v not in used],
    }


def sequences(clips: list[Clip], split: str, max_mb: float) -> list[dict]:
    """The ``alignment`` sequences of ``split``: every clip decoded, labelled from its table.

    Raises:
        DataError: the split's frames would exceed ``max_mb``, a clip has a frame without a
            phase row or a bad progress value, or does not decode fully (one line each).
    """
    mine = [c for c in clips if c.split == split]
    mb = sum(c.reader.num_frames * c.reader.width * c.reader.height * 3 for c in mine) / 2**20
    if mb > max_mb:
        raise DataError(
            f"video dataset: the {len(mine)} {split} alignment clips would take {mb:.0f} MB "
            f"decoded, above max_alignment_mb={max_mb:g}; raise it "
            f"(--set data.max_alignment_mb={int(mb) + 1}) or use fewer, shorter or smaller clips"
        )
    tables = {c.table: read_table(c.table) for c in clips}
    out = []
    for clip in mine:
        r = clip.reader
        order = phase_order([tables[c.table] for c in clips if c.set == clip.set])
        phases, progress = frame_labels(tables[clip.table], r.num_frames, order, r.path.name)
        frames = r.read_all()
        if len(frames) != r.num_frames:
            raise DataError(
                f"{r.path}: only {len(frames)} of {r.num_frames} frames decode; re-encode it, "
                "e.g. `ffmpeg -i in -c:v libx264 out.mp4`"
            )
        name = clip.table.name[: -len(SUFFIX)]
        out.append({
            "name": f"{clip.set}/{name}", "set": clip.set, "frames": frames,
            "fps": float(r.fps), "phases": phases, "progress": progress,
        })  # fmt: skip
    return out
