"""What ``MethodSpec.build`` returns, and the run context the runner hands to it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol


class RunContext(Protocol):
    """What a method may use while it trains and evaluates (provided by the runner).

    Attributes:
        config: the fully resolved flat config.
        device: ``torch.device`` to run on.
        seed: the run's seed.
        run_dir: folder beside the record for checkpoints and artifacts.
        resume: True when ``--resume`` asked to continue an interrupted run.
    """

    config: dict
    device: Any
    seed: int
    run_dir: Path
    resume: bool

    def log_epoch(self, epoch: int, losses: dict[str, float]) -> None:
        """Record one epoch's mean losses (MLflow steps + the record's ``history``)."""

    def save_checkpoint(self, state: dict) -> Path:
        """Atomically write ``state`` (tensors and plain values) as the run's checkpoint."""

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint (``weights_only=True``) when resuming, else None."""

    def add_artifact(self, key: str, path: Path) -> None:
        """Register a file under ``run_dir`` in the record's ``artifacts``."""

    def note(self, key: str, value: Any) -> None:
        """Add a fact to the record's ``notes`` (e.g. which weights were loaded)."""

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterator:
        """Wrap an iterable in the run's progress bar."""


class Method(ABC):
    """Base class of a method instance built from a resolved config.

    Subclasses set ``self.model`` (a ``torch.nn.Module``) and implement every abstract method.
    """

    model: Any = None

    @abstractmethod
    def fit(self, data, ctx: RunContext) -> None:
        """Train on ``data`` (a ``KeypointDataset``), logging epochs and checkpoints through ``ctx``."""

    @abstractmethod
    def evaluate(self, data, ctx: RunContext) -> dict:
        """Produce the task's evaluation record (e.g. ``kpbench.types.DiscoveryEvaluation``)."""

    @abstractmethod
    def flops_inputs(self) -> tuple:
        """Model inputs for **one sample** on the model's device, used to count FLOPs."""

    @abstractmethod
    def timing_batch(self, data, batch_size: int) -> Any:
        """A batch for timing ``train_step`` and ``infer`` (on the model's device)."""

    @abstractmethod
    def train_step(self, batch) -> float:
        """One optimiser step on ``batch``; returns the loss."""

    @abstractmethod
    def infer(self, batch) -> Any:
        """Inference (keypoints) on ``batch``, as used to export predictions."""

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
