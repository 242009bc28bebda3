"""Dataset checks of the conformance suite (re-exported by :mod:`kpbench.testing`).

* :func:`check_dataset`: every served task's samples match its data model, the evaluation
  inputs match its input model, and two builds of one folder give the same samples and inputs.
* :func:`check_dataset_errors`: a missing folder, a corrupt file and a corrupt video each give
  one clear line (a :class:`kpbench.errors.KpbenchError`) or a skip note, never a traceback.

Also the helpers the other checks share (one-line failures, registry look-ups).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kpbench.errors import DataError, KpbenchError

#: Splits a dataset's samples are read from (those without samples are left out).
SPLITS = ("train", "val", "test")


def _fail(message: str) -> None:
    raise AssertionError(message)


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {(text.splitlines() or [''])[0]}"


def _registry(registry):
    from kpbench.plugins import get_registry

    return registry if registry is not None else get_registry()


def _task(registry, name: str, who: str):
    if name not in registry.tasks():
        _fail(f"{who}: task {name!r} is not registered (is the plugin defining it installed?)")
    return registry.task(name)


def _same(a: Any, b: Any) -> bool:
    """Deep equality of samples: arrays by value (NaN equal to NaN), callables skipped."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        nan = a.dtype.kind in "fc" and b.dtype.kind in "fc"
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=nan))
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return set(a) == set(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (float, np.floating)) and isinstance(b, (float, np.floating)):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (str, bytes, int, np.generic, type(None))):
        return bool(a == b)
    return type(a) is type(b)  # callables, readers: compared by what they give, not identity


def _validate(task, prediction: Any, evalset, who: str) -> None:
    from kpbench.evaluation import PredictionError, check_prediction

    try:
        check_prediction(task, prediction, evalset, who)
    except PredictionError as exc:
        _fail(str(exc))


def _build_data(spec, data_dir, options: Mapping | None, who: str):
    try:
        return spec.build(Path(data_dir), **dict(options or {}))
    except Exception as exc:
        _fail(f"{who}: build({data_dir}) raised {_line(exc)}")


def check_dataset(
    spec,
    data_dir: str | Path,
    registry=None,
    seed: int = 0,
    max_samples: int = 3,
    build_options: Mapping | None = None,
) -> dict:
    """Check a dataset's samples against its tasks' data models, and that building is repeatable.

    Args:
        spec: the :class:`kpbench.specs.DatasetSpec`.
        data_dir: a folder of the dataset (e.g. its synthetic twin).
        registry: where the tasks are looked up (default: the process registry).
        seed: unused by building; kept for a uniform signature with the other checks.
        max_samples: samples validated (and compared between two builds) per task and split.
        build_options: keyword options for ``spec.build``.

    Returns:
        ``{task: {split: number of samples}}`` for the tasks the built instance serves.

    Raises:
        AssertionError: naming the dataset, task, split and field at fault.
    """
    from kpbench.evaluation import task_options
    from kpbench.schema import SchemaError

    reg, who = _registry(registry), f"dataset {spec.name}"
    data = _build_data(spec, data_dir, build_options, who)
    again = _build_data(spec, data_dir, build_options, who)
    extra = sorted(set(data.tasks) - set(spec.tasks))
    if extra:
        _fail(f"{who}: the built dataset serves {extra}, which its DatasetSpec does not declare")
    served = [t for t in spec.tasks if t in data.tasks]
    if not served:
        _fail(f"{who}: the folder {data_dir} serves none of the declared tasks {spec.tasks}")
    report: dict[str, dict[str, int]] = {}
    for name in served:
        task, where = _task(reg, name, who), f"{who} task {name}"
        report[name] = {}
        for split in SPLITS:
            try:
                first, second = task.samples(data, split), task.samples(again, split)
                n = len(first)
                if n != len(second):
                    _fail(f"{where} {split}: {n} samples, then {len(second)} when built again")
                dims: dict[str, int] = {}
                for i in range(min(n, max_samples)):
                    sample = first[i]
                    bound = task.sample.validate(sample, f"{who} {split} #{i}", dims)
                    dims = {"K": bound["K"]} if "K" in bound else dims
                    if not _same(sample, second[i]):
                        _fail(
                            f"{where} {split} sample #{i} differs when the dataset is built again"
                        )
            except SchemaError as exc:
                _fail(f"{where}: {exc}")
            except AssertionError:
                raise
            except Exception as exc:
                _fail(f"{where}: samples({split!r}) raised {_line(exc)}")
            if n:
                report[name][split] = n
        options = task_options(task, None, {})
        try:
            one, two = task.select(data, options), task.select(again, options)
        except Exception as exc:
            _fail(f"{where}: select(data, defaults) raised {_line(exc)}")
        if one.ids != two.ids or one.hash != two.hash:
            _fail(
                f"{where}: evaluation inputs differ between two builds ({one.hash} vs {two.hash})"
            )
        for i, item in enumerate(list(one.inputs)[:max_samples]):
            try:
                task.inputs.validate(item, f"{who} evaluation input #{i}")
            except SchemaError as exc:
                _fail(f"{where}: {exc}")
    if not any(report.values()):
        _fail(f"{who}: {data_dir} yields no sample for any served task {served}")
    return report


def corrupt(path: Path) -> None:
    """Garble a file's header and cut it to a third of its length (at least 32 bytes remain)."""
    data = Path(path).read_bytes()
    Path(path).write_bytes(b"\x00\xffkpbench-corrupt" * 2 + data[32 : max(len(data) // 3, 32)])


def _exercise(spec, data_dir: Path, registry, build_options: Mapping | None) -> Any:
    """Build and read what a run reads: samples, the evaluation selection, a few input images."""
    from kpbench.evaluation import task_options

    data = spec.build(data_dir, **dict(build_options or {}))
    for name in [t for t in spec.tasks if t in data.tasks and t in registry.tasks()]:
        task = registry.task(name)
        for split in SPLITS:
            samples = task.samples(data, split)
            for i in range(min(len(samples), 3)):
                samples[i]
        evalset = task.select(data, task_options(task, None, {}))
        for item in list(evalset.inputs)[:3]:
            if callable(item.get("load")):
                item["load"]()
    return data


def check_dataset_errors(
    spec,
    tmp_dir: str | Path,
    registry=None,
    seed: int = 0,
    synth_options: Mapping | None = None,
    build_options: Mapping | None = None,
) -> dict:
    """Check that bad data gives one clear line, never a traceback of another exception type.

    A missing folder must raise :class:`kpbench.errors.DataError`. For a dataset with a
    synthetic twin, the twin is written twice into ``tmp_dir``; in one copy the largest file
    that is not a video is corrupted (:func:`corrupt`), in the other the largest video. Building
    and reading each must raise a :class:`kpbench.errors.KpbenchError` of one line, report
    the file as skipped (``data.notes["files"]["skipped"]`` of a :class:`kpbench.dataset.FileLedger`,
    or a notes key containing ``"skip"``), or list it as ignored (``data.notes["files"]["ignored"]``
    or ``data.notes["ignored"]``), a file the dataset does not read.

    Args:
        spec: the :class:`kpbench.specs.DatasetSpec`.
        tmp_dir: an empty folder to write into.
        registry: where the tasks are looked up (default: the process registry).
        seed: seed of the synthetic twins.
        synth_options: keyword options for ``spec.synthesize`` (keep the twin small).
        build_options: keyword options for ``spec.build``.

    Returns:
        ``{"missing": message, "file": outcome, "video": outcome}`` (outcomes only for the
        corruptions that apply).
    """
    from kpbench.video import VIDEO_SUFFIXES

    reg, who, tmp_dir = _registry(registry), f"dataset {spec.name}", Path(tmp_dir)
    report: dict[str, str] = {}
    try:
        spec.build(tmp_dir / "no-such-folder", **dict(build_options or {}))
        _fail(f"{who}: building a missing folder raised nothing; raise kpbench.errors.DataError")
    except DataError as exc:
        if "\n" in str(exc) or not str(exc).strip():
            _fail(f"{who}: the DataError for a missing folder is not one line: {str(exc)!r}")
        report["missing"] = str(exc)
    except AssertionError:
        raise
    except Exception as exc:
        _fail(f"{who}: a missing folder raised {_line(exc)}; raise kpbench.errors.DataError")
    if spec.synthesize is None:
        return report
    for kind in ("file", "video"):
        twin = tmp_dir / f"corrupt-{kind}"
        spec.synthesize(twin, seed, **dict(synth_options or {}))
        files = [p for p in twin.rglob("*") if p.is_file()]
        files = [p for p in files if (p.suffix.lower() in VIDEO_SUFFIXES) == (kind == "video")]
        if not files:
            continue
        target = max(files, key=lambda p: (p.stat().st_size, str(p)))
        corrupt(target)
        what = f"{who}: with {target.relative_to(twin)} corrupted,"
        try:
            data = _exercise(spec, twin, reg, build_options)
        except KpbenchError as exc:
            if "\n" in str(exc) or not str(exc).strip():
                _fail(f"{what} the error is not one line: {str(exc)!r}")
            report[kind] = f"error: {exc}"
            continue
        except Exception as exc:
            _fail(f"{what} reading it raised {_line(exc)}; raise kpbench.errors.DataError")
        notes = getattr(data, "notes", {}) or {}
        ledger = notes.get("files") if isinstance(notes.get("files"), dict) else {}
        skipped = {k: v for k, v in notes.items() if "skip" in str(k).lower() and v}
        skipped.update(ledger.get("skipped") or {})
        rel = target.relative_to(twin).as_posix()
        ignored = f"{notes.get('ignored', '')} {list(ledger.get('ignored') or {})}"
        if not skipped and rel in ignored:
            report[kind] = f"ignored: {rel} (listed as not read)"
            continue
        if not skipped:
            _fail(f"{what} the dataset built and served samples with no error and no skip note")
        report[kind] = f"skipped: {skipped}"
    return report
