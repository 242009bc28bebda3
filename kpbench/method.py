"""What ``MethodSpec.build`` returns: a predictor (:class:`Method`), optionally trainable.

A method never sees ground truth at evaluation time: the run's task selects the evaluation
inputs and calls :meth:`Method.predict` on exactly those (see :mod:`kpbench.evaluation`).

* Every method implements :meth:`~Method.predict` (the task's inputs → the task's
  prediction), :meth:`~Method.example_batch` and :meth:`~Method.infer` (the inference call that
  is timed, and whose FLOPs are counted for one sample: one frame, one frame of a sequence, one
  view pair, as the task's ``unit`` says).
* A method whose ``MethodSpec.trains`` is True subclasses :class:`TrainableMethod` and also
  implements :meth:`~TrainableMethod.fit`, :meth:`~TrainableMethod.train_batch` and
  :meth:`~TrainableMethod.train_step`; the runner trains it and times one training step.
  ``fit`` runs its epochs and steps through :func:`kpbench.training.training_loop`, which
  checkpoints and resumes them exactly.
  A method that does not train (a fixed baseline, a pretrained encoder) implements prediction
  only: no fake training step.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol


class RunContext(Protocol):
    """What a method may use while it trains and predicts (provided by the runner).

    Attributes:
        config: the fully resolved flat config.
        device: ``torch.device`` to run on.
        seed: the run's seed.
        run_dir: folder beside the record for checkpoints and artifacts.
        resume: True when ``--resume`` asked to continue an interrupted run.
        rank, world_size, local_rank: this process among the data-parallel processes
            (``torchrun`` sets ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; 0, 1, 0 otherwise).
        is_main: True on rank 0, the one process that logs, checkpoints and writes artifacts.
    """

    config: dict
    device: Any
    seed: int
    run_dir: Path
    resume: bool
    rank: int
    world_size: int
    local_rank: int
    is_main: bool

    def log_epoch(self, epoch: int, losses: dict[str, float]) -> None:
        """Record one epoch's mean losses (MLflow steps + the record's ``history``; rank 0)."""

    def save_checkpoint(self, state: dict) -> Path:
        """Atomically write ``state`` (tensors and plain values) as the run's checkpoint (rank 0)."""

    def load_checkpoint(self) -> dict | None:
        """The last checkpoint (``weights_only=True``) when resuming, else None."""

    def add_artifact(self, key: str, path: Path) -> None:
        """Register a file under ``run_dir`` in the record's ``artifacts``."""

    def note(self, key: str, value: Any) -> None:
        """Add a fact to the record's ``notes`` (e.g. which weights were loaded)."""

    def progress(self, iterable: Iterable, total: int | None = None, desc: str = "") -> Iterator:
        """Wrap an iterable in the run's progress bar (shown on rank 0 only)."""

    def wrap_model(self, model: Any) -> Any:
        """``model`` for training: ``DistributedDataParallel`` when ``world_size > 1``, else itself."""

    def sampler(self, dataset: Any, shuffle: bool = True) -> Any:
        """This rank's ``DistributedSampler`` (seeded by the run), or None on one process."""

    def loader(self, dataset: Any, batch_size: int, shuffle: bool = True, **kwargs) -> Any:
        """A ``DataLoader`` over this rank's shard (``DistributedSampler`` when ``world_size > 1``),
        shuffled reproducibly from the run's seed; call :meth:`set_epoch` each epoch."""

    def set_epoch(self, loader: Any, epoch: int) -> None:
        """Make a :meth:`loader`'s order for ``epoch`` depend on (seed, epoch) alone."""


class Method(ABC):
    """A predictor built from a resolved config.

    Attributes:
        model: the ``torch.nn.Module`` (None for a method without one, e.g. a fixed grid).
        name: the method's name (set by the runner from its spec).
    """

    model: Any = None
    name: str = ""

    @abstractmethod
    def predict(self, inputs: Sequence[dict], ctx: RunContext) -> dict:
        """The task's prediction for ``inputs`` (each of the task's ``inputs`` schema), in order."""

    @abstractmethod
    def example_batch(self, batch_size: int, data: Any = None) -> Any:
        """Inputs of :meth:`infer` for ``batch_size`` samples, on the model's device.

        ``data`` is the run's dataset when there is one (real frames), None for ``kpbench info``
        and the reference-figure test (synthetic inputs of the right size).
        """

    @abstractmethod
    def infer(self, batch: Any) -> Any:
        """The inference call: timed for latency, and FLOPs counted on ``example_batch(1)``."""

    def export(self, data: Any, ctx: RunContext) -> None:
        """Write extra artifacts (exported keypoints, overlays) through ``ctx``; optional."""
        return None

    def state_dict(self) -> dict:
        return {"model": self.model.state_dict()} if self.model is not None else {}

    def load_state_dict(self, state: dict) -> None:
        if self.model is not None:
            self.model.load_state_dict(state["model"])


class TrainableMethod(Method):
    """A method that trains (``MethodSpec.trains=True``)."""

    @abstractmethod
    def fit(self, data: Any, ctx: RunContext) -> None:
        """Train on ``data`` (a ``KeypointDataset``), logging epochs and checkpoints through ``ctx``."""

    @abstractmethod
    def train_batch(self, batch_size: int, data: Any = None) -> Any:
        """A batch for :meth:`train_step` (on the model's device)."""

    @abstractmethod
    def train_step(self, batch: Any) -> float:
        """One optimiser step on ``batch``; returns the loss."""
