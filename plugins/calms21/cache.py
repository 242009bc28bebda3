"""Parse an official CalMS21 JSON file once, check it, and cache it as compressed npz.

The task-1 training JSON is about 1.2 GB, so re-parsing it on every run is too slow. The
first read writes ``<json stem>.npz`` (arrays of every sequence) and ``<json stem>.index.json``
(sequence ids, vocabularies, frame counts, and the source's size and mtime) to a cache
folder; later reads use the index and load a sequence's arrays only when asked. The cache is
rebuilt when the JSON's size or mtime changes.

Official record layout (methods-2d.md §3.2): ``keypoints`` (T, 2 mice, 2 coords (x, y),
7 parts) px, ``scores`` (T, 2, 7), ``annotations`` (T,) int (absent when unlabelled),
``metadata`` ``{"annotator-id": int, "vocab": {name: int}}``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from kpbench.errors import DataError

CACHE_FORMAT = 1
LOCAL_CACHE = ".kpbench_cache"


@dataclass
class SeqInfo:
    """What the index knows about one sequence (no arrays).

    Attributes:
        key: prefix of this sequence's arrays in the npz (``"s00003"``).
        group: top-level key of the JSON (``"annotator-id_0"``, or a behaviour name in task 3).
        seq_id: the sequence id, e.g. ``"task1/train/mouse001_task1_annotator1"``.
        frames: T, number of frames.
        labelled: whether the record has ``annotations``.
        vocab: class name → index, from the record's ``metadata`` (empty if absent).
        annotator: ``metadata["annotator-id"]``, or None.
    """

    key: str
    group: str
    seq_id: str
    frames: int
    labelled: bool
    vocab: dict[str, int] = field(default_factory=dict)
    annotator: int | None = None


@dataclass
class CachedFile:
    """One parsed JSON file: its index in memory, its arrays in ``npz`` on disk."""

    source: Path
    npz: Path
    sequences: list[SeqInfo]

    def load(self, seq: SeqInfo) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Arrays of one sequence.

        Returns:
            ``keypoints`` (T, 2, 2, 7) float32 px in the official layout, ``scores`` (T, 2, 7)
            float32 (NaN when the file has none), ``annotations`` (T,) int64 or None.
        """
        try:
            with np.load(self.npz) as z:
                kp, sc = z[f"{seq.key}_keypoints"], z[f"{seq.key}_scores"]
                labels = z[f"{seq.key}_annotations"] if seq.labelled else None
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(
                f"{self.npz}: cache of {self.source.name} is unreadable ({exc}); delete that file and run again"
            ) from None
        return kp, sc, labels


def cache_dir_for(root: Path) -> Path:
    """Where the cache of the data folder ``root`` lives.

    ``<root>/.kpbench_cache`` when it is writable, else ``$KPBENCH_CACHE/calms21/<hash>``
    (``~/.cache/kpbench/calms21/<hash>`` without ``$KPBENCH_CACHE``), hash of ``root``'s
    absolute path.
    """
    local = root / LOCAL_CACHE
    try:
        local.mkdir(exist_ok=True)
        probe = local / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return local
    except OSError:
        pass
    base = Path(os.environ.get("KPBENCH_CACHE") or Path.home() / ".cache" / "kpbench")
    digest = hashlib.sha1(str(root.resolve()).encode()).hexdigest()[:16]
    out = base / "calms21" / digest
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"calms21: cannot write a cache at {local} or {out} ({exc.strerror}); "
            "set $KPBENCH_CACHE to a writable folder"
        ) from None
    return out


def open_cached(path: Path, cache_dir: Path) -> CachedFile:
    """The cached form of the JSON ``path``, parsing and caching it first if needed.

    Raises:
        DataError: the JSON is malformed (one line naming the file, sequence and problem).
    """
    stat = path.stat()
    index_path = cache_dir / f"{path.stem}.index.json"
    npz = cache_dir / f"{path.stem}.npz"
    index = _read_index(index_path)
    if (
        index is not None
        and npz.is_file()
        and index.get("format") == CACHE_FORMAT
        and index.get("size") == stat.st_size
        and index.get("mtime_ns") == stat.st_mtime_ns
    ):
        return CachedFile(path, npz, [SeqInfo(**s) for s in index["sequences"]])
    sequences, arrays = parse_file(path)
    _atomic_write(npz, lambda f: np.savez_compressed(f, **arrays))
    index = {
        "format": CACHE_FORMAT,
        "source": str(path.resolve()),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "sequences": [asdict(s) for s in sequences],
    }
    _atomic_write(index_path, lambda f: f.write(json.dumps(index, indent=1).encode()))
    return CachedFile(path, npz, sequences)


def parse_file(path: Path) -> tuple[list[SeqInfo], dict[str, np.ndarray]]:
    """Parse and check one official JSON file.

    Returns:
        The sequences in file order, and their arrays keyed ``<key>_keypoints``,
        ``<key>_scores`` and ``<key>_annotations``.
    """
    try:
        with path.open("rb") as f:
            data = json.load(f)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, nesting
        raise DataError(
            f"{path}: not valid JSON ({type(exc).__name__}: {_first_line(exc)}); "
            "re-extract it from the official zip"
        ) from None
    if (
        not isinstance(data, dict)
        or not data
        or not all(isinstance(v, dict) for v in data.values())
    ):
        raise DataError(
            f"{path}: expected {{group: {{sequence_id: record}}}} at the top level "
            "(e.g. {'annotator-id_0': {'task1/train/mouse001_task1_annotator1': {...}}}); "
            "is this a CalMS21 keypoint file?"
        )
    sequences: list[SeqInfo] = []
    arrays: dict[str, np.ndarray] = {}
    for group, records in data.items():
        for seq_id, record in records.items():
            key = f"s{len(sequences):05d}"
            info, kp, scores, labels = _parse_record(path, group, seq_id, record, key)
            sequences.append(info)
            arrays[f"{key}_keypoints"] = kp
            arrays[f"{key}_scores"] = scores
            if labels is not None:
                arrays[f"{key}_annotations"] = labels
    if not sequences:
        raise DataError(f"{path}: holds no sequence; re-extract it from the official zip")
    return sequences, arrays


def _parse_record(path: Path, group: str, seq_id: str, record, key: str):
    where = f"{path.name}: sequence {seq_id!r} (group {group!r})"
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a record object, got {type(record).__name__}")
    if "keypoints" not in record:
        raise DataError(
            f"{where}: record has no 'keypoints' (keys: {', '.join(sorted(record)) or 'none'})"
        )
    kp = _array(where, "keypoints", record["keypoints"], np.float32)
    if kp.ndim != 4 or kp.shape[1:] != (2, 2, 7) or kp.shape[0] == 0:
        raise DataError(
            f"{where}: 'keypoints' has shape {kp.shape}, expected (T, 2 mice, 2 coords, 7 parts) with T >= 1"
        )
    frames = kp.shape[0]
    if not np.isfinite(kp).all():
        t = int(np.flatnonzero(~np.isfinite(kp).reshape(frames, -1).all(1))[0])
        raise DataError(
            f"{where}: 'keypoints' has NaN, inf or a value beyond float32 at frame {t}; "
            "CalMS21 tracks every part in every frame, re-extract the file"
        )
    if record.get("scores") is None:
        scores = np.full((frames, 2, 7), np.nan, np.float32)
    else:
        scores = _array(where, "scores", record["scores"], np.float32)
        if scores.shape != (frames, 2, 7):
            raise DataError(
                f"{where}: 'scores' has shape {scores.shape}, expected ({frames}, 2, 7)"
            )
        if np.isinf(scores).any():
            raise DataError(f"{where}: 'scores' has inf (NaN means no score); re-extract the file")
    meta = record.get("metadata") or {}
    if not isinstance(meta, dict):
        raise DataError(f"{where}: 'metadata' must be an object, got {type(meta).__name__}")
    vocab = meta.get("vocab") or {}
    if not isinstance(vocab, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**31 for v in vocab.values()
    ):
        raise DataError(f"{where}: metadata.vocab must map class names to integers, got {vocab!r}")
    labels = None
    if record.get("annotations") is not None:
        raw = _array(where, "annotations", record["annotations"], np.float64)
        if raw.ndim != 1 or len(raw) != frames:
            raise DataError(
                f"{where}: 'annotations' has shape {raw.shape} but 'keypoints' has {frames} frames"
            )
        if not np.all(np.isfinite(raw)) or not np.all((raw == np.round(raw)) & (abs(raw) < 2**31)):
            raise DataError(f"{where}: 'annotations' must be integer class indices")
        labels = raw.astype(np.int64)
        if not vocab:
            raise DataError(
                f"{where}: has 'annotations' but no metadata.vocab, so the class names are unknown"
            )
        unknown = sorted(set(np.unique(labels).tolist()) - set(vocab.values()))
        if unknown:
            raise DataError(f"{where}: 'annotations' uses {unknown}, not in metadata.vocab {vocab}")
    annotator = meta.get("annotator-id")
    info = SeqInfo(
        key=key,
        group=str(group),
        seq_id=str(seq_id),
        frames=frames,
        labelled=labels is not None,
        vocab={str(k): int(v) for k, v in vocab.items()},
        annotator=int(annotator) if isinstance(annotator, int) else None,
    )
    return info, kp, scores, labels


def _array(where: str, name: str, value, dtype) -> np.ndarray:
    """``value`` as a ``dtype`` array; numbers only (no text, booleans or nulls, no ragged lists)."""
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DataError(f"{where}: '{name}' is not a numeric array ({_first_line(exc)})") from None
    if arr.dtype.kind in "iuf" and isinstance(value, list) and arr.size:
        # numpy turns true/false among numbers into 1/0: look at the Python types once
        if bool in set(map(type, np.asarray(value, dtype=object).ravel())):
            arr = np.asarray(True)
    if arr.dtype.kind not in "iuf":
        what = {"b": "true/false", "U": "text", "O": "nulls, objects or too large integers"}
        raise DataError(
            f"{where}: '{name}' holds {what.get(arr.dtype.kind, arr.dtype.name)} where numbers "
            "are expected; re-extract the file"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(dtype)


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:200]


def _read_index(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _atomic_write(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
