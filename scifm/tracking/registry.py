"""The MLflow model registry: register a run's model folder, fetch a registered version back.

A registered version is the run directory's ``model/`` folder (with its card ``README.md`` and
its SHA-256 manifest), logged as the artifacts of one MLflow run; the version's ``source`` is
that artifact folder and its description is the card. ``models:/NAME/VERSION`` (or
``models:/NAME@ALIAS``) is fetched into a local cache as ``<cache>/<key>/model/``, a run
directory that ``scifm predict`` reads like any other: the manifest is still checked at load.

Unlike :mod:`scifm.tracking.mlflow` (where tracking never fails a run), registering is the whole
point of ``scifm register``: every failure here is one :class:`RegistryError` line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scifm.errors import ScifmError
from scifm.tracking.mlflow import experiment_id, resolve_tracking_uri, scalar_metrics

__all__ = ["DESCRIPTION_LIMIT", "MODELS_SCHEME", "ModelVersionRef", "RegistryError", "cache_dir",
           "fetch_version", "fit_description", "parse_models_uri", "register_folder",
           "registry_uri"]

logger = logging.getLogger(__name__)

DESCRIPTION_LIMIT = 5000
"""Longest model-version description MLflow's SQL stores keep (``String(5000)``)."""
MODELS_SCHEME = "models:/"
"""Prefix of a registered model's URI: ``models:/NAME/VERSION`` or ``models:/NAME@ALIAS``."""
_NAME = re.compile(r"^[\w.-]{1,200}$")
_URI = re.compile(r"^models:/+(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))/?$")


class RegistryError(ScifmError):
    """The model registry cannot be reached, or has no such model or version."""


@dataclass(frozen=True)
class ModelVersionRef:
    """One registered version."""

    name: str
    version: str
    tracking_uri: str
    """Where the registry is (SQLite database or tracking server)."""
    run_id: str
    """The MLflow run holding the model folder as its ``model`` artifacts."""

    @property
    def uri(self) -> str:
        return f"{MODELS_SCHEME}{self.name}/{self.version}"


def registry_uri(uri: str | None) -> str:
    """The registry of ``scifm predict models:/...``: ``uri``, else ``$MLFLOW_TRACKING_URI``,
    else ``./mlflow.db`` when it exists.

    Raises
    ------
    RegistryError
        None of them is given.
    """
    if uri or os.environ.get("MLFLOW_TRACKING_URI"):
        return uri or os.environ["MLFLOW_TRACKING_URI"]
    if Path("mlflow.db").is_file():
        return f"sqlite:///{Path('mlflow.db').resolve()}"
    raise RegistryError("no model registry: set MLFLOW_TRACKING_URI to the registry "
                        "`scifm register` used (e.g. sqlite:////abs/path/runs/mlflow.db)")


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """``models:/NAME/VERSION`` -> ``(NAME, VERSION, None)``; ``models:/NAME@ALIAS`` ->
    ``(NAME, None, ALIAS)``.

    Raises
    ------
    RegistryError
        Any other form.
    """
    m = _URI.match(uri.strip())
    if m is None:
        raise RegistryError(f"{uri!r} is not a registered model URI: use models:/NAME/VERSION "
                            "(e.g. models:/solubility/1) or models:/NAME@ALIAS")
    return m["name"], m["version"], m["alias"]


def _client(tracking_uri: str) -> Any:
    import mlflow  # noqa: F401 - imported for its side effects on logging
    from mlflow.tracking import MlflowClient

    if not logger.isEnabledFor(logging.DEBUG):  # MLflow's own INFO lines (DB migrations)
        logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def _one_line(err: BaseException) -> str:
    text = str(getattr(err, "message", "") or err).strip()
    return text.splitlines()[0] if text else type(err).__name__


@contextmanager
def _registry_errors(what: str) -> Iterator[None]:
    """Turn MLflow's exceptions into one :class:`RegistryError` line."""
    try:
        yield
    except ScifmError:
        raise
    except Exception as err:  # noqa: BLE001 - MLflow / SQLAlchemy / HTTP errors alike
        raise RegistryError(f"{what}: {_one_line(err)}") from None


def register_folder(*, model_dir: Path, run_dir: Path, name: str, uri: str | None,
                    experiment: str, description: str,
                    metrics: Mapping[str, Any] | None = None) -> ModelVersionRef:
    """Log ``model_dir`` as the ``model`` artifacts of a new MLflow run and register it as the
    next version of ``name`` (the registered model is created when missing).

    Parameters
    ----------
    model_dir, run_dir
        The run's ``model/`` folder and the run directory (tagged; its parent holds the default
        SQLite database, as for training runs).
    name
        Registered model name.
    uri
        Tracking / registry URI (None: ``$MLFLOW_TRACKING_URI``, else ``<run parent>/mlflow.db``).
    experiment
        MLflow experiment of the registering run.
    description
        The version's description (the model card).
    metrics
        ``{"test": ..., "val": ...}`` blocks of ``metrics.json``, logged on the run.

    Raises
    ------
    RegistryError
        The registry cannot be reached or refuses the model (one line).
    """
    if not _NAME.match(name):
        raise RegistryError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only "
                            "(the name goes into models:/NAME/VERSION)")
    tracking_uri = resolve_tracking_uri(uri, run_dir)
    with _registry_errors(f"cannot register {name!r} in {tracking_uri}"):
        import mlflow

        client = _client(tracking_uri)
        run = client.create_run(experiment_id(client, experiment, tracking_uri),
                                run_name=f"register-{run_dir.name}",
                                tags={"scifm.run_dir": str(run_dir.resolve()),
                                      "scifm.registered_model": name})
        run_id = run.info.run_id
        values = scalar_metrics(metrics or {}, "")
        client.log_batch(run_id, metrics=[mlflow.entities.Metric(k, v, 0, 0)
                                          for k, v in values.items()])
        client.log_artifacts(run_id, str(model_dir), artifact_path="model")
        client.set_terminated(run_id)
        _ensure_registered_model(client, name)
        mv = client.create_model_version(name, source=f"{run.info.artifact_uri}/model",
                                         run_id=run_id, description=fit_description(description),
                                         tags={"scifm.run_dir": str(run_dir.resolve())})
    logger.debug("registered %s version %s in %s", name, mv.version, tracking_uri)
    return ModelVersionRef(name, str(mv.version), tracking_uri, run_id)


def fit_description(card: str, limit: int = DESCRIPTION_LIMIT) -> str:
    """The card as a version description: without its YAML front matter (the metrics are in
    the table) and, when longer than ``limit``, cut at a section with a note (the whole card
    is ``README.md`` in the version's files)."""
    body = re.sub(r"\A---\n.*?\n---\n+", "", card, flags=re.S)
    if len(body) <= limit:
        return body
    note = "\n\n(cut short: the full card is README.md in this version's files)\n"
    cut = body[: limit - len(note)]
    section = cut.rfind("\n## ")
    return (cut[:section] if section > 0 else cut).rstrip() + note


def _ensure_registered_model(client: Any, name: str) -> None:
    """Create the registered model ``name`` unless it exists."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def cache_dir() -> Path:
    """Where fetched versions are kept: ``$SCIFM_CACHE_DIR/registry``, else
    ``$XDG_CACHE_HOME/scifm/registry`` (default ``~/.cache/scifm/registry``)."""
    if os.environ.get("SCIFM_CACHE_DIR"):
        return Path(os.environ["SCIFM_CACHE_DIR"]) / "registry"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scifm" / "registry"


def fetch_version(uri: str, tracking_uri: str | None = None) -> Path:
    """Fetch the registered version ``uri`` (``models:/NAME/VERSION``) into the cache; returns
    a run directory holding it as ``model/``.

    A version already fetched from the same registry and MLflow run is reused (a version's
    files never change; the manifest is checked at load anyway).

    Raises
    ------
    RegistryError
        A malformed URI, an unreachable registry, or no such model, version or alias.
    """
    name, version, alias = parse_models_uri(uri)
    where = registry_uri(tracking_uri)
    with _registry_errors(f"{uri} not found in the model registry {where}"):
        client = _client(where)
        mv = (client.get_model_version(name, version) if version is not None
              else client.get_model_version_by_alias(name, alias))
    key = hashlib.sha256(f"{where}\n{name}\n{mv.version}\n{mv.run_id}\n{mv.source}"
                         .encode()).hexdigest()[:16]
    run_dir = cache_dir() / f"{_safe(name)}-v{mv.version}-{key}"
    if (run_dir / "model").is_dir():
        return run_dir
    _download(mv.source, run_dir, f"{uri} ({where})")
    return run_dir


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]", "_", name)[:64]


def _download(source: str, run_dir: Path, what: str) -> None:
    """Download ``source`` into ``run_dir/model`` (staged beside it, renamed when complete)."""
    import mlflow

    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f".model.{uuid.uuid4().hex[:8]}.fetching"
    old = os.environ.get("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    try:
        with _registry_errors(f"cannot download {what}"):
            got = Path(mlflow.artifacts.download_artifacts(artifact_uri=source,
                                                           dst_path=str(tmp)))
        os.replace(got, run_dir / "model")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is None:
            os.environ.pop("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", None)
        else:
            os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = old
    logger.info("fetched %s into %s", what, run_dir)
