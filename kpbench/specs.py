"""The records plugin hooks return: one dataclass per kind of thing a plugin offers.

Hooks return records, not side effects (as conda's plugin hooks do), so the plugin
manager can check names, report duplicates with both sources, and list everything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpbench.types import check_task


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "").replace("-", "").isalnum() or name != name.lower():
        raise ValueError(
            f"plugin record name {name!r} must be lowercase letters, digits, '-' or '_'"
        )


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
        build: ``build(config: dict, num_keypoints: int | None) -> kpbench.method.Method``.
        defaults: the paper's model and recipe (flat ``key -> value``); ``kpbench info``
            without a preset shows exactly these.
        presets: ``{"smoke": {...}, "default": {...}, "paper": {...}}`` overrides of defaults.
        description: one line for ``kpbench list``.
        paper: citation or URL.
        reference: reference figures the tests pin (e.g. ``{"params": 63124819}``).
    """

    name: str
    tasks: tuple[str, ...]
    build: Callable[..., Any]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""
    paper: str = ""
    reference: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name(self.name)
        for t in self.tasks:
            check_task(t)


@dataclass(frozen=True)
class MetricSpec:
    """A metric a plugin offers for one task.

    Attributes:
        name: id, unique within its task (e.g. ``"regression_error"``).
        task: the task whose predictions it scores.
        fn: pure function ``fn(evaluation) -> float`` taking the task's evaluation record
            (for ``discovery2d``: ``kpbench.types.DiscoveryEvaluation``).
        unit: unit of the value, e.g. ``"%"``, ``"px"``, ``"mm"``, ``"deg"``.
        higher_is_better: direction, shown as an arrow in ``kpbench compare``.
        description: one line (the definition, with its normaliser).
    """

    name: str
    task: str
    fn: Callable[[Any], float]
    unit: str
    higher_is_better: bool
    description: str = ""

    def __post_init__(self) -> None:
        _check_name(self.name.replace("@", "_").replace(".", "_"))
        check_task(self.task)
