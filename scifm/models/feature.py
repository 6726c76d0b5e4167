"""The feature-based families: featurizer + :class:`~scifm.models.estimators.TaskwiseEstimator`.

:class:`FeaturePredictor` implements :class:`~scifm.models.base.Predictor` for ``xgboost``,
``rf``, ``extratrees``, ``linear``, ``knn`` and ``svm``. Saved without pickle:

* ``scifm.json`` - family, modality, task, feature set, hyper-parameters, per-task classes;
* ``featurizer.json`` - the featurizer's config and fitted state (:mod:`scifm.featurizers`);
* ``xgboost``: ``xgb_<task>.json`` per task (XGBoost's native JSON model format);
* other families: ``estimators.skops`` - the per-task scikit-learn estimators in the ``skops``
  secure format. Loading refuses any type outside :data:`SKOPS_TRUSTED` plus the scikit-learn /
  numpy types skops trusts by default; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import ValidationError
from sklearn.exceptions import NotFittedError

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError, RunDirError
from scifm.featurizers import Featurizer, build_featurizer, featurizer_from_name
from scifm.models.base import MODEL_META
from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.models.registry import get_family
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

FEATURIZER_FILE = "featurizer.json"
SKOPS_FILE = "estimators.skops"

SKOPS_TRUSTED = [
    "numpy.dtype",
    "scifm.models.knn.KNNClassifier",
    "scifm.models.knn.KNNRegressor",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.tree._tree.Tree",
]
"""Types beyond skops' defaults that ``estimators.skops`` may hold (what our families produce)."""

def resolve_features(family: str, features: str, modality: str) -> str:
    """The concrete feature-set name of ``features``: ``auto`` is what the modality's plug-in
    gives ``family`` (``ModalitySpec.features_for``; e.g. fingerprints for Tanimoto kNN)."""
    if features != "auto":
        return features
    return MODALITIES.get(modality).features_for(family)


def resolve_params(family: str, features: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """``params`` plus data-dependent defaults (kNN: Tanimoto on fingerprints, else euclidean)."""
    out = dict(params or {})
    if family == "knn" and out.get("metric", "auto") == "auto":
        from scifm.featurizers.sets import is_fingerprint

        try:
            out["metric"] = "tanimoto" if is_fingerprint(features) else "euclidean"
        except ConfigError:  # legacy names such as ecfp+rdkit2d are not all fingerprints
            out["metric"] = "euclidean"
    return out


class FeaturePredictor:
    """Featurizer + per-task scikit-learn (or XGBoost) estimators.

    Parameters
    ----------
    family
        A registered feature-based family (``xgboost``, ``rf``, ``extratrees``, ``linear``,
        ``knn``, ``svm``).
    task
        What is predicted (shapes: :mod:`scifm.tasks`).
    modality
        ``smiles``, ``protein``, ``dna`` or ``text``.
    features
        Feature set (:mod:`scifm.featurizers.sets`) or ``auto``.
    params
        Hyper-parameters overriding the family's defaults (its typed section,
        :mod:`scifm.models.params`).
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
        params: dict[str, Any] | None = None,
        seed: int = 0,
        class_weight: Literal["balanced"] | None = None,
        n_jobs: int = 0,
    ) -> None:
        try:  # the family's typed section fills in defaults and refuses unknown keys
            typed = get_family(family).params.model_validate(dict(params or {}))
        except ValidationError as err:
            raise ConfigError(f"params.{family}: {err.errors()[0]['msg']} "
                              f"({'.'.join(map(str, err.errors()[0]['loc']))})") from None
        self.family = family
        self.task = task
        self.modality = modality
        self.features = resolve_features(family, features, modality)
        self.params = resolve_params(family, self.features, typed.model_dump())
        self.seed = seed
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.featurizer: Featurizer | None = None
        self.model: TaskwiseEstimator | None = None
        self.history_: list[dict[str, Any]] = []

    def estimator(self) -> TaskwiseEstimator:
        """A fresh unfitted estimator for numeric features (used by fit and by tuning)."""
        return TaskwiseEstimator(
            make_estimator(self.family, self.task.task_type, self.params, self.seed, self.n_jobs),
            task_type=self.task.task_type,
            n_classes=len(self.task.classes) if self.task.task_type == "multiclass" else None,
            class_weight=self.class_weight,
        )

    def _y(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if y.ndim != 2 or y.shape[1] != self.task.n_tasks:
            raise ValueError(f"y must have shape n x {self.task.n_tasks}, got {y.shape}")
        return y

    def fit(
        self,
        x_train: Sequence[str],
        y_train: np.ndarray,
        x_val: Sequence[str] | None = None,
        y_val: np.ndarray | None = None,
    ) -> FeaturePredictor:
        """Fit the featurizer on ``x_train``, then one estimator per task (early stopping on val
        where the family supports it)."""
        y_train = self._y(y_train)
        featurizer = featurizer_from_name(self.features, self.modality).fit(x_train)
        X = featurizer(x_train)
        logger.info("%s: %s features %s", self.family, self.features, X.shape)
        X_val = yv = None
        if x_val is not None and y_val is not None and len(x_val) > 0:
            X_val, yv = featurizer(x_val), self._y(y_val)
        self.model = self.estimator().fit(X, y_train, X_val, yv)
        self.featurizer = featurizer
        self.history_ = self.model.history_
        return self

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """Predictions of shape ``n x task.n_outputs`` (see :mod:`scifm.tasks`)."""
        if self.model is None or self.featurizer is None:
            raise NotFittedError("FeaturePredictor is not fitted")
        if len(x) == 0:
            return np.empty((0, self.task.n_outputs))
        pred = self.model.predict(self.featurizer(x))
        return pred.reshape(len(x), self.task.n_outputs)

    def save(self, path: Path) -> None:
        """Write ``featurizer.json``, the estimators and (last) ``scifm.json`` into ``path``."""
        if self.model is None or self.featurizer is None:
            raise NotFittedError("FeaturePredictor is not fitted")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path / FEATURIZER_FILE, self.featurizer.to_config())
        m = self.model
        if self.family == "xgboost":
            for j, est in enumerate(m.estimators_):
                if est is not None:
                    est.save_model(str(path / f"xgb_{j}.json"))
        else:
            import skops.io as sio

            sio.dump(m.estimators_, path / SKOPS_FILE)
        atomic_write_json(path / MODEL_META, {
            "family": self.family,
            "modality": self.modality,
            "task": self.task.to_dict(),
            "features": self.features,
            "params": self.params,
            "seed": self.seed,
            "class_weight": self.class_weight,
            "n_jobs": self.n_jobs,
            "n_features": int(m.n_features_in_),
            "classes_per_task": m.classes_per_task_,
            "constants": [None if c is None else c.tolist() for c in m.constants_],
            "has_estimator": [e is not None for e in m.estimators_],
            "history": self.history_,
        })

    @classmethod
    def load(cls, path: Path) -> FeaturePredictor:
        """Rebuild a saved predictor (no pickle); predictions equal the saved model's.

        Raises
        ------
        RunDirError
            A file is missing, unreadable, or holds untrusted types.
        """
        path = Path(path)
        meta = _read_json(path / MODEL_META)
        try:
            self = cls(family=meta["family"], task=TaskSpec.from_dict(meta["task"]),
                       modality=str(meta["modality"]), features=str(meta["features"]),
                       params=dict(meta["params"]), seed=int(meta.get("seed", 0)),
                       class_weight=meta.get("class_weight"), n_jobs=int(meta.get("n_jobs", 0)))
            has = [bool(h) for h in meta["has_estimator"]]
            classes = meta["classes_per_task"]
            constants = [None if c is None else np.asarray(c, dtype=np.float64)
                         for c in meta["constants"]]
            n_features = int(meta["n_features"])
        except (KeyError, TypeError, ValueError, ConfigError) as err:
            msg = " ".join(str(err).split())
            raise RunDirError(f"{path / MODEL_META} is not a valid feature model: {msg}") from None
        try:
            self.featurizer = build_featurizer(_read_json(path / FEATURIZER_FILE))
        except ConfigError as err:
            raise RunDirError(f"{path / FEATURIZER_FILE} is invalid: {err}") from err
        estimators = (self._load_xgboost(path, has) if self.family == "xgboost"
                      else _load_skops(path / SKOPS_FILE))
        if len(estimators) != len(has):
            raise RunDirError(f"{path}: {len(estimators)} estimators saved, {len(has)} expected")
        model = self.estimator()
        model.estimators_ = estimators
        model.classes_per_task_ = classes
        model.constants_ = constants
        model.n_features_in_ = n_features
        model.n_tasks_ = len(estimators)
        model.n_classes_ = (len(self.task.classes) if self.task.task_type == "multiclass"
                            else 2 if self.task.task_type == "binary" else None)
        model.output_1d_ = False
        model.history_ = list(meta.get("history") or [])
        self.model, self.history_ = model, model.history_
        return self

    def _load_xgboost(self, path: Path, has: list[bool]) -> list[Any]:
        import xgboost as xgb

        cls = xgb.XGBRegressor if self.task.task_type == "regression" else xgb.XGBClassifier
        out: list[Any] = []
        for j, present in enumerate(has):
            if not present:
                out.append(None)
                continue
            file = path / f"xgb_{j}.json"
            if not file.is_file():
                raise RunDirError(f"model file missing: {file}")
            est = cls()
            try:
                est.load_model(str(file))
            except (xgb.core.XGBoostError, ValueError, OSError) as err:
                raise RunDirError(f"cannot read XGBoost model {file}: {err}") from None
            out.append(est)
        return out


def _load_skops(file: Path) -> list[Any]:
    import skops.io as sio

    if not file.is_file():
        raise RunDirError(f"model file missing: {file}")
    try:
        untrusted = set(sio.get_untrusted_types(file=file)) - set(SKOPS_TRUSTED)
        if untrusted:
            raise RunDirError(f"{file} holds types scifm does not trust: {sorted(untrusted)}")
        return list(sio.load(file, trusted=SKOPS_TRUSTED))
    except RunDirError:
        raise
    except Exception as err:  # noqa: BLE001 - skops raises many kinds on a corrupt file
        raise RunDirError(f"cannot read {file}: {type(err).__name__}: {err}") from None


def _read_json(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunDirError(f"model file missing: {file}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RunDirError(f"cannot read {file}: {err}") from None
    if not isinstance(data, dict):
        raise RunDirError(f"{file} does not hold a JSON object")
    return data
