"""The LightGBM model family: featurizer + :class:`~scifm.models.baselines.LGBMTaskModel`.

Saved without pickle: ``featurizer.json`` (featurizer config and fitted state), one
``booster_<task>.txt`` per task (LightGBM's text format) and ``scifm.json``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
from sklearn.exceptions import NotFittedError

from scifm.errors import ConfigError, RunDirError
from scifm.featurizers import Featurizer, build_featurizer, featurizer_from_name
from scifm.models.base import MODEL_META
from scifm.models.baselines import LGBMTaskModel
from scifm.models.params import LightGBMParams
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)


FEATURIZER_FILE = "featurizer.json"


def _booster_file(j: int) -> str:
    return f"booster_{j}.txt"


class LightGBMPredictor:
    """Featurizer + :class:`LGBMTaskModel`: the ``lightgbm`` family of scifm.

    Parameters
    ----------
    task
        What is predicted (shapes of ``y`` and of the predictions: :mod:`scifm.tasks`).
    modality
        The input modality; with ``features`` picks the featurizer
        (:func:`scifm.featurizers.featurizer_from_name`).
    params
        LightGBM hyper-parameters (``params.lightgbm``).
    features
        Feature set (``model.features``; ``auto``: the modality's default).
    seed
        ``random_state`` of the boosters.
    class_weight
        ``"balanced"`` to weight classes inversely to frequency (``ModelConfig.class_weight``).
    n_jobs
        Threads (``model.n_jobs``; 0 = all cores).
    """

    family = "lightgbm"

    def __init__(
        self,
        task: TaskSpec,
        modality: str,
        params: LightGBMParams,
        features: str = "auto",
        seed: int = 0,
        class_weight: Literal["balanced"] | None = None,
        n_jobs: int = 0,
    ) -> None:
        self.task = task
        self.modality = modality
        self.params = params
        self.features = features
        self.seed = seed
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.featurizer: Featurizer | None = None
        self.model: LGBMTaskModel | None = None
        self.history_: list[dict[str, Any]] = []

    def estimator(self) -> LGBMTaskModel:
        """A fresh unfitted estimator for numeric features (used by fit and by tuning)."""
        c = self.params
        return LGBMTaskModel(
            task_type=self.task.task_type,
            n_classes=len(self.task.classes) if self.task.task_type == "multiclass" else None,
            n_estimators=c.n_estimators,
            learning_rate=c.learning_rate,
            num_leaves=c.num_leaves,
            min_child_samples=c.min_child_samples,
            colsample_bytree=c.colsample_bytree,
            subsample=c.subsample,
            reg_lambda=c.reg_lambda,
            class_weight=self.class_weight,
            early_stopping_rounds=c.early_stopping_rounds,
            n_jobs=self.n_jobs,
            random_state=self.seed,
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
    ) -> LightGBMPredictor:
        """Fit the featurizer on ``x_train``, then the boosters (early-stopped on val)."""
        y_train = self._y(y_train)
        featurizer = featurizer_from_name(self.features, self.modality).fit(x_train)
        X = featurizer(x_train)
        logger.info("lightgbm: %s features %s", featurizer.name, X.shape)
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
            raise NotFittedError("LightGBMPredictor is not fitted")
        if len(x) == 0:
            return np.empty((0, self.task.n_outputs))
        return self.model.predict(self.featurizer(x))

    def save(self, path: Path) -> None:
        """Write ``featurizer.json``, ``booster_<j>.txt`` and (last) ``scifm.json`` in ``path``."""
        if self.model is None or self.featurizer is None:
            raise NotFittedError("LightGBMPredictor is not fitted")
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path / FEATURIZER_FILE, self.featurizer.to_config())
        for j, (booster, best) in enumerate(
            zip(self.model.boosters_, self.model.best_iterations_, strict=True)
        ):
            atomic_write_text(path / _booster_file(j), booster.model_to_string(num_iteration=best))
        atomic_write_json(path / MODEL_META, {
            "family": self.family,
            "modality": self.modality,
            "task": self.task.to_dict(),
            "params": self.params.model_dump(mode="json"),
            "features": self.features,
            "n_jobs": self.n_jobs,
            "class_weight": self.class_weight,
            "best_iterations": list(self.model.best_iterations_),
            "seed": self.seed,
            "history": self.history_,
        })

    @classmethod
    def load(cls, path: Path) -> LightGBMPredictor:
        """Rebuild a saved predictor (no pickle); predictions equal the saved model's.

        Raises
        ------
        RunDirError
            A file is missing or unreadable.
        """
        path = Path(path)
        meta = _read_json(path / MODEL_META)
        try:
            if meta.get("family") != cls.family:
                raise ValueError(f"family is {meta.get('family')!r}, not 'lightgbm'")
            if "lightgbm" in meta:  # saved before the family registry: one section
                legacy = dict(meta["lightgbm"])
                meta = {**meta, "features": legacy.pop("features", "auto"),
                        "n_jobs": legacy.pop("n_jobs", 0), "params": legacy}
            self = cls(
                task=TaskSpec.from_dict(meta["task"]),
                modality=str(meta["modality"]),
                params=LightGBMParams.model_validate(meta["params"]),
                features=str(meta["features"]),
                seed=int(meta.get("seed", 0)),
                class_weight=meta.get("class_weight"),
                n_jobs=int(meta.get("n_jobs", 0)),
            )
            best = [int(b) for b in meta["best_iterations"]]
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            msg = " ".join(str(err).split())
            raise RunDirError(f"{path / MODEL_META} is not a valid lightgbm model: {msg}") from None
        try:
            featurizer = build_featurizer(_read_json(path / FEATURIZER_FILE))
        except ConfigError as err:
            raise RunDirError(f"{path / FEATURIZER_FILE} is invalid: {err}") from err
        boosters = []
        for j in range(len(best)):
            file = path / _booster_file(j)
            try:
                boosters.append(lgb.Booster(model_str=file.read_text(encoding="utf-8")))
            except FileNotFoundError:
                raise RunDirError(f"model file missing: {file}") from None
            except (lgb.basic.LightGBMError, OSError, UnicodeDecodeError) as err:
                raise RunDirError(f"cannot read LightGBM model {file}: {err}") from None
        if not boosters:
            raise RunDirError(f"{path / MODEL_META} lists no boosters")
        est = self.estimator()
        params = {k: v for k, v in est.get_params().items() if k != "n_classes"}
        self.model = LGBMTaskModel.from_boosters(boosters, best, n_classes=est.n_classes,
                                                 **params)
        self.featurizer = featurizer
        self.history_ = list(meta.get("history") or [])
        return self


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
