"""Log a finished run to MLflow; tracking problems warn and never fail or lose the run.

The run directory on disk is the source of truth; MLflow is a searchable index of runs. By default
runs go to a local SQLite database beside the run directory (``<out parent>/mlflow.db``), or to
whatever ``MLFLOW_TRACKING_URI`` points at.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def resolve_tracking_uri(uri: str | None, run_dir: Path) -> str:
    """``uri`` if given, else ``$MLFLOW_TRACKING_URI``, else SQLite beside the run directory."""
    if uri:
        return uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    db = Path(run_dir).resolve().parent / "mlflow.db"
    return f"sqlite:///{db}"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def scalar_metrics(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """Pick the numbers out of a metrics.json-style dict: ``{"roc_auc": {"value": x}}`` etc."""
    out: dict[str, float] = {}
    for key, value in flatten(metrics).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            name = key.removesuffix(".value")
            if ".ci95" in name or name.endswith(".n"):
                continue
            out[f"{prefix}{name}".replace("/", "_")] = float(value)
    return {k: v for k, v in out.items() if v == v}  # drop NaN


def log_run(
    *,
    run_dir: Path,
    uri: str | None,
    experiment: str,
    run_name: str,
    params: Mapping[str, Any],
    histories: Mapping[str, list[dict[str, Any]]],
    final_metrics: Mapping[str, Any],
    artifacts: list[Path],
) -> str | None:
    """Log params, per-epoch metrics, final metrics and artifacts as one MLflow run.

    Returns
    -------
    str or None
        The MLflow run id, or ``None`` when tracking failed (a warning says why).
    """
    try:
        import mlflow
        from mlflow.tracking import MlflowClient
    except ImportError:  # pragma: no cover - mlflow is a core dependency
        logger.warning("MLflow is not installed; run not tracked")
        return None
    if not logger.isEnabledFor(logging.DEBUG):  # MLflow's own INFO lines (DB migrations)
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    tracking_uri = resolve_tracking_uri(uri, run_dir)
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        exp_id = experiment_id(client, experiment, tracking_uri)
        run = client.create_run(exp_id, run_name=run_name, tags={"scifm.run_dir": str(run_dir)})
        run_id = run.info.run_id
        flat = {k: str(v)[:500] for k, v in flatten(params).items()}
        items = list(flat.items())
        for i in range(0, len(items), 100):
            client.log_batch(run_id, params=[mlflow.entities.Param(k, v) for k, v in
                                             items[i:i + 100]])
        metric_entities = _metric_entities(histories, final_metrics)
        for i in range(0, len(metric_entities), 500):
            client.log_batch(run_id, metrics=metric_entities[i:i + 500])
        for path in artifacts:
            if path.is_dir():
                client.log_artifacts(run_id, str(path), artifact_path=path.name)
            elif path.is_file():
                client.log_artifact(run_id, str(path))
        client.set_terminated(run_id)
        logger.info("tracked in MLflow (%s) as run %s", tracking_uri, run_id)
        return run_id
    except Exception as e:  # noqa: BLE001 - tracking must never fail the run
        logger.warning("MLflow tracking failed (%s: %s); the run directory is complete",
                       type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return None


def experiment_id(client: Any, experiment: str, tracking_uri: str) -> str:
    """The id of ``experiment``, created (artifacts beside a SQLite database) if missing."""
    exp = client.get_experiment_by_name(experiment)
    if exp is not None:
        return exp.experiment_id
    artifact_root = None
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///"))
        artifact_root = (db.parent / "mlartifacts").resolve().as_uri()
    return client.create_experiment(experiment, artifact_location=artifact_root)


def _metric_entities(histories: Mapping[str, list[dict[str, Any]]],
                     final_metrics: Mapping[str, Any]) -> list[Any]:
    """Per-epoch metrics (``<family>.<key>``, step = epoch) and the final scalars."""
    import mlflow

    out = []
    for family, history in histories.items():
        for row in history:
            step = int(row.get("epoch", row.get("round", 0)) or 0)
            for key, value in row.items():
                counter = key in ("epoch", "round", "best")
                if not counter and isinstance(value, (int, float)) and value == value:
                    out.append(mlflow.entities.Metric(f"{family}.{key}", float(value), 0, step))
    for key, value in scalar_metrics(final_metrics, "").items():
        out.append(mlflow.entities.Metric(key, value, 0, 0))
    return out


def log_trials(*, uri: str | None, run_dir: Path, parent_run_id: str | None,
               trials: list[dict[str, Any]]) -> int:
    """Log each tuning trial as an MLflow run nested under ``parent_run_id``.

    Parameters
    ----------
    uri, run_dir
        Tracking URI as for :func:`log_run` (``None``: default beside ``run_dir``).
    parent_run_id
        The run made by :func:`log_run` for the whole study (``None``: nothing is logged).
    trials
        One dict per trial: ``number``, ``state``, ``params`` (dict), ``metrics`` (name ->
        number) and ``fold_scores`` (list, logged as ``fold_score`` with step = fold).

    Returns
    -------
    int
        Number of trial runs logged (0 when tracking failed; a warning says why).
    """
    if parent_run_id is None:
        return 0
    try:
        import mlflow
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=resolve_tracking_uri(uri, run_dir))
        exp_id = client.get_run(parent_run_id).info.experiment_id
        for t in trials:
            run = client.create_run(exp_id, run_name=f"trial-{t['number']}", tags={
                "mlflow.parentRunId": parent_run_id, "scifm.trial_state": str(t["state"])})
            params = [mlflow.entities.Param(k, str(v)[:500]) for k, v in t["params"].items()]
            metrics = [mlflow.entities.Metric(k, float(v), 0, 0) for k, v in
                       t.get("metrics", {}).items() if isinstance(v, (int, float)) and v == v]
            metrics += [mlflow.entities.Metric("fold_score", float(v), 0, step) for step, v in
                        enumerate(t.get("fold_scores", [])) if v == v]
            client.log_batch(run.info.run_id, params=params, metrics=metrics)
            client.set_terminated(run.info.run_id,
                                  status="FINISHED" if t["state"] == "COMPLETE" else "KILLED")
        return len(trials)
    except Exception as e:  # noqa: BLE001 - tracking must never fail the run
        logger.warning("MLflow trial tracking failed (%s: %s); the run directory is complete",
                       type(e).__name__, str(e).splitlines()[0] if str(e) else "")
        return 0
