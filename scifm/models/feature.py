"""The feature-based families: a featurizer + an estimator on the numeric features.

:class:`FeaturePredictor` implements :class:`~scifm.models.base.Predictor` for every feature-based
family: ``lightgbm``, ``xgboost``, ``rf``, ``extratrees``, ``linear``, ``knn`` and ``svm``. What
differs per family (how the estimator is built from the typed parameters, how it is saved and
loaded) is its store (:mod:`scifm.models.stores`). Saved without pickle:

* ``scifm.json`` - family, modality, task, feature set, hyper-parameters, seed, threads, history
  and the store's entries (e.g. LightGBM's best iterations, per-task classes);
* ``featurizer.json`` - the featurizer's config and fitted state (:mod:`scifm.featurizers`);
* the estimator's files (``booster_<task>.txt``, ``xgb_<task>.json`` or ``estimators.skops``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError
from sklearn.exceptions import NotFittedError

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError, RunDirError
from scifm.featurizers import Featurizer, build_featurizer, featurize, featurizer_from_name
from scifm.models.base import MODEL_META, read_model_json
from scifm.models.manifest import staged_folder
from scifm.models.registry import get_family
from scifm.models.stores import store_for
from scifm.tasks import TaskSpec
from scifm.utils import progress
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

FEATURIZER_FILE = "featurizer.json"


def resolve_features(family: str, features: str, modality: str) -> str:
    """The concrete feature-set name of ``features``: ``auto`` is what the modality's plug-in
    gives ``family`` (``ModalitySpec.features_for``; e.g. fingerprints for Tanimoto kNN)."""
    if features != "auto":
        return features
    return MODALITIES.get(modality).features_for(family)


def resolve_params(family: str, features: str, params: BaseModel) -> BaseModel:
    """``params`` with data-dependent defaults filled in (kNN: Tanimoto on fingerprints, else
    euclidean)."""
    if family != "knn" or getattr(params, "metric", "auto") != "auto":
        return params
    from scifm.featurizers.sets import is_fingerprint

    try:
        metric = "tanimoto" if is_fingerprint(features) else "euclidean"
    except ConfigError:  # legacy names such as ecfp+rdkit2d are not all fingerprints
        metric = "euclidean"
    return params.model_copy(update={"metric": metric})


def typed_params(family: str, params: BaseModel | dict[str, Any] | None) -> BaseModel:
    """``params`` as ``family``'s typed section (defaults filled in, unknown keys refused).

    Raises
    ------
    ConfigError
        A value or key the section refuses.
    """
    section = get_family(family).params
    if isinstance(params, section):
        return params
    try:
        return section.model_validate(dict(params or {}))
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"params.{family}: {first['msg']} "
                          f"({'.'.join(map(str, first['loc']))})") from None


class FeaturePredictor:
    """Featurizer + an estimator on numeric features (the family's store builds it).

    Parameters
    ----------
    family
        A registered feature-based family (``lightgbm``, ``xgboost``, ``rf``, ``extratrees``,
        ``linear``, ``knn``, ``svm``).
    task
        What is predicted (shapes: :mod:`scifm.tasks`).
    modality
        The input modality; with ``features`` it picks the featurizer
        (:func:`scifm.featurizers.featurizer_from_name`).
    features
        Feature set (:mod:`scifm.featurizers.sets`) or ``auto`` (the modality's choice).
    params
        Hyper-parameters: the family's typed section (:mod:`scifm.models.params`) or a dict of
        overrides of its defaults.
    seed
        ``random_state`` of the estimators.
    class_weight
        ``"balanced"`` weights classes inversely to frequency where the estimator allows it.
    n_jobs
        Threads (``<= 0``: all cores).
    """

    def __init__(
        self,
        family: str,
        task: TaskSpec,
        modality: str,
        features: str = "auto",
        params: BaseModel | dict[str, Any] | None = None,
        seed: int = 0,
        class_weight: Literal["balanced"] | None = None,
        n_jobs: int = 0,
    ) -> None:
        self.family = family
        self.task = task
        self.modality = modality
        self.features = resolve_features(family, features, modality)
        self.params = resolve_params(family, self.features, typed_params(family, params))
        self.seed = seed
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.featurizer: Featurizer | None = None
        self.model: Any = None
        self.history_: list[dict[str, Any]] = []

    def estimator(self) -> Any:
        """A fresh unfitted estimator for numeric features (used by fit and by tuning)."""
        return store_for(self.family).build(self.family, self.task, self.params, self.seed,
                                            self.class_weight, self.n_jobs)

    def _y(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[1] != self.task.n_tasks:
            raise ValueError(f"y must have shape n x {self.task.n_tasks}, got {y.shape}")
        return y

    def fit(self, x_train: Sequence[str], y_train: np.ndarray, x_val: Sequence[str] | None = None,
            y_val: np.ndarray | None = None) -> FeaturePredictor:
        """Fit the featurizer on ``x_train``, then the estimator (early stopping on val where the
        family supports it); progress bars for featurising and fitting."""
        y_train = self._y(y_train)
        what = MODALITIES.get(self.modality).label
        featurizer = featurizer_from_name(self.features, self.modality).fit(x_train)
        X = featurize(featurizer, x_train, what=what)
        logger.info("%s: %s features %s", self.family, self.features, X.shape)
        X_val = yv = None
        if x_val is not None and y_val is not None and len(x_val) > 0:
            X_val, yv = featurize(featurizer, x_val, what=what), self._y(y_val)
        with progress.track(f"{self.family}: fitting on {X.shape[0]:,} rows",
                            level=logging.DEBUG):
            self.model = self.estimator().fit(X, y_train, X_val, yv)
        self.featurizer = featurizer
        self.history_ = self.model.history_
        return self

    def _check_fitted(self) -> None:
        if self.model is None or self.featurizer is None:
            raise NotFittedError(f"{type(self).__name__} is not fitted")

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """Predictions of shape ``n x task.n_outputs`` (see :mod:`scifm.tasks`)."""
        self._check_fitted()
        if len(x) == 0:
            return np.empty((0, self.task.n_outputs))
        X = featurize(self.featurizer, x, what=MODALITIES.get(self.modality).label,
                      level=logging.DEBUG)
        pred = self.model.predict(X)
        return pred.reshape(len(x), self.task.n_outputs)

    def save(self, path: Path) -> None:
        """Write ``featurizer.json``, the estimator's files and ``scifm.json`` into a staged
        folder that replaces ``path`` as a whole, with its manifest
        (:func:`~scifm.models.manifest.staged_folder`)."""
        self._check_fitted()
        with staged_folder(Path(path)) as tmp:
            self._write(tmp)

    def _write(self, path: Path) -> None:
        atomic_write_json(path / FEATURIZER_FILE, self.featurizer.to_config())
        entries = store_for(self.family).save(self.model, path)
        atomic_write_json(path / MODEL_META, {
            "family": self.family,
            "modality": self.modality,
            "task": self.task.to_dict(),
            "features": self.features,
            "params": self.params.model_dump(mode="json"),
            "seed": self.seed,
            "class_weight": self.class_weight,
            "n_jobs": self.n_jobs,
            **entries,
            "history": self.history_,
        })

    @classmethod
    def load(cls, path: Path) -> FeaturePredictor:
        """Rebuild a saved predictor (no pickle); predictions equal the saved model's.

        Raises
        ------
        RunDirError
            A file is missing, unreadable, invalid, or holds untrusted types.
        """
        path = Path(path)
        meta = read_model_json(path / MODEL_META)
        family = str(meta.get("family"))
        store = store_for(family)
        meta = store.upgrade(meta)
        try:
            self = cls(family=family, task=TaskSpec.from_dict(meta["task"]),
                       modality=str(meta["modality"]), features=str(meta["features"]),
                       params=dict(meta["params"]), seed=int(meta.get("seed", 0)),
                       class_weight=meta.get("class_weight"), n_jobs=int(meta.get("n_jobs", 0)))
            state = store.read_state(meta)
        except (KeyError, TypeError, ValueError, AttributeError, ConfigError) as err:
            msg = " ".join(str(err).split())
            raise RunDirError(f"{path / MODEL_META} is not a valid {family} model: {msg}") from None
        try:
            self.featurizer = build_featurizer(read_model_json(path / FEATURIZER_FILE))
        except ConfigError as err:
            raise RunDirError(f"{path / FEATURIZER_FILE} is invalid: {err}") from err
        self.model = store.load(self.estimator(), path, state)
        self.history_ = self.model.history_ = list(meta.get("history") or [])
        return self
