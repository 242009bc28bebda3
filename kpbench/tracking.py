"""MLflow logging that can never fail a run.

The JSON record is the source of truth; MLflow is a mirror. :class:`Tracker` talks to MLflow
through ``MlflowClient`` (no global active run), uses short HTTP retries and timeouts for its
own calls so an unreachable server fails within seconds instead of MLflow's default ~4 min,
and on the first error warns once and turns itself off.

Where runs go: ``tracking_uri`` when given, else ``$MLFLOW_TRACKING_URI``, else MLflow's
default, the SQLite store ``./mlflow.db`` (artifacts in ``./mlruns``).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger("kpbench")

#: HTTP settings for kpbench's own MLflow calls, unless the user set them.
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value (characters)
_BATCH = 100  # MLflow's limit on params (and tags) per log_batch call


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested dicts → one level with dotted keys: ``{"a": {"b": 1}}`` → ``{"a.b": 1}``."""
    out: dict = {}
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def mlflow_key(name: str) -> str:
    """``name`` with characters MLflow refuses in param and metric keys replaced by ``_``."""
    return re.sub(r"[^/\w.\- ]", "_", str(name))[:250]


@contextmanager
def http_env() -> Iterator[None]:
    """Apply :data:`HTTP_ENV` (where unset) for the duration of one MLflow call."""
    added = [k for k in HTTP_ENV if k not in os.environ]
    os.environ.update({k: HTTP_ENV[k] for k in added})
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class Tracker:
    """Mirror a run into MLflow; every call is a no-op once tracking is off.

    Args:
        enabled: False (``--no-mlflow``) makes every call a no-op.
        tracking_uri: MLflow tracking URI; None uses ``$MLFLOW_TRACKING_URI`` or ``./mlflow.db``.
        experiment: MLflow experiment name (created when missing).

    Attributes:
        active: True between a successful :meth:`start` and :meth:`finish` or the first error.
        error: the first error's one-line message, or None.
        run_id: MLflow run id once started.
    """

    def __init__(
        self, enabled: bool = True, tracking_uri: str | None = None, experiment: str = "default"
    ):
        self.enabled, self.tracking_uri, self.experiment = enabled, tracking_uri, experiment
        self.active = False
        self.error: str | None = None
        self.run_id: str | None = None
        self._client: Any = None

    def _guard(self, what: str, call: Callable[[], Any]) -> None:
        """Run ``call``; on an exception warn once, store the message and turn tracking off."""
        try:
            with http_env():
                call()
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            self.error = f"{what} failed: {type(exc).__name__}: {first_line}"
            self.active = False
            log.warning(
                "MLflow tracking is off for this run (%s); the JSON record is unaffected",
                self.error,
            )

    def start(self, run_name: str, params: dict, tags: dict) -> None:
        """Create (or reuse) the experiment, start a run, log ``params`` and ``tags``.

        Args:
            run_name: shown in the MLflow UI (kpbench uses the run id).
            params: flat ``key -> value``; values are stringified and cut to 6000 characters.
            tags: ``key -> value`` strings.
        """
        if not self.enabled or self.active or self.error:
            return

        def start() -> None:
            from mlflow import MlflowClient
            from mlflow.entities import Param, RunTag

            client = MlflowClient(tracking_uri=self.tracking_uri)
            self.tracking_uri = client.tracking_uri
            run = client.create_run(self._experiment_id(client), run_name=run_name)
            self._client, self.run_id, self.active = client, run.info.run_id, True
            items = [Param(mlflow_key(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
            labels = [RunTag(mlflow_key(k), str(v)) for k, v in tags.items()]
            for i in range(0, max(len(items), len(labels)), _BATCH):
                client.log_batch(
                    self.run_id, params=items[i : i + _BATCH], tags=labels[i : i + _BATCH]
                )

        self._guard("start", start)

    def _experiment_id(self, client: Any) -> str:
        """The id of the experiment named ``self.experiment``, created when missing."""
        from mlflow.exceptions import MlflowException

        exp = client.get_experiment_by_name(self.experiment)
        if exp is None:
            try:
                return client.create_experiment(self.experiment)
            except MlflowException:  # another run created it meanwhile
                exp = client.get_experiment_by_name(self.experiment)
                if exp is None:
                    raise
        if exp.lifecycle_stage != "active":
            raise RuntimeError(
                f"experiment {self.experiment!r} is deleted; restore it or pick another name"
            )
        return exp.experiment_id

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log numeric values (None skipped) at ``step`` (e.g. the epoch; None → 0)."""
        if not self.active:
            return

        def log_metrics() -> None:
            from mlflow.entities import Metric

            stamp = int(time.time() * 1000)
            items = [
                Metric(mlflow_key(k), float(v), stamp, step or 0)
                for k, v in metrics.items()
                if v is not None
            ]
            for i in range(0, len(items), 1000):
                self._client.log_batch(self.run_id, metrics=items[i : i + 1000])

        self._guard("log_metrics", log_metrics)

    def log_dict(self, obj: dict, artifact_file: str) -> None:
        """Store ``obj`` as a JSON (or YAML, by extension) artifact of the run."""
        if self.active:
            self._guard("log_dict", lambda: self._client.log_dict(self.run_id, obj, artifact_file))

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Copy the file ``path`` into the run's artifacts (under ``artifact_path``)."""
        if self.active:
            self._guard(
                "log_artifact",
                lambda: self._client.log_artifact(self.run_id, str(path), artifact_path),
            )

    def log_artifacts(self, folder: Path, artifact_path: str | None = None) -> None:
        """Copy every file under ``folder`` (a run's artifact folder: checkpoint, predictions,
        overlays) into the run's artifacts, under ``artifact_path``, keeping the sub-folders.
        A missing folder (a run without artifacts) uploads nothing."""
        if self.active and Path(folder).is_dir():
            self._guard(
                "log_artifacts",
                lambda: self._client.log_artifacts(self.run_id, str(folder), artifact_path),
            )

    def finish(self, status: str = "FINISHED") -> None:
        """End the run with ``status`` (``FINISHED``, ``FAILED`` or ``KILLED``)."""
        if not self.active:
            return
        self._guard("finish", lambda: self._client.set_terminated(self.run_id, status))
        self.active = False

    def info(self) -> dict:
        """What the record keeps about tracking: ``enabled``, ``tracking_uri``, ``experiment``,
        ``run_id`` and ``error`` (None when all went well)."""
        return {
            "enabled": self.enabled,
            "tracking_uri": self.tracking_uri if self.enabled else None,
            "experiment": self.experiment,
            "run_id": self.run_id,
            "error": self.error,
        }
