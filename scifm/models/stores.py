"""What differs between the feature-based families: how the estimator is built, saved and loaded.

:class:`~scifm.models.feature.FeaturePredictor` is written once (featurizer + an estimator on
numeric features); each family's estimator goes through one *store*, chosen by family
(:func:`store_for`):

* :class:`BoosterStore` (``lightgbm``): :class:`~scifm.models.baselines.LGBMTaskModel`, saved as
  one ``booster_<task>.txt`` per task (LightGBM's text format) plus ``best_iterations`` in
  ``scifm.json``;
* :class:`XGBoostStore` (``xgboost``): :class:`~scifm.models.estimators.TaskwiseEstimator` of
  XGBoost models, one ``xgb_<task>.json`` per task (XGBoost's native JSON format);
* :class:`SkopsStore` (every other family: ``rf``, ``extratrees``, ``linear``, ``knn``, ``svm``):
  a :class:`~scifm.models.estimators.TaskwiseEstimator` whose per-task scikit-learn estimators are
  saved in ``estimators.skops``, the ``skops`` secure format. Loading refuses any type outside
  :data:`SKOPS_TRUSTED` plus the scikit-learn / numpy types skops trusts by default.

Nothing is ever pickled or unpickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from scifm.errors import RunDirError
from scifm.models.base import MODEL_META
from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_write_text

__all__ = ["DEFAULT_STORE", "SKOPS_FILE", "SKOPS_TRUSTED", "STORES", "BoosterStore",
           "EstimatorStore", "SkopsStore", "TaskwiseStore", "XGBoostStore", "load_skops",
           "n_classes", "store_for"]

SKOPS_FILE = "estimators.skops"
SKOPS_TRUSTED = [
    "numpy.dtype",
    "scifm.models.clipping.Clip",
    "scifm.models.knn.KNNClassifier",
    "scifm.models.knn.KNNRegressor",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.tree._tree.Tree",
]
"""Types beyond skops' defaults that ``estimators.skops`` may hold (what our families produce)."""

ClassWeight = Literal["balanced"] | None


def n_classes(task: TaskSpec) -> int | None:
    """Number of classes of a multiclass task (None for other task types)."""
    return len(task.classes) if task.task_type == "multiclass" else None


class EstimatorStore:
    """How one family's estimator is built from its typed parameters, saved and loaded.

    Subclasses implement :meth:`build`, :meth:`save`, :meth:`read_state` and :meth:`load`;
    :meth:`upgrade` rewrites an older ``scifm.json`` layout (default: unchanged).
    """

    def build(self, family: str, task: TaskSpec, params: BaseModel, seed: int,
              class_weight: ClassWeight, n_jobs: int) -> Any:
        """A fresh unfitted estimator on numeric features, ``fit(X, y, X_val, y_val)``."""
        raise NotImplementedError

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """Write the fitted ``model``'s files into ``path``; return its ``scifm.json`` entries."""
        raise NotImplementedError

    def read_state(self, meta: dict[str, Any]) -> Any:
        """The store's entries of ``scifm.json`` (KeyError / TypeError / ValueError if invalid)."""
        raise NotImplementedError

    def load(self, model: Any, path: Path, state: Any) -> Any:
        """The fitted estimator: ``model`` (fresh, from :meth:`build`) given the saved state.

        Raises
        ------
        RunDirError
            A file is missing, unreadable or holds untrusted types.
        """
        raise NotImplementedError

    def upgrade(self, meta: dict[str, Any]) -> dict[str, Any]:
        """``meta`` in the current layout (older layouts are rewritten)."""
        return meta


class BoosterStore(EstimatorStore):
    """``lightgbm``: :class:`~scifm.models.baselines.LGBMTaskModel`, ``booster_<j>.txt`` files."""

    def build(self, family: str, task: TaskSpec, params: BaseModel, seed: int,
              class_weight: ClassWeight, n_jobs: int) -> Any:
        """An unfitted :class:`~scifm.models.baselines.LGBMTaskModel` (``params.lightgbm``)."""
        from scifm.models.baselines import LGBMTaskModel

        return LGBMTaskModel(task_type=task.task_type, n_classes=n_classes(task),
                             **params.model_dump(), class_weight=class_weight, n_jobs=n_jobs,
                             random_state=seed)

    @staticmethod
    def file(j: int) -> str:
        """File name of the booster of task ``j``."""
        return f"booster_{j}.txt"

    def save(self, model: Any, path: Path) -> dict[str, Any]:
        """One ``booster_<j>.txt`` per task, cut at its best iteration."""
        for j, (booster, best) in enumerate(
            zip(model.boosters_, model.best_iterations_, strict=True)
        ):
            atomic_write_text(path / self.file(j), booster.model_to_string(num_iteration=best))
        return {"best_iterations": list(model.best_iterations_)}

    def read_state(self, meta: dict[str, Any]) -> list[int]:
        """The best iteration of each booster."""
        return [int(b) for b in meta["best_iterations"]]

    def load(self, model: Any, path: Path, state: list[int]) -> Any:
        """An :class:`~scifm.models.baselines.LGBMTaskModel` from its saved boosters."""
        import lightgbm as lgb

        boosters = []
        for j in range(len(state)):
            file = path / self.file(j)
            try:
                boosters.append(lgb.Booster(model_str=file.read_text(encoding="utf-8")))
            except FileNotFoundError:
                raise RunDirError(f"model file missing: {file}") from None
            except (lgb.basic.LightGBMError, OSError, UnicodeDecodeError) as err:
                raise RunDirError(f"cannot read LightGBM model {file}: {err}") from None
        if not boosters:
            raise RunDirError(f"{path / MODEL_META} lists no boosters")
        params = {k: v for k, v in model.get_params().items() if k != "n_classes"}
        return type(model).from_boosters(boosters, state, n_classes=model.n_classes, **params)

    def upgrade(self, meta: dict[str, Any]) -> dict[str, Any]:
        """A ``scifm.json`` saved before the family registry held one ``lightgbm`` section."""
        if not isinstance(meta.get("lightgbm"), dict):
            return meta
        legacy = dict(meta["lightgbm"])
        return {**meta, "features": legacy.pop("features", "auto"),
                "n_jobs": legacy.pop("n_jobs", 0), "params": legacy}


class TaskwiseStore(EstimatorStore):
    """A :class:`~scifm.models.estimators.TaskwiseEstimator` of the family's scikit-learn (or
    XGBoost) estimator; subclasses say how the per-task estimators are written and read."""

    def build(self, family: str, task: TaskSpec, params: BaseModel, seed: int,
              class_weight: ClassWeight, n_jobs: int) -> TaskwiseEstimator:
        """An unfitted :class:`TaskwiseEstimator` of :func:`make_estimator`'s estimator."""
        return TaskwiseEstimator(
            make_estimator(family, task.task_type, params.model_dump(), seed, n_jobs),
            task_type=task.task_type, n_classes=n_classes(task), class_weight=class_weight)

    def save(self, model: TaskwiseEstimator, path: Path) -> dict[str, Any]:
        """The per-task estimators, and what else the wrapper learned, for ``scifm.json``."""
        self.write(model.estimators_, path)
        return {
            "n_features": int(model.n_features_in_),
            "classes_per_task": model.classes_per_task_,
            "constants": [None if c is None else c.tolist() for c in model.constants_],
            "has_estimator": [e is not None for e in model.estimators_],
        }

    def read_state(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Per-task presence, classes and constants, and the input width."""
        return {
            "has": [bool(h) for h in meta["has_estimator"]],
            "classes": meta["classes_per_task"],
            "constants": [None if c is None else np.asarray(c, dtype=np.float64)
                          for c in meta["constants"]],
            "n_features": int(meta["n_features"]),
        }

    def load(self, model: TaskwiseEstimator, path: Path, state: dict[str, Any],
             ) -> TaskwiseEstimator:
        """``model`` with the saved per-task estimators and the wrapper's fitted state."""
        estimators = self.read(path, state["has"], model.task_type)
        if len(estimators) != len(state["has"]):
            raise RunDirError(f"{path}: {len(estimators)} estimators saved, "
                              f"{len(state['has'])} expected")
        model.estimators_ = estimators
        model.classes_per_task_ = state["classes"]
        model.constants_ = state["constants"]
        model.n_features_in_ = state["n_features"]
        model.n_tasks_ = len(estimators)
        model.n_classes_ = (model.n_classes if model.task_type == "multiclass"
                            else 2 if model.task_type == "binary" else None)
        model.output_1d_ = False
        return model

    def write(self, estimators: list[Any], path: Path) -> None:
        """Write the per-task estimators (None where a task was constant)."""
        raise NotImplementedError

    def read(self, path: Path, has: list[bool], task_type: str) -> list[Any]:
        """Read the per-task estimators back (None where ``has`` is False)."""
        raise NotImplementedError


class XGBoostStore(TaskwiseStore):
    """``xgboost``: one ``xgb_<j>.json`` per task (XGBoost's native JSON model format)."""

    @staticmethod
    def file(j: int) -> str:
        """File name of the model of task ``j``."""
        return f"xgb_{j}.json"

    def write(self, estimators: list[Any], path: Path) -> None:
        """``xgb_<j>.json`` for each task that has a model."""
        for j, est in enumerate(estimators):
            if est is not None:
                est.save_model(str(path / self.file(j)))

    def read(self, path: Path, has: list[bool], task_type: str) -> list[Any]:
        """The XGBoost models of the tasks that have one."""
        import xgboost as xgb

        cls = xgb.XGBRegressor if task_type == "regression" else xgb.XGBClassifier
        out: list[Any] = []
        for j, present in enumerate(has):
            if not present:
                out.append(None)
                continue
            file = path / self.file(j)
            if not file.is_file():
                raise RunDirError(f"model file missing: {file}")
            est = cls()
            try:
                est.load_model(str(file))
            except (xgb.core.XGBoostError, ValueError, OSError) as err:
                raise RunDirError(f"cannot read XGBoost model {file}: {err}") from None
            out.append(est)
        return out


class SkopsStore(TaskwiseStore):
    """scikit-learn families: every per-task estimator in one ``estimators.skops``."""

    def write(self, estimators: list[Any], path: Path) -> None:
        """``estimators.skops`` (the list, None for constant tasks)."""
        import skops.io as sio

        sio.dump(estimators, path / SKOPS_FILE)

    def read(self, path: Path, has: list[bool], task_type: str) -> list[Any]:
        """The list saved in ``estimators.skops`` (trusted types only)."""
        return load_skops(path / SKOPS_FILE)


def load_skops(file: Path) -> list[Any]:
    """The list of estimators in a ``.skops`` file, refusing types outside the trusted ones.

    Raises
    ------
    RunDirError
        The file is missing, unreadable or holds an untrusted type.
    """
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


STORES: dict[str, EstimatorStore] = {"lightgbm": BoosterStore(), "xgboost": XGBoostStore()}
"""The store of each family that is not saved with skops."""
DEFAULT_STORE: EstimatorStore = SkopsStore()
"""The store of every other (scikit-learn) family."""


def store_for(family: str) -> EstimatorStore:
    """The store of ``family`` (:data:`DEFAULT_STORE` unless :data:`STORES` names one)."""
    return STORES.get(family, DEFAULT_STORE)
