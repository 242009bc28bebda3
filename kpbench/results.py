"""Result records: one JSON file per run, the source of truth for ``kpbench compare``.

A record lives at ``results/<dataset>/<method>/<run_id>.json``; the run's artifacts
(checkpoint, exported keypoints, overlays) live in the folder ``<run_id>/`` beside it, and
``record["artifacts"]`` holds their paths relative to the record's folder.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

log = logging.getLogger("kpbench")

SCHEMA_VERSION = 1

#: Keys every record has (values may be empty, e.g. ``metrics`` of a failed run).
REQUIRED_KEYS = (
    "schema_version", "run_id", "method", "dataset", "task", "preset", "seed", "config",
    "metrics", "timing", "params", "flops", "env", "started_at", "finished_at", "status",
    "artifacts",
)  # fmt: skip
#: Keys a record may have besides :data:`REQUIRED_KEYS` (the runner adds a few more).
OPTIONAL_KEYS = (
    "error", "traceback", "history", "notes", "data", "data_options", "config_hash",
    "kpbench_version", "tracking", "evaluation", "baselines", "trains", "params_by_block",
    "wall_time_s",
)  # fmt: skip
STATUSES = ("finished", "failed")

# key -> (accepted types, readable name); NoneType in the types means null is allowed.
_TYPES: dict[str, tuple[tuple, str]] = {
    "schema_version": ((int,), "int"),
    "run_id": ((str,), "str"),
    "method": ((str,), "str"),
    "dataset": ((str,), "str"),
    "task": ((str,), "str"),
    "preset": ((str, type(None)), "str or null"),
    "seed": ((numbers.Integral,), "int"),
    "config": ((dict,), "object"),
    "metrics": ((dict,), "object"),
    "timing": ((dict,), "object"),
    "params": ((numbers.Integral, type(None)), "int or null"),
    "flops": ((dict, type(None)), "object or null"),
    "env": ((dict,), "object"),
    "started_at": ((str,), "str"),
    "finished_at": ((str, type(None)), "str or null"),
    "status": ((str,), "str"),
    "artifacts": ((dict,), "object"),
}
_NUMBER = (numbers.Real, type(None))  # null: a NaN or inf value after writing


def new_run_id(method: str, seed: int) -> str:
    """A sortable, unique run id: ``YYYYmmdd-HHMMSS-<method>-s<seed>-<4 hex>`` (UTC time)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{method}-s{seed}-{secrets.token_hex(2)}"


def record_path(results_dir: Path, dataset: str, method: str, run_id: str) -> Path:
    """Where a run's record goes: ``results_dir/<dataset>/<method>/<run_id>.json``."""
    return Path(results_dir) / dataset / method / f"{run_id}.json"


def config_hash(config: dict) -> str:
    """First 12 hex digits of the sha256 of ``config`` as canonical JSON (sorted keys)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def environment() -> dict:
    """Versions, device and git revision of the running process (goes into ``record["env"]``).

    Returns:
        ``kpbench``, ``python``, ``torch``, ``torchvision``, ``numpy`` versions; ``cuda`` and
        ``cudnn`` versions (None without CUDA); ``device`` (GPU name, or CPU model and threads);
        ``device_count`` (CUDA devices, 0 without); ``cpu_count``; ``hostname``; ``platform``;
        ``git_revision`` of the repository in the working directory (None outside one) and
        ``git_dirty`` (tracked files changed; None outside a repository).
    """
    import numpy
    import torch
    import torchvision

    from kpbench import __version__
    from kpbench.timing import device_name

    cuda = torch.cuda.is_available()
    revision = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if revision else None
    return {
        "kpbench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "cuda": torch.version.cuda if cuda else None,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "device": device_name("cuda" if cuda else "cpu"),
        "device_count": torch.cuda.device_count() if cuda else 0,
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "git_revision": revision,
        "git_dirty": bool(status) if status is not None else None,
    }


def _is(value: Any, types: tuple) -> bool:
    """``isinstance`` that does not let a bool pass for a number."""
    return isinstance(value, types) and (bool in types or not isinstance(value, bool))


def _entry_problems(section: str, entries: dict, needed: dict[str, tuple]) -> list[str]:
    problems = []
    for name, entry in entries.items():
        if not isinstance(entry, dict):
            if section == "metrics":
                problems.append(f"metrics.{name} must be an object, got {type(entry).__name__}")
            continue  # timing also holds plain facts such as "device" and "batch_size"
        for key, types in needed.items():
            if key not in entry:
                problems.append(f"{section}.{name} lacks {key!r}")
            elif not _is(entry[key], types):
                problems.append(f"{section}.{name}.{key} has type {type(entry[key]).__name__}")
    return problems


def _metric_extras_problems(metrics: dict) -> list[str]:
    """Problems with a metric's optional ``error`` (a string; the value is then null) and
    ``breakdown`` (``{breakdown: {label: number or null}}``)."""
    problems = []
    for name, entry in metrics.items():
        if not isinstance(entry, dict):
            continue
        if "error" in entry and not isinstance(entry["error"], str):
            problems.append(
                f"metrics.{name}.error must be str, got {type(entry['error']).__name__}"
            )
        breakdown = entry.get("breakdown", {})
        if not isinstance(breakdown, dict):
            problems.append(f"metrics.{name}.breakdown must be object")
            continue
        problems += _number_tables(f"metrics.{name}.breakdown", breakdown)
    return problems


def _number_tables(where: str, tables: dict) -> list[str]:
    """Problems with ``{name: {label: number or null}}`` (breakdowns, baselines)."""
    problems = []
    for name, values in tables.items():
        if not isinstance(values, dict):
            problems.append(f"{where}.{name} must be object, got {type(values).__name__}")
            continue
        problems += [
            f"{where}.{name}.{label} has type {type(v).__name__}"
            for label, v in values.items()
            if not _is(v, _NUMBER)
        ]
    return problems


def _baselines_problems(baselines: Any) -> list[str]:
    """Problems with ``baselines``: ``{baseline: {metric: number or null}}``."""
    if not isinstance(baselines, dict):
        return [f"baselines must be object, got {type(baselines).__name__}"]
    return _number_tables("baselines", baselines)


def validate_record(rec: dict) -> None:
    """Check a record's keys and types.

    A metric entry may also carry ``breakdown`` (``{breakdown: {label: number}}``) and, when
    the metric failed, ``"value": null`` with an ``error`` string. ``baselines`` (when present)
    is ``{baseline: {metric: number or null}}``; ``evaluation`` an object.

    Args:
        rec: a run record (see :data:`REQUIRED_KEYS`).

    Raises:
        ValueError: listing every missing key and wrong type, e.g.
            ``"not a kpbench record: missing run_id, seed; metrics.pck lacks 'unit'"``.
    """
    if not isinstance(rec, dict):
        raise ValueError(f"not a kpbench record: a JSON {type(rec).__name__}, expected an object")
    if "schema_version" not in rec:
        raise ValueError("not a kpbench record: no schema_version")
    problems = []
    missing = [k for k in REQUIRED_KEYS if k not in rec]
    if missing:
        problems.append("missing " + ", ".join(missing))
    for key, (types, name) in _TYPES.items():
        value = rec.get(key)
        if key in rec and not _is(value, types):
            problems.append(f"{key} must be {name}, got {type(value).__name__}")
    version = rec["schema_version"]
    if isinstance(version, int) and version != SCHEMA_VERSION:
        problems.append(f"schema_version {version} is not {SCHEMA_VERSION} (upgrade kpbench)")
    if isinstance(rec.get("status"), str) and rec["status"] not in STATUSES:
        problems.append(f"status must be one of {', '.join(STATUSES)}, got {rec['status']!r}")
    if rec.get("status") == "failed" and not isinstance(rec.get("error"), str):
        problems.append("a failed run needs an 'error' string")
    if isinstance(rec.get("metrics"), dict):
        needed = {"value": _NUMBER, "unit": (str,), "higher_is_better": (bool,)}
        problems += _entry_problems("metrics", rec["metrics"], needed)
        problems += _metric_extras_problems(rec["metrics"])
    if "baselines" in rec:
        problems += _baselines_problems(rec["baselines"])
    if "evaluation" in rec and not isinstance(rec["evaluation"], dict):
        problems.append(f"evaluation must be object, got {type(rec['evaluation']).__name__}")
    if isinstance(rec.get("timing"), dict):
        problems += _entry_problems("timing", rec["timing"], {"value": _NUMBER, "unit": (str,)})
    flops = rec.get("flops")
    if isinstance(flops, dict) and not _is(flops.get("per_sample"), (numbers.Integral,)):
        problems.append("flops.per_sample must be int")
    if problems:
        raise ValueError("not a kpbench record: " + "; ".join(problems))


def _jsonable(obj: Any) -> Any:
    """``obj`` with NaN/inf as None, numpy scalars as Python numbers and paths as strings."""
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_record(path: Path, rec: dict) -> Path:
    """Validate ``rec`` and write it to ``path`` atomically.

    The JSON goes to a temporary file in the same folder, is flushed and fsynced, then
    renamed over ``path``: readers see the old file or the new one, never a partial one.
    NaN and inf become ``null``.

    Args:
        path: the record file (see :func:`record_path`); missing folders are created.
        rec: the run record.

    Returns:
        ``path``.

    Raises:
        ValueError: the record is invalid (see :func:`validate_record`).
        TypeError: a value is not JSON-serialisable; ``path`` is left as it was.
    """
    validate_record(rec)
    try:
        return write_json(path, rec)
    except TypeError as exc:
        raise TypeError(f"{path}: record not written ({exc})") from exc


def write_json(path: Path, obj) -> Path:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file, fsync, rename).

    NaN and inf become ``null``; missing folders are created. A value that is not
    JSON-serialisable raises ``TypeError`` and leaves ``path`` as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(_jsonable(obj), f, indent=2, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _is_artifact_file(path: Path, root: Path) -> bool:
    """True for files inside a run's artifact folder (``<run_id>/`` beside ``<run_id>.json``)."""
    for parent in path.parents:
        if parent == root or root not in parent.parents:
            return False
        if (parent.parent / f"{parent.name}.json").is_file():
            return True
    return False


def load_records(folder: Path) -> tuple[list[dict], list[str]]:
    """Read every record under ``folder`` (recursively), skipping what is not one.

    Args:
        folder: a results folder, e.g. ``results/`` or ``results/calms21/``.

    Returns:
        ``(records, warnings)``: records sorted by path, each with ``_path`` (its file); one
        warning per skipped file, e.g. ``"results/x/bad.json: skipped (not valid JSON:
        Expecting value at line 1)"``, also logged on the ``kpbench`` logger. JSON files
        inside a run's artifact folder are not candidates and are passed over silently.
    """
    folder = Path(folder)
    records, warnings = [], []
    for path in sorted(folder.rglob("*.json")):
        if _is_artifact_file(path, folder):
            continue
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            validate_record(rec)
        except json.JSONDecodeError as exc:
            reason = f"not valid JSON: {exc.msg} at line {exc.lineno}"
        except (OSError, UnicodeDecodeError) as exc:
            reason = f"unreadable: {exc}"
        except ValueError as exc:
            reason = str(exc)
        else:
            records.append({**rec, "_path": str(path)})
            continue
        warnings.append(f"{path}: skipped ({reason})")
        log.warning(warnings[-1])
    return records, warnings


def records_frame(records: list[dict]) -> Any:
    """One row per run, with metric and timing values as columns.

    Args:
        records: records as returned by :func:`load_records`.

    Returns:
        ``pandas.DataFrame`` with columns ``run_id, dataset, task, method, preset, seed,
        status, config_hash, params, flops`` (FLOPs per sample), ``device``, then
        ``metric:<name>``, ``breakdown:<metric>/<breakdown>/<label>`` (a metric's parts, e.g.
        ``breakdown:pck@0.1/per_keypoint/nose``) and ``timing:<name>`` values (NaN where a run
        lacks one, or where the metric failed). ``df.attrs["units"]`` maps those columns to
        units; ``df.attrs["higher"]`` maps the metric and breakdown columns to
        ``higher_is_better``.
    """
    import pandas as pd

    base = ["run_id", "dataset", "task", "method", "preset", "seed", "status", "config_hash"]
    rows, units, higher = [], {}, {}
    for rec in records:
        flops = rec.get("flops") or {}
        timing = rec.get("timing") or {}
        row = {k: rec.get(k) for k in base}
        row["config_hash"] = rec.get("config_hash") or config_hash(rec.get("config") or {})
        row["params"] = rec.get("params")
        row["flops"] = flops.get("per_sample")
        row["device"] = timing.get("device") or (rec.get("env") or {}).get("device")
        for name, m in (rec.get("metrics") or {}).items():
            row[f"metric:{name}"] = m["value"]
            units.setdefault(f"metric:{name}", m["unit"])
            higher.setdefault(f"metric:{name}", m["higher_is_better"])
            for part, values in (m.get("breakdown") or {}).items():
                for label, value in values.items():
                    column = f"breakdown:{name}/{part}/{label}"
                    row[column] = value
                    units.setdefault(column, m["unit"])
                    higher.setdefault(column, m["higher_is_better"])
        for name, t in timing.items():
            if isinstance(t, dict) and "value" in t:
                row[f"timing:{name}"] = t["value"]
                units.setdefault(f"timing:{name}", t.get("unit", ""))
        rows.append(row)
    columns = base + ["params", "flops", "device"]
    df = pd.DataFrame(rows, columns=None if rows else columns)
    value_columns = [c for c in df.columns if c.startswith(("metric:", "breakdown:", "timing:"))]
    # as float, in one block: later column inserts stay cheap
    df = df.astype(dict.fromkeys(value_columns, float)).copy()
    df.attrs["units"], df.attrs["higher"] = units, higher
    return df
