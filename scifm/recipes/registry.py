"""Recipes: ``scifm card`` and ``scifm register`` — a trained run directory -> its model card,
-> a version in the MLflow model registry; and the ``models:/`` URIs ``scifm predict`` takes.

1. ``card``: check the run directory (``model/scifm.json``, the manifest intact), then write
   ``model/README.md`` from the run files (:mod:`scifm.trust.card`), e.g. after ``scifm audit``.
2. ``register``: write the card when the model folder has none, then log ``model/`` as a new
   version of ``NAME`` (:mod:`scifm.tracking.registry`) in the run's registry: ``--tracking-uri``,
   else ``$MLFLOW_TRACKING_URI``, else the SQLite database beside the run directory, with the
   card as the version's description.
3. :func:`resolve_run_dir`: a ``models:/NAME/VERSION`` URI becomes a local run directory (the
   version fetched into a cache); a path stays as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from scifm.rundir import RunDir
from scifm.tracking.registry import (
    MODELS_SCHEME,
    ModelVersionRef,
    fetch_version,
    register_folder,
)
from scifm.trust.card import CARD, write_card

__all__ = ["register", "resolve_run_dir", "write_model_card"]


def write_model_card(run_dir: str | Path) -> Path:
    """(Re)write ``RUN_DIR/model/README.md`` from the run's files; returns its path.

    Raises
    ------
    RunDirError
        Not a trained run directory, a damaged model folder, or a pretraining run.
    """
    run = RunDir(Path(run_dir))
    run.model_meta()  # a run directory, its model folder intact (one line if not)
    return write_card(run)


def _experiment(run: RunDir) -> str:
    """``tracking.experiment`` of the run's ``config.yaml`` (``scifm`` when absent)."""
    try:
        cfg: Any = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return "scifm"
    tracking = cfg.get("tracking") if isinstance(cfg, dict) else None
    return str((tracking or {}).get("experiment") or "scifm")


def register(run_dir: str | Path, name: str, tracking_uri: str | None = None) -> ModelVersionRef:
    """Register the model of ``run_dir`` as the next version of ``name``.

    Raises
    ------
    RunDirError
        Not a trained run directory, or a damaged model folder.
    RegistryError
        The registry cannot be reached or refuses the model.
    """
    run = RunDir(Path(run_dir))
    run.model_meta()
    card = run.model / CARD
    if not card.is_file():
        write_card(run)
    metrics: dict[str, Any] = {}
    if run.metrics.is_file():
        full = json.loads(run.metrics.read_text(encoding="utf-8"))
        metrics = {k: full[k] for k in ("test", "val") if isinstance(full.get(k), dict)}
    return register_folder(model_dir=run.model, run_dir=run.root, name=name, uri=tracking_uri,
                           experiment=_experiment(run),
                           description=card.read_text(encoding="utf-8"), metrics=metrics)


def resolve_run_dir(run_dir: str | Path, tracking_uri: str | None = None) -> Path:
    """The run directory ``predict`` reads: ``run_dir`` itself, or for ``models:/NAME/VERSION``
    the registered version fetched into the cache (:func:`scifm.tracking.registry.fetch_version`;
    registry: ``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else ``./mlflow.db``).

    Raises
    ------
    RegistryError
        A malformed URI, an unreachable registry, or no such model or version.
    """
    text = str(run_dir)
    if not text.startswith(MODELS_SCHEME.rstrip("/")):
        return Path(run_dir)
    return fetch_version(text, tracking_uri)
