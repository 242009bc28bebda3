"""A small BVH (Biovision Hierarchy) reader and vectorised forward kinematics.

**Why our own and not a library.** PyPI's BVH readers were checked: ``bvhio`` (MIT, maintained)
pins two further packages to exact versions (``pyglm==2.8.2``, ``spatial-transform==1.3.3``),
builds one Python transform object per joint and per frame, and reports parse errors without a
line number; ``bvh`` (2017) only tokenises, with no forward kinematics; ``pymo`` has had no
release in years and pulls in pandas-based pipelines. BVH is a simple text format, so ~200
lines of numpy give world positions for every frame at once, and one-line errors that name the
file and line, with no new dependency.

**Format read.** ``HIERARCHY``, then one ``ROOT`` with nested ``JOINT`` / ``End Site`` blocks,
each with an ``OFFSET x y z`` (in the parent's frame) and, for joints, ``CHANNELS n name...``
(``Xposition`` ``Yposition`` ``Zposition`` ``Xrotation`` ``Yrotation`` ``Zrotation`` in any
order); then ``MOTION``, ``Frames: T``, ``Frame Time: dt`` (seconds) and T lines of channel
values in the order the channels were declared (depth first). Tokens may be spread over lines
in any way; indentation is ignored.

**Forward kinematics.** Rotation angles are degrees. A joint's local rotation composes its
rotation channels in the order listed: ``Zrotation Yrotation Xrotation`` gives
``R = Rz(z) · Ry(y) · Rx(x)`` (intrinsic rotations, the usual BVH convention), and
``Zrotation Xrotation Yrotation`` gives ``Rz · Rx · Ry``. Its local translation is ``OFFSET``
plus its position channels (a CMU root has a zero OFFSET, so the two common readings agree).
World: ``G_j = G_parent · R_j`` and ``p_j = p_parent + G_parent · translation_j``. End sites
are points with an OFFSET and no channels, named ``<parent>_End``. Positions stay in the file's
units and axes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kpbench.errors import DataError

POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")


@dataclass
class BvhTake:
    """One parsed BVH file.

    Attributes:
        source: the file (or a label) the text came from, for messages.
        names: joint names then end-site names (``<parent>_End``), in declaration order.
        parents: index of each point's parent (-1 for the root); parents come first.
        offsets: ``(J, 3)`` each point's OFFSET in its parent's frame, file units.
        channels: each point's channel names (empty for end sites).
        frame_time: seconds per frame, as written in the file.
        values: ``(T, C)`` float64 channel values, C = total number of channels.
    """

    source: str
    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    channels: list[tuple[str, ...]]
    frame_time: float
    values: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def joint_names(self) -> list[str]:
        """Names of the points that carry channels (the file's JOINTs and ROOT)."""
        return [n for n, c in zip(self.names, self.channels) if c]

    def index(self, name: str) -> int:
        return self.names.index(name)


class _Tokens:
    """Whitespace-separated tokens with the (1-based) line each came from."""

    def __init__(self, text: str, source: str):
        self.source = source
        self.items: list[tuple[str, int]] = []
        self.lines = text.splitlines()
        self.pos = 0

    def fail(self, line: int, what: str) -> None:
        raise DataError(f"{self.source}: line {line}: {what}")

    def tokenise(self, stop_line: int) -> None:
        for i, line in enumerate(self.lines[:stop_line], 1):
            self.items += [(tok, i) for tok in line.split()]

    def next(self, what: str) -> tuple[str, int]:
        if self.pos >= len(self.items):
            last = len(self.lines)
            self.fail(last, f"unexpected end of the hierarchy, expected {what}")
        tok = self.items[self.pos]
        self.pos += 1
        return tok

    def expect(self, word: str) -> int:
        tok, line = self.next(repr(word))
        if tok != word:
            self.fail(line, f"expected {word!r}, found {tok!r}")
        return line

    def number(self, what: str) -> float:
        tok, line = self.next(what)
        try:
            value = float(tok)
        except ValueError:
            self.fail(line, f"expected a number ({what}), found {tok!r}")
        if not np.isfinite(value):
            self.fail(line, f"{what} is {tok!r}, not a finite number")
        return value


def _parse_hierarchy(tk: _Tokens) -> tuple[list[str], list[int], list, list]:
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[tuple[str, ...]] = []
    tk.expect("HIERARCHY")
    tk.expect("ROOT")
    stack: list[int] = []  # open blocks: index of the point each belongs to
    kind, parent = "ROOT", -1
    while True:
        # a point header: ROOT/JOINT name, or End Site
        if kind == "End":
            line = tk.expect("Site")
            name = f"{names[parent]}_End"
        else:
            name, line = tk.next(f"a {kind} name")
            if name in ("{", "}"):
                tk.fail(line, f"expected a {kind} name, found {name!r}")
        tk.expect("{")
        tk.expect("OFFSET")
        offset = [tk.number(f"OFFSET of {name}") for _ in range(3)]
        chans: tuple[str, ...] = ()
        if kind != "End":
            tok, line = tk.next("CHANNELS")
            if tok != "CHANNELS":
                tk.fail(line, f"expected CHANNELS for {name}, found {tok!r}")
            n_tok, line = tk.next("a channel count")
            if not (n_tok.isascii() and n_tok.isdigit()):
                tk.fail(line, f"expected a channel count for {name}, found {n_tok!r}")
            chans = tuple(tk.next("a channel name")[0] for _ in range(int(n_tok)))
            bad = [c for c in chans if c not in POSITION_CHANNELS + ROTATION_CHANNELS]
            if bad or len(set(chans)) != len(chans):
                tk.fail(line, f"bad CHANNELS for {name}: {' '.join(chans)}")
        if name in names:
            tk.fail(line, f"a second point named {name!r}; joint names must be unique")
        names.append(name)
        parents.append(parent)
        offsets.append(offset)
        channels.append(chans)
        stack.append(len(names) - 1)
        # children, or the closing braces
        while True:
            tok, line = tk.next("JOINT, End Site or '}'")
            if tok == "}":
                stack.pop()
                if not stack:
                    return names, parents, offsets, channels
                continue
            if tok not in ("JOINT", "End"):
                tk.fail(line, f"expected JOINT, End Site or '}}', found {tok!r}")
            if not channels[stack[-1]]:
                tk.fail(line, f"End Site {names[stack[-1]]} cannot have children")
            kind, parent = tok, stack[-1]
            break


def _header(tk: _Tokens, lines: list[str], i: int, key: str, kind, ok, need: str):
    """The value of MOTION header line ``i`` (0-based), ``key`` then a number."""
    text = lines[i].strip() if i < len(lines) else ""
    if not text.startswith(key):
        tk.fail(i + 1, f"expected {key!r}, found {text[:40]!r}")
    raw = text[len(key) :].strip()
    try:
        value = kind(raw)
    except ValueError:
        tk.fail(i + 1, f"bad {key[:-1]} {raw!r}")
    if not ok(value):
        tk.fail(i + 1, f"MOTION needs {need}, got {raw}")
    return value


def parse_bvh(text: str, source: str = "<bvh>") -> BvhTake:
    """Parse BVH text.

    Raises:
        DataError: one line naming ``source`` and the line number at fault.
    """
    lines = text.splitlines()
    motion_at = next((i for i, s in enumerate(lines) if s.strip() == "MOTION"), None)
    tk = _Tokens(text, source)
    if motion_at is None:
        tk.fail(len(lines), "no MOTION section")
    tk.tokenise(motion_at)
    names, parents, offsets, channels = _parse_hierarchy(tk)
    if tk.pos != len(tk.items):
        tok, line = tk.items[tk.pos]
        tk.fail(line, f"unexpected {tok!r} after the ROOT block")
    i = motion_at + 1
    n_frames = int(_header(tk, lines, i, "Frames:", int, lambda v: v >= 1, "Frames >= 1"))
    frame_time = _header(tk, lines, i + 1, "Frame Time:", float,
                         lambda v: 0 < v < np.inf, "a finite Frame Time > 0")  # fmt: skip
    i += 2
    n_chan = sum(len(c) for c in channels)
    body = [(j + 1, s) for j, s in enumerate(lines[i:], i) if s.strip()]
    if len(body) < n_frames:  # checked before allocating: Frames may be any size
        tk.fail(len(lines), f"Frames: {n_frames} declared, only {len(body)} frame lines")
    if len(body) > n_frames:
        tk.fail(body[n_frames][0], f"more frame lines than Frames: {n_frames}")
    values = np.empty((n_frames, n_chan))
    for f, (line_no, s) in enumerate(body):
        try:
            row = np.array(s.split(), dtype=np.float64)
        except ValueError:
            tk.fail(line_no, "a frame line holds something that is not a number")
        if row.shape != (n_chan,):
            tk.fail(
                line_no, f"{row.size} values on a frame line, the hierarchy has {n_chan} channels"
            )
        values[f] = row
    if not np.isfinite(values).all():
        bad = int(np.flatnonzero(~np.isfinite(values).all(1))[0])
        tk.fail(body[bad][0], "a frame value is not finite")
    return BvhTake(source, names, parents, np.array(offsets, np.float64), channels,
                   frame_time, values)  # fmt: skip


def read_bvh(path: str | Path) -> BvhTake:
    """Read a BVH file (see :func:`parse_bvh`).

    Raises:
        DataError: the file is unreadable or malformed (one line, with the line number).
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="strict")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the BVH file ({exc.__class__.__name__})") from None
    return parse_bvh(text, str(path))


def axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` rotation matrices about ``axis`` ("X", "Y" or "Z") by ``degrees``."""
    a = np.deg2rad(np.asarray(degrees, np.float64))
    c, s, one, zero = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    rows = {
        "X": ((one, zero, zero), (zero, c, -s), (zero, s, c)),
        "Y": ((c, zero, s), (zero, one, zero), (-s, zero, c)),
        "Z": ((c, -s, zero), (s, c, zero), (zero, zero, one)),
    }[axis]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def forward_kinematics(take: BvhTake) -> np.ndarray:
    """World positions ``(T, J, 3)`` of every joint and end site, in the file's units and axes."""
    t = take.num_frames
    n = len(take.names)
    pos = np.zeros((t, n, 3))
    rot = np.zeros((t, n, 3, 3))
    col = 0
    for j, (parent, chans) in enumerate(zip(take.parents, take.channels)):
        local_t = np.broadcast_to(take.offsets[j], (t, 3)).copy()
        local_r = np.broadcast_to(np.eye(3), (t, 3, 3)).copy()
        for name in chans:
            v = take.values[:, col]
            col += 1
            if name in POSITION_CHANNELS:
                local_t[:, "XYZ".index(name[0])] += v
            else:
                local_r = local_r @ axis_rotation(name[0], v)
        if parent < 0:
            pos[:, j], rot[:, j] = local_t, local_r
        else:
            pos[:, j] = pos[:, parent] + np.einsum("tij,tj->ti", rot[:, parent], local_t)
            rot[:, j] = rot[:, parent] @ local_r
    if not np.isfinite(pos).all():
        raise DataError(
            f"{take.source}: joint positions overflow (offsets or position channels too large); "
            "check the file's units"
        )
    return pos
