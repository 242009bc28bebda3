"""Upload to MLflow the run records that never reached it (``kpbench sync RESULTS_DIR``).

A run whose tracker was down, failed mid-run, or (with ``include_untracked``) ran with
``--no-mlflow`` keeps its JSON record with ``tracking.synced`` false. :func:`sync` gives each
such record the MLflow run the live run would have logged (same params, tags, per-epoch
``train/*`` metrics, metrics, baselines, timings, artifacts and ``record.json``) through the
same :class:`~kpbench.tracking.Tracker`, then rewrites the record atomically with the new
MLflow run id and ``synced: true``.

It is idempotent: MLflow runs are found by their ``kpbench.run_id`` tag (set by live runs
too). A complete run already there (tag ``kpbench.complete``) is left alone and only the
record is updated; partial runs a failing live run left behind are deleted (MLflow's soft
delete, restorable) and replaced by one complete upload.

Where a record goes: ``tracking_uri`` when given, else the URI the run was logging to
(``tracking.tracking_uri``), else ``$MLFLOW_TRACKING_URI`` or ``./mlflow.db``; the experiment
likewise (``experiment``, else ``tracking.experiment``, else the dataset name).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from kpbench import results
from kpbench.errors import KpbenchError
from kpbench.tracking import (
    COMPLETE_TAG,
    RUN_ID_TAG,
    Tracker,
    experiment_id,
    prepare_store,
    resolve_uri,
    run_params,
)

UPLOADED, TRACKED, SKIPPED, FAILED = "uploaded", "already tracked", "skipped", "failed"


@dataclass
class Outcome:
    """What :func:`sync` did with one record: ``status`` (one of :data:`UPLOADED`,
    :data:`TRACKED`, :data:`SKIPPED`, :data:`FAILED`), the record file and a one-line
    ``detail`` (the MLflow run and where it is, or why nothing happened)."""

    status: str
    path: str
    detail: str

    def line(self) -> str:
        return f"{self.status}: {self.path}: {self.detail}"


def is_synced(tracking: dict | None) -> bool:
    """True when the record's MLflow run reached the tracker whole. Records written before
    ``synced`` existed count as synced when they have an MLflow run id and no error."""
    tracking = tracking or {}
    if "synced" in tracking:
        return bool(tracking["synced"])
    return bool(tracking.get("enabled") and tracking.get("run_id") and not tracking.get("error"))


def record_tags(record: dict) -> dict:
    """The tags the live run logged (``tracking.tags``), or, for records that lack them,
    the same tags rebuilt from the record (``device`` then from the timing section)."""
    stored = (record.get("tracking") or {}).get("tags")
    if stored:
        return dict(stored)
    timing = record.get("timing") or {}
    tags = {
        "method": record["method"],
        "dataset": record["dataset"],
        "task": record["task"],
        "preset": str(record.get("preset")),
        "kpbench_version": str(record.get("kpbench_version")),
        "device": str(timing.get("device") or (record.get("env") or {}).get("device")),
        "seed": str(record["seed"]),
        "evaluation_inputs": str((record.get("evaluation") or {}).get("inputs_hash")),
    }
    return {k: v for k, v in tags.items() if v != "None"}


def _find_runs(client, exp_id: str, run_id: str) -> list:
    """Active MLflow runs in ``exp_id`` tagged with the kpbench ``run_id``."""
    return client.search_runs([exp_id], filter_string=f"tags.`{RUN_ID_TAG}` = '{run_id}'")


def _upload(record: dict, uri: str, experiment: str) -> Tracker:
    """Log ``record`` as a new MLflow run, as the live run would have; return the tracker."""
    tracker = Tracker(tracking_uri=uri, experiment=experiment, warn=False)
    params = run_params(
        record.get("config") or {},
        record.get("data_options") or {},
        (record.get("evaluation") or {}).get("options") or {},
    )
    tracker.start(record["run_id"], params, record_tags(record))
    for row in record.get("history") or []:
        losses = {k: v for k, v in row.items() if k != "epoch"}
        tracker.log_metrics({f"train/{k}": v for k, v in losses.items()}, step=row.get("epoch"))
    as_logged = {k: v for k, v in record.items() if k not in ("tracking", "_path")}
    tracker.log_outcome(as_logged, Path(record["_path"]).with_suffix(""))
    tracker.finish("FINISHED" if record.get("status") == "finished" else "FAILED")
    return tracker


def _mark_synced(record: dict, uri: str, experiment: str, mlflow_run_id: str) -> None:
    """Rewrite the record file (atomically) with its MLflow run and ``synced: true``; the
    live run's error, if any, stays as ``tracking.live_error``."""
    path = Path(record["_path"])
    tracking = dict(record.get("tracking") or {})
    if tracking.get("error"):
        tracking["live_error"] = tracking["error"]
    tracking.update(
        enabled=True,
        tracking_uri=uri,
        experiment=experiment,
        run_id=mlflow_run_id,
        error=None,
        synced=True,
        synced_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        tags=record_tags(record),
    )
    rec = {k: v for k, v in record.items() if k != "_path"}
    results.write_record(path, {**rec, "tracking": tracking})


def sync_record(
    record: dict, tracking_uri: str | None = None, experiment: str | None = None
) -> Outcome:
    """Make sure ``record`` (as loaded by :func:`kpbench.results.load_records`, with
    ``_path``) has one complete MLflow run; upload it when it has none. Never raises."""
    from mlflow import MlflowClient

    tracking = record.get("tracking") or {}
    path = record["_path"]
    experiment = experiment or tracking.get("experiment") or record["dataset"]
    try:
        uri = prepare_store(tracking_uri or tracking.get("tracking_uri"), experiment)
        client = MlflowClient(tracking_uri=uri)
        found = _find_runs(client, experiment_id(client, experiment), record["run_id"])
        complete = [r for r in found if r.data.tags.get(COMPLETE_TAG) == "true"]
        where = f"{uri}, experiment {experiment}"
        if complete:
            _mark_synced(record, uri, experiment, complete[0].info.run_id)
            return Outcome(TRACKED, path, f"MLflow run {complete[0].info.run_id} ({where})")
        tracker = _upload(record, uri, experiment)
        if not tracker.synced:
            return Outcome(FAILED, path, f"{tracker.error} ({where})")
        for partial in found:
            client.delete_run(partial.info.run_id)
        _mark_synced(record, uri, experiment, tracker.run_id)
        replaced = f"; deleted {len(found)} partial run(s) of the live run" if found else ""
        return Outcome(UPLOADED, path, f"MLflow run {tracker.run_id} ({where}){replaced}")
    except Exception as exc:  # one bad record or store never stops the others
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        why = first_line if isinstance(exc, KpbenchError) else f"{type(exc).__name__}: {first_line}"
        return Outcome(FAILED, path, why)


def sync(
    folder: Path,
    tracking_uri: str | None = None,
    experiment: str | None = None,
    include_untracked: bool = False,
) -> tuple[list[Outcome], list[str]]:
    """Upload every record under ``folder`` that is not in MLflow yet (see the module doc).

    Args:
        folder: a results folder (searched recursively).
        tracking_uri: send every record here instead of where its run was logging.
        experiment: MLflow experiment for every record instead of the record's own.
        include_untracked: also upload runs made with ``--no-mlflow`` (skipped otherwise).

    Returns:
        ``(outcomes, warnings)``: one :class:`Outcome` per record, in path order, and one
        warning per JSON file under ``folder`` that is not a record.

    Raises:
        KpbenchError: ``folder`` does not exist.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise KpbenchError(f"kpbench sync: {folder} is not a folder; pass a results folder")
    if tracking_uri is not None:
        tracking_uri = resolve_uri(tracking_uri)
    records, warnings = results.load_records(folder)
    outcomes = []
    for record in records:
        tracking = record.get("tracking") or {}
        if not tracking.get("enabled") and not include_untracked:
            why = "tracking was off for this run (--no-mlflow); --include-untracked uploads it"
            outcomes.append(Outcome(SKIPPED, record["_path"], why))
        elif is_synced(tracking) and (tracking_uri in (None, tracking.get("tracking_uri"))):
            detail = f"MLflow run {tracking.get('run_id')} ({tracking.get('tracking_uri')})"
            outcomes.append(Outcome(TRACKED, record["_path"], detail))
        else:
            outcomes.append(sync_record(record, tracking_uri, experiment))
    return outcomes, warnings
