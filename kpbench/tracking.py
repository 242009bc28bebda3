"""MLflow logging that can never fail a run.

The JSON record is the source of truth; MLflow is a mirror. :class:`Tracker` talks to MLflow
through ``MlflowClient`` (no global active run), uses short HTTP retries and timeouts for its
own calls so an unreachable server fails within seconds instead of MLflow's default ~4 min,
and on the first error warns once and turns itself off.

Where runs go: ``tracking_uri`` when given, else ``$MLFLOW_TRACKING_URI``, else MLflow's
default, the SQLite store ``./mlflow.db`` (artifacts in ``./mlruns``). A plain path is a
file store (``file:`` URI, made absolute), or a SQLite store when it ends in ``.db``.

The store is made ready once, before any run logs to it (:func:`prepare_store`): a fresh SQLite
store is created and migrated, and the experiment created, under an inter-process file lock
beside the database, so runs started at once into one store never race MLflow's schema
migration (which loses runs and can leave the store unreadable).

Every MLflow run carries the tag ``kpbench.run_id`` (the record's run id) and, once every
call succeeded, ``kpbench.complete``; the record's ``tracking.synced`` says whether the run
reached the tracker. ``kpbench sync`` (:mod:`kpbench.sync`) uploads the records that did not.
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

from kpbench.errors import KpbenchError

log = logging.getLogger("kpbench")

#: HTTP settings for kpbench's own MLflow calls, unless the user set them.
HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value (characters)
_BATCH = 100  # MLflow's limit on params (and tags) per log_batch call
RUN_ID_TAG = "kpbench.run_id"  # the kpbench run id, on every MLflow run kpbench creates
COMPLETE_TAG = "kpbench.complete"  # "true" once params, metrics and artifacts all landed
LOCK_TIMEOUT_S = 600  # how long a run waits for another process preparing the same store
_DATABASES = ("postgresql", "mysql", "mssql")  # SQLAlchemy stores other than SQLite


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


def run_params(config: dict, data_options: dict, task_options: dict) -> dict:
    """The flat params of a run: its config, ``data.<option>`` and ``task.<option>``."""
    params = {**config, **{f"data.{k}": v for k, v in data_options.items()}}
    params.update({f"task.{k}": v for k, v in task_options.items()})
    return flatten(params)


def resolve_uri(tracking_uri: str | None) -> str:
    """The tracking URI a run logs to, with local paths made absolute.

    None → ``$MLFLOW_TRACKING_URI`` or MLflow's default (``sqlite:///<cwd>/mlflow.db``);
    ``sqlite:///rel.db`` → ``sqlite:////abs/rel.db``; ``file:rel`` or a plain path →
    ``file:///abs/path`` (a plain path ending in ``.db`` → a SQLite store there); any other
    URI (``http(s)://``, ``postgresql://``, ...) as given.
    """
    if tracking_uri is None:
        import mlflow

        tracking_uri = mlflow.get_tracking_uri()
    uri = str(tracking_uri)
    if uri.startswith("sqlite:///"):
        path, sep, query = uri[len("sqlite:///") :].partition("?")
        return f"sqlite:///{Path(path).resolve()}{sep}{query}"
    if uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path)).resolve().as_uri()
    if "://" not in uri:  # a plain path
        path = Path(uri).expanduser().resolve()
        return f"sqlite:///{path}" if path.suffix == ".db" else path.as_uri()
    return uri


def _lock_file(uri: str) -> Path | None:
    """Where to lock while preparing the store at ``uri``: beside a SQLite file, in the temp
    folder for other databases (one lock per URI on this machine), none for servers and
    file stores (a server migrates its own store)."""
    if uri.startswith("sqlite:///"):
        return Path(uri[len("sqlite:///") :].partition("?")[0] + ".lock")
    if uri.split(":", 1)[0].split("+", 1)[0] in _DATABASES:
        import hashlib
        import tempfile

        digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"kpbench-mlflow-{digest}.lock"
    return None


def experiment_id(client: Any, name: str) -> str:
    """The id of the experiment ``name``, created when missing (another process creating it
    at the same moment is fine); a deleted experiment is an error naming the fix."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        try:
            return client.create_experiment(name)
        except MlflowException:  # another run created it meanwhile
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage != "active":
        raise RuntimeError(f"experiment {name!r} is deleted; restore it or pick another name")
    return exp.experiment_id


def prepare_store(tracking_uri: str | None, experiment: str) -> str:
    """Make the store at ``tracking_uri`` ready for runs and create ``experiment`` in it, once.

    Call it before starting runs that log to one store at the same time (``Tracker.start``
    calls it too). For a SQLite store (MLflow's default ``./mlflow.db`` included) and other
    databases it holds an inter-process :class:`filelock.FileLock` (``<db>.lock`` beside a
    SQLite file) while MLflow creates and migrates the schema and the experiment is created,
    so concurrent first uses never race the migration. Servers (``http(s)://``) and file
    stores only get the experiment.

    Args:
        tracking_uri: MLflow tracking URI; None uses ``$MLFLOW_TRACKING_URI`` or ``./mlflow.db``.
        experiment: MLflow experiment name.

    Returns:
        The resolved URI (see :func:`resolve_uri`); pass it on to the runs.

    Raises:
        KpbenchError: the store could not be opened, migrated or written; the lock was not
            free within :data:`LOCK_TIMEOUT_S`.
    """
    from filelock import FileLock, Timeout
    from mlflow.environment_variables import MLFLOW_ALLOW_FILE_STORE

    uri = resolve_uri(tracking_uri)
    if uri.startswith("file:") and not MLFLOW_ALLOW_FILE_STORE.get():
        raise KpbenchError(
            f"MLflow store {uri}: MLflow 3 refuses file stores unless MLFLOW_ALLOW_FILE_STORE=true; "
            "set it, or log to a SQLite store instead (--tracking-uri <folder>/mlflow.db)"
        )
    lock_file = _lock_file(uri)
    try:
        with http_env():
            if lock_file is None:
                _open_store(uri, experiment)
                return uri
            lock_file.parent.mkdir(parents=True, exist_ok=True)
            with FileLock(lock_file, timeout=LOCK_TIMEOUT_S):
                _open_store(uri, experiment)
    except Timeout:
        raise KpbenchError(
            f"MLflow store {uri}: {lock_file} stayed locked for {LOCK_TIMEOUT_S} s; if no "
            "other kpbench process is preparing this store, delete the lock file"
        ) from None
    except KpbenchError:
        raise
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise KpbenchError(
            f"MLflow store {uri} could not be prepared ({type(exc).__name__}: {first_line}); "
            "check the URI, or run with --no-mlflow"
        ) from None
    return uri


def _open_store(uri: str, experiment: str) -> None:
    """Open the store (MLflow creates and migrates a fresh schema here); create the experiment."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    client.search_experiments(max_results=1)
    experiment_id(client, experiment)


@contextmanager
def http_env() -> Iterator[None]:
    """Apply :data:`HTTP_ENV` (where unset) for the duration of one MLflow call, without
    urllib3's per-retry warnings (kpbench reports a failure once)."""
    added = [k for k in HTTP_ENV if k not in os.environ]
    os.environ.update({k: HTTP_ENV[k] for k in added})
    pool = logging.getLogger("urllib3.connectionpool")
    level = pool.level
    pool.setLevel(logging.ERROR)
    try:
        yield
    finally:
        pool.setLevel(level)
        for k in added:
            os.environ.pop(k, None)


class Tracker:
    """Mirror a run into MLflow; every call is a no-op once tracking is off.

    Args:
        enabled: False (``--no-mlflow``) makes every call a no-op.
        tracking_uri: MLflow tracking URI; None uses ``$MLFLOW_TRACKING_URI`` or ``./mlflow.db``.
        experiment: MLflow experiment name (created when missing).
        results_dir: the run's results folder, for the `kpbench sync` hint of the warning.
        warn: False stays silent on errors (the caller reports :attr:`error` itself).

    Attributes:
        active: True between a successful :meth:`start` and :meth:`finish` or the first error.
        error: the first error's one-line message, or None.
        run_id: MLflow run id once started.
        synced: True once :meth:`finish` ended a run whose every call succeeded.
    """

    def __init__(
        self,
        enabled: bool = True,
        tracking_uri: str | None = None,
        experiment: str = "default",
        results_dir: Path | None = None,
        warn: bool = True,
    ):
        self.enabled, self.tracking_uri, self.experiment = enabled, tracking_uri, experiment
        self.results_dir, self.warn = results_dir, warn
        self.active = self.synced = False
        self.error: str | None = None
        self.run_id: str | None = None
        self.tags: dict = {}
        self._client: Any = None

    def _guard(self, what: str, call: Callable[[], Any]) -> None:
        """Run ``call``; on an exception warn once, store the message and turn tracking off."""
        try:
            with http_env():
                call()
        except Exception as exc:
            first_line = (str(exc).strip().splitlines() or [""])[0][:300]
            kind = "" if isinstance(exc, KpbenchError) else f"{type(exc).__name__}: "
            self.error = f"{what} failed: {kind}{first_line}"
            self.active = False
            if not self.warn:
                return
            sync = f"`kpbench sync {self.results_dir}`" if self.results_dir else None
            later = f"; upload it later with {sync}" if sync else ""
            log.warning(
                "MLflow unreachable or failing at %s (%s); tracking is off for this run, "
                "the JSON record is kept%s",
                self.tracking_uri,
                self.error,
                later,
            )

    def start(self, run_name: str, params: dict, tags: dict) -> None:
        """Prepare the store (:func:`prepare_store`), start a run, log ``params`` and ``tags``.

        Args:
            run_name: the kpbench run id: the run's name in the MLflow UI and its
                :data:`RUN_ID_TAG` tag.
            params: flat ``key -> value``; values are stringified and cut to 6000 characters.
            tags: ``key -> value`` strings (kept for the record's ``tracking.tags`` even when
                tracking is off, so ``kpbench sync`` can log them later).
        """
        self.tags = {str(k): str(v) for k, v in tags.items()}
        if not self.enabled or self.active or self.error:
            return

        def start() -> None:
            from mlflow import MlflowClient
            from mlflow.entities import Param, RunTag

            self.tracking_uri = resolve_uri(self.tracking_uri)
            prepare_store(self.tracking_uri, self.experiment)
            client = MlflowClient(tracking_uri=self.tracking_uri)
            run = client.create_run(
                experiment_id(client, self.experiment),
                run_name=run_name,
                tags={RUN_ID_TAG: run_name},
            )
            self._client, self.run_id, self.active = client, run.info.run_id, True
            items = [Param(mlflow_key(k), str(v)[:MAX_PARAM_LENGTH]) for k, v in params.items()]
            labels = [RunTag(mlflow_key(k), v) for k, v in self.tags.items()]
            for i in range(0, max(len(items), len(labels)), _BATCH):
                client.log_batch(
                    self.run_id, params=items[i : i + _BATCH], tags=labels[i : i + _BATCH]
                )

        self._guard("start", start)

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

    def log_outcome(self, record: dict, run_dir: Path) -> None:
        """Log what a run ends with: for a finished run its metrics, baselines
        (``baseline/<name>/<metric>``) and timings (``timing/<name>``); the files in
        ``run_dir`` (its artifact folder) when there are any; the record as ``record.json``."""
        if record.get("status") == "finished":
            self.log_metrics({k: v["value"] for k, v in record["metrics"].items()})
            self.log_metrics(
                {
                    f"baseline/{b}/{k}": v
                    for b, values in (record.get("baselines") or {}).items()
                    for k, v in values.items()
                }
            )
            self.log_metrics(
                {
                    f"timing/{k}": v["value"]
                    for k, v in (record.get("timing") or {}).items()
                    if isinstance(v, dict)
                }
            )
        if Path(run_dir).is_dir() and any(Path(run_dir).iterdir()):
            self.log_artifacts(run_dir)
        self.log_dict(record, "record.json")

    def finish(self, status: str = "FINISHED") -> None:
        """Mark the run complete (:data:`COMPLETE_TAG`) and end it with ``status``
        (``FINISHED``, ``FAILED`` or ``KILLED``); :attr:`synced` becomes True."""
        if not self.active:
            return

        def finish() -> None:
            self._client.set_tag(self.run_id, COMPLETE_TAG, "true")
            self._client.set_terminated(self.run_id, status)
            self.synced = True

        self._guard("finish", finish)
        self.active = False

    def info(self) -> dict:
        """What the record keeps about tracking: ``enabled``, ``tracking_uri``, ``experiment``,
        ``run_id``, ``error`` (None when all went well), ``synced`` (the run reached the
        tracker whole; False also when tracking was off) and ``tags`` (those given to
        :meth:`start`)."""
        return {
            "enabled": self.enabled,
            "tracking_uri": self.tracking_uri if self.enabled else None,
            "experiment": self.experiment,
            "run_id": self.run_id,
            "error": self.error,
            "synced": self.synced,
            "tags": dict(self.tags),
        }
