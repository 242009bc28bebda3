"""A suite file (YAML) → the grid of cells a sweep runs, each with a deterministic run id.

A suite names ``methods × datasets × seeds × presets × sets`` (``sets``: a list of ``--set``
override lists, one variant each); every combination is one cell, i.e. one ``kpbench run``
whose record lands at ``<results>/<dataset>/<method>/<cell id>.json``. The cell id hashes
what makes the cell (method, dataset, data folder, seed, preset, overrides), so the same suite
run twice finds its own records. See ``docs/scale.md`` for the format.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpbench import results as results_
from kpbench.errors import ConfigError

#: Options of ``run:`` passed to every ``kpbench run`` of the suite, with their defaults.
RUN_DEFAULTS: dict[str, Any] = {
    "threads": 1,
    "device": "auto",
    "devices": 1,
    "mlflow": True,
    "tracking_uri": None,
    "experiment": None,
    "task": None,
}
#: Options of ``slurm:`` (``sbatch`` resources of each array task), with their defaults.
SLURM_DEFAULTS: dict[str, Any] = {
    "partition": None,
    "gpus_per_node": 0,
    "cpus_per_task": None,  # None: run.threads × run.devices
    "mem_gb": 4,
    "time_min": 60,
    "signal_delay_s": 120,  # USR2 this long before the time limit → checkpoint and requeue
    "max_parallel": None,  # the array's %N cap; None: --max-parallel, else no cap
}
TOP_KEYS = (
    "methods", "datasets", "seeds", "presets", "sets", "cells", "results", "run", "slurm", "ray",
)  # fmt: skip
CELL_KEYS = ("method", "dataset", "data_dir", "seed", "preset", "sets")


@dataclass(frozen=True)
class Cell:
    """One ``kpbench run`` of a suite."""

    method: str
    dataset: str
    data_dir: str | None
    seed: int
    preset: str
    sets: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """``<method>-s<seed>-<10 hex>``: the hash covers every field, so equal cells share it."""
        text = json.dumps(
            [self.method, self.dataset, self.data_dir, self.seed, self.preset, list(self.sets)]
        )
        return f"{self.method}-s{self.seed}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"

    def record_path(self, results: Path) -> Path:
        return results_.record_path(results, self.dataset, self.method, self.id)

    def label(self) -> str:
        sets = f" {' '.join(self.sets)}" if self.sets else ""
        return f"{self.method} on {self.dataset} s{self.seed} {self.preset}{sets}"


@dataclass
class Suite:
    """A parsed suite: its cells and the options every cell shares."""

    path: Path
    cells: list[Cell]
    results: Path
    run: dict = field(default_factory=dict)
    slurm: dict = field(default_factory=dict)
    ray: dict = field(default_factory=dict)


def _fail(path: Path, key: str, message: str) -> ConfigError:
    return ConfigError(f"suite {path}: key '{key}': {message}")


def _names(path: Path, raw: dict, key: str) -> list[str]:
    value = raw.get(key)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(path, key, f"expected a non-empty list of names, got {value!r}")
    return value


def _datasets(path: Path, raw: dict) -> dict[str, str | None]:
    """``datasets``: a list of names, or ``{name: data dir}`` (relative to the suite file)."""
    value = raw.get("datasets")
    if isinstance(value, (str, list)):
        return dict.fromkeys(_names(path, raw, "datasets"))
    if not isinstance(value, dict) or not value:
        raise _fail(
            path, "datasets", f"expected a list of names or {{name: data dir}}, got {value!r}"
        )
    out: dict[str, str | None] = {}
    for name, folder in value.items():
        if folder is not None and not isinstance(folder, str):
            raise _fail(path, f"datasets.{name}", f"expected a folder path, got {folder!r}")
        out[str(name)] = str((path.parent / folder).resolve()) if folder else None
    return out


def _seeds(path: Path, raw: dict) -> list[int]:
    value = raw.get("seeds", [0])
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise _fail(path, "seeds", f"expected a list of integers, got {value!r}")
    return value


def _sets(path: Path, raw: dict) -> list[tuple[str, ...]]:
    value = raw.get("sets", [[]])
    if not isinstance(value, list) or not value:
        raise _fail(
            path, "sets", f"expected a list of override lists like [[], [lr=0.01]], got {value!r}"
        )
    out = []
    for i, variant in enumerate(value):
        variant = [variant] if isinstance(variant, str) else variant
        if not isinstance(variant, list) or not all(
            isinstance(s, str) and "=" in s for s in variant
        ):
            raise _fail(
                path, f"sets[{i}]", f"expected a list of KEY=VALUE strings, got {variant!r}"
            )
        out.append(tuple(variant))
    return out


def _options(path: Path, raw: dict, key: str, defaults: dict) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a mapping, got {value!r}")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}", f"unknown option; known: {', '.join(defaults)}")
    return {**defaults, **value}


def _extra_cells(path: Path, raw: dict, folders: dict[str, str | None]) -> list[Cell]:
    """``cells``: single runs added to the grid, ``{method, dataset, seed, preset, sets,
    data_dir}`` (``data_dir`` defaults to the dataset's folder under ``datasets``)."""
    value = raw.get("cells") or []
    if not isinstance(value, list):
        raise _fail(path, "cells", f"expected a list of {{method, dataset, ...}}, got {value!r}")
    out = []
    for i, item in enumerate(value):
        key = f"cells[{i}]"
        if not isinstance(item, dict) or not {"method", "dataset"} <= set(item):
            raise _fail(path, key, f"expected a mapping with method and dataset, got {item!r}")
        unknown = sorted(set(item) - set(CELL_KEYS))
        if unknown:
            raise _fail(path, f"{key}.{unknown[0]}", f"unknown key; known: {', '.join(CELL_KEYS)}")
        folder = item.get("data_dir")
        folder = str((path.parent / folder).resolve()) if folder else folders.get(item["dataset"])
        one = {**item, "seeds": item.get("seed", 0), "presets": item.get("preset", "default")}
        (sets,) = _sets(path, {"sets": [item.get("sets", [])]})
        out.append(
            Cell(
                _names(path, {key: item["method"]}, key)[0],
                str(item["dataset"]),
                folder,
                _seeds(path, one)[0],
                _names(path, one, "presets")[0],
                sets,
            )
        )
    return out


def load_suite(path: Path, results: Path | None = None) -> Suite:
    """Parse and validate a suite file; ``results`` (``--results``) overrides its ``results``.

    Raises:
        ConfigError: one line naming the file and the key that is wrong.
    """
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"suite {path}: cannot read it ({exc.strerror}); check the path"
        ) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ConfigError(f"suite {path}: not valid YAML{line}; fix the syntax") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"suite {path}: expected a mapping with methods, datasets, seeds, ...")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; known: {', '.join(TOP_KEYS)}")
    presets = _names(path, {"presets": raw.get("presets", ["default"])}, "presets")
    folders = _datasets(path, raw)
    grid = itertools.product(
        _names(path, raw, "methods"),
        folders.items(),
        _seeds(path, raw),
        presets,
        _sets(path, raw),
    )
    cells = [Cell(m, d, folder, s, p, sets) for m, (d, folder), s, p, sets in grid]
    cells += _extra_cells(path, raw, folders)
    cells = list(dict.fromkeys(cells))  # a cell listed twice runs once
    if results is None:
        folder = raw.get("results", "results")
        if not isinstance(folder, str):
            raise _fail(path, "results", f"expected a folder path, got {folder!r}")
        results = path.parent / folder
    run = _options(path, raw, "run", RUN_DEFAULTS)
    for key in ("threads", "devices"):
        if not isinstance(run[key], int) or run[key] < 1:
            raise _fail(path, f"run.{key}", f"expected an integer ≥ 1, got {run[key]!r}")
    return Suite(
        path=path,
        cells=cells,
        results=Path(results).resolve(),
        run=run,
        slurm=_options(path, raw, "slurm", SLURM_DEFAULTS),
        ray=_options(path, raw, "ray", {"address": None, "num_gpus": 0}),
    )
