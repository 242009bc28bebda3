"""The records plugin hooks return: one dataclass per kind of thing a plugin offers.

Hooks return records, not side effects (as conda's plugin hooks do), so the plugin
manager can check names, report duplicates with both sources, and list everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpbench.schema import Schema


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum() or name != name.lower():
        raise ValueError(
            f"plugin record name {name!r} must be lowercase letters, digits, '-' or '_'"
        )


def check_task(name: str) -> str:
    """Check the spelling of a task name (which tasks exist is the registry's business)."""
    _check_name(name)
    return name


@dataclass(frozen=True)
class TaskSpec:
    """A task: its data model, its evaluation protocol and its trivial baselines.

    Tasks are plugin records like datasets and methods (``kpbench_tasks``); the seven built-in
    ones live in ``kpbench/tasks/``, one file each. Metrics for a task come from
    ``kpbench_metrics`` (the built-in task files register their default metrics there too).

    Attributes:
        name: lowercase id (``--task NAME``), e.g. ``"pose2d"``.
        description: one line for ``kpbench list tasks``.
        sample: what a dataset yields for this task (:class:`kpbench.schema.Schema`).
        inputs: what a method gets for each evaluation input (no ground truth).
        prediction: what ``Method.predict`` returns for all the inputs (arrays whose first
            axis runs over the inputs, or over their frames; see the task's docs).
        unit: what one sample is for FLOPs and latency (``"frame"``, ``"view pair"``, ...).
        samples: ``samples(data, split) -> Sequence[dict]``, the dataset's samples of one split
            in this task's sample form (for training and for the conformance suite).
        select: ``select(data, options) -> kpbench.evaluation.EvalSet``: the evaluation
            protocol; picks the inputs from the dataset's splits, the same for every method.
        evaluation: ``evaluation(evalset, prediction, options) -> dict``: the record the
            task's metrics score (ground truth and prediction side by side).
        baselines: ``name -> fn(evalset, prediction, seed) -> prediction``: trivial
            predictors scored through the same metric code (``prediction`` is the method's,
            for its shape, e.g. the number of discovered keypoints).
        options: the protocol's settings and their defaults (``--set task.KEY=VALUE``).
        presets: per run preset (``smoke``/``default``/``paper``) overrides of ``options``,
            so every method run with one preset is evaluated on the same inputs.
        smoke: ``smoke(seed) -> EvalSet``: a few synthetic inputs with ground truth, made in
            memory, for the conformance suite (a method must predict valid outputs on them).
        protocol: the evaluation protocol in words (for ``kpbench info TASK`` and records).
    """

    name: str
    description: str
    sample: Schema
    inputs: Schema
    prediction: Schema
    unit: str
    samples: Callable[..., Any]
    select: Callable[..., Any]
    evaluation: Callable[..., dict]
    baselines: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    smoke: Callable[..., Any] | None = None
    protocol: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        for preset, layer in self.presets.items():
            unknown = sorted(set(layer) - set(self.options))
            if unknown:
                raise ValueError(f"task {self.name} preset {preset}: unknown options {unknown}")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin offers.

    Attributes:
        name: lowercase id used on the command line (``--dataset NAME``).
        tasks: tasks the dataset can serve (a given folder may serve fewer; see ``build``).
        build: ``build(data_dir: Path, **options) -> kpbench.dataset.KeypointDataset``.
            Raises ``kpbench.errors.DataError`` with one clear line on bad input.
        description: one line for ``kpbench list``.
        data_hint: how to get the data (shown when the folder is missing).
        synthesize: optional ``synthesize(out: Path, seed: int, **options) -> Path`` writing a
            small synthetic twin in the official format (``kpbench data synth NAME``).
    """

    name: str
    tasks: tuple[str, ...]
    build: Callable[..., Any]
    description: str = ""
    data_hint: str = ""
    synthesize: Callable[..., Path] | None = None

    def __post_init__(self) -> None:
        _check_name(self.name)
        for t in self.tasks:
            check_task(t)


@dataclass(frozen=True)
class MethodSpec:
    """A method a plugin offers.

    Attributes:
        name: lowercase id (``--method NAME``).
        tasks: tasks the method solves.
        build: ``build(config: dict, num_keypoints: int | None) -> kpbench.method.Method``
            (a :class:`kpbench.method.TrainableMethod` when ``trains``). A ``build`` that also
            takes ``task`` (the run's task name; None for ``kpbench info`` and the reference
            figures: then the method's first task) and ``dims`` (the evaluation set's sizes,
            e.g. ``{"F": 900, "C": 4}``) as keyword arguments gets them.
        defaults: the paper's model and recipe (flat ``key -> value``); ``kpbench info``
            without a preset shows exactly these.
        presets: ``{"smoke": {...}, "default": {...}, "paper": {...}}`` overrides of defaults.
        description: one line for ``kpbench list``.
        paper: citation or URL.
        reference: reference figures, pinned by one generic test for every method:
            ``params`` (int) and ``flops`` (int, of one inference call on one sample) of the
            model built at ``defaults`` (plus ``reference["config"]`` overrides and
            ``reference["num_keypoints"]`` when given), ``flops_input`` saying what the FLOPs
            are counted on, and any further figures (per-block counts) for the docs.
        trains: True when the method trains (``fit``/``train_step``); False for a predictor
            only (a fixed baseline, a pretrained encoder): the runner then neither trains nor
            times a training step.
        requires: what the method needs from the machine (:mod:`kpbench.requirements`):
            ``gpu`` (bool), ``min_memory_gib``, ``min_gpu_memory_gib``; a run on a machine
            without them is refused before any data is read, with one line saying why.
        frozen_tasks: tasks (of ``tasks``) the method serves without training: a run of one of
            them scores what ``build`` returns as it is, e.g. an encoder loaded from a
            checkpoint of an earlier run (:mod:`kpbench.propagation.frozen`).
    """

    name: str
    tasks: tuple[str, ...]
    build: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    reference: Mapping[str, Any] = field(default_factory=dict)
    trains: bool = True
    requires: Mapping[str, Any] = field(default_factory=dict)
    frozen_tasks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from kpbench.requirements import check_keys

        _check_name(self.name)
        for t in self.tasks:
            check_task(t)
        check_keys(self.name, self.requires)
        stray = sorted(set(self.frozen_tasks) - set(self.tasks))
        if stray:
            raise ValueError(f"method {self.name}: frozen_tasks {stray} are not in its tasks")

    def trains_for(self, task: str | None) -> bool:
        """Whether a run of ``task`` trains the method (``trains``, unless the task is frozen)."""
        return self.trains and task not in self.frozen_tasks


@dataclass(frozen=True)
class MetricSpec:
    """A metric a plugin offers for one task.

    Attributes:
        name: id, unique within its task (e.g. ``"regression_error"``).
        task: the task whose predictions it scores.
        fn: pure function of the task's evaluation record (``TaskSpec.evaluation``) returning
            a value, or ``(value, breakdown)`` where ``breakdown`` maps a breakdown's name to
            ``{label: value}`` (``{"per_keypoint": {"nose": 2.1, ...}}``), kept in the record.
        unit: unit of the value, e.g. ``"%"``, ``"px"``, ``"mm"``, ``"deg"``.
        higher_is_better: direction, shown as an arrow in ``kpbench compare``.
        description: one line (the definition, with its normaliser).
    """

    name: str
    task: str
    fn: Callable[[Any], Any]
    unit: str
    higher_is_better: bool
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name.replace("@", "_").replace(".", "_"))
        check_task(self.task)


@dataclass(frozen=True)
class ReportFormatSpec:
    """A ``kpbench compare --format NAME`` a plugin offers (the built-in table, markdown, csv
    and json are offered the same way, by :mod:`kpbench.reports`).

    Attributes:
        name: lowercase id (``--format NAME``).
        render: ``render(summary) -> str``: the text for a :func:`kpbench.compare.compare`
            summary (a pandas DataFrame with ``kpbench.compare.SUMMARY_COLUMNS``), without a
            trailing newline.
        description: one line for ``kpbench list``.
    """

    name: str
    render: Callable[..., str]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)


@dataclass(frozen=True)
class ExporterSpec:
    """A prediction exporter a plugin offers for one task (``kpbench_exporters``): the
    prediction, and its ground truth, in a format the task's users already load. Every
    exporter of the run's task writes beside the record (the built-in COCO files of
    ``pose2d`` are offered the same way, by :mod:`kpbench.tasks.pose2d`).

    Attributes:
        name: lowercase id, unique within its task (``"coco"``).
        task: the task whose evaluation record it reads.
        write: ``write(evaluation, folder) -> {artifact key: path}``: files written atomically
            under ``folder`` from the task's evaluation record. A file under the key
            ``predictions`` takes that artifact key (the npz is then ``prediction_arrays``).
        description: one line for ``kpbench list``.
    """

    name: str
    task: str
    write: Callable[..., Any]
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name)
        check_task(self.task)


#: The run presets every method and task declares a layer for (``MethodSpec.presets``).
LAYERS = ("smoke", "default", "paper")


@dataclass(frozen=True)
class PresetSpec:
    """A run preset (``kpbench run --preset NAME``) a plugin offers to every method
    (``kpbench_presets``; the built-in ``smoke``, ``default`` and ``paper`` are offered the
    same way, by :mod:`kpbench.presets`).

    A shared preset fixes what must be the same for every method compared under it (the
    evaluation protocol's ``task.KEY`` options, the dataset's ``data.KEY`` options) and takes
    each method's sizing from one of the layers every method declares (``base``).

    Attributes:
        name: lowercase id (``--preset NAME``).
        description: one line for ``kpbench list presets``.
        base: the layer (``smoke`` / ``default`` / ``paper``) whose ``MethodSpec.presets`` and
            ``TaskSpec.presets`` entries apply under this preset; None for the three layers
            themselves.
        settings: ``data.KEY`` / ``task.KEY`` values applied on top of the layer, for every
            method (method keys differ between methods, so a shared preset cannot set them);
            ``--config`` and ``--set`` still override them.
    """

    name: str
    description: str = ""
    base: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name)
        if self.base is None and self.name not in LAYERS:
            raise ValueError(
                f"preset {self.name!r}: give base= one of {', '.join(LAYERS)} (the layer whose "
                "method and task settings it uses)"
            )
        if self.base is not None and self.base not in LAYERS:
            raise ValueError(f"preset {self.name!r}: base {self.base!r} is not one of {LAYERS}")
        bad = [k for k in self.settings if not str(k).startswith(("data.", "task."))]
        if bad:
            raise ValueError(
                f"preset {self.name!r}: settings {bad} are not data.KEY or task.KEY; a shared "
                "preset sets the data and the evaluation protocol, each method's own keys come "
                f"from its {self.base or self.name!r} layer"
            )
