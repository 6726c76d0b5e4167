"""The estimator of the ``lightgbm`` family: multi-task gradient boosting on numeric features.

:class:`LGBMTaskModel` is a scikit-learn estimator on a numeric matrix (dense or CSR): one
LightGBM booster per task, each trained only on the rows where that task is labelled
(``NaN`` = missing), early-stopped on that task's labelled validation rows. Inside
:func:`~scifm.utils.deadline.fit_deadline` the fit checks the deadline before each task and
after every boosting round. The family's predictor is
:class:`~scifm.models.feature.FeaturePredictor` (featurizer + this estimator), which saves it
through :class:`~scifm.models.stores.BoosterStore` (LightGBM's text model format, no pickle).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import check_consistent_length, validate_data

from scifm.models.multitask import (
    TaskOutputsMixin,
    check_labels,
    loss_history,
    multiclass_count,
)
from scifm.utils import progress
from scifm.utils.deadline import check_deadline, keeps_best, lightgbm_callback, task_share

logger = logging.getLogger(__name__)

_OBJECTIVE = {"regression": "regression", "binary": "binary", "multiclass": "multiclass"}
_METRIC = {"regression": "l2", "binary": "binary_logloss", "multiclass": "multi_logloss"}


class LGBMTaskModel(TaskOutputsMixin, BaseEstimator):
    """One LightGBM booster per task on a numeric feature matrix; NaN labels are skipped.

    Parameters
    ----------
    task_type
        ``regression``, ``binary`` (labels 0/1, one or more tasks) or ``multiclass`` (one task of
        class indices ``0..n_classes-1``, one multiclass booster).
    n_classes
        Number of classes for ``multiclass`` (``None``: ``max(y) + 1``).
    n_estimators, learning_rate, num_leaves, min_child_samples, colsample_bytree, subsample, \
reg_lambda
        LightGBM's ``num_boost_round``, ``learning_rate``, ``num_leaves``, ``min_data_in_leaf``,
        ``feature_fraction``, ``bagging_fraction`` (bagging every round when < 1) and
        ``lambda_l2``.
    class_weight
        ``"balanced"`` weights classes inversely to their frequency (classification only).
    early_stopping_rounds
        Patience in rounds on the validation loss when ``X_val`` is given (``0`` or ``None``:
        train all rounds).
    n_jobs
        Threads; ``None`` or ``<= 0`` = OpenMP's default (all cores, or ``OMP_NUM_THREADS``).
    random_state
        Seed (int) or ``RandomState``; the same data and seed give identical predictions.

    Attributes
    ----------
    boosters_ : list of lightgbm.Booster
        One per task (one in total for multiclass).
    best_iterations_ : list of int
        Rounds used for prediction per booster (best validation round when early-stopped).
    history_ : list of dict
        About ten samples of the learning curve: ``{"round": round, "train_loss": ...,
        "val_loss": ...}``; losses (l2 / logloss) averaged over tasks.
    n_features_in_, n_tasks_, n_classes_
        Input width, number of target columns, number of classes (multiclass; else ``None``).
    """

    def __init__(
        self,
        task_type: Literal["regression", "binary", "multiclass"] = "regression",
        n_classes: int | None = None,
        n_estimators: int = 2000,
        learning_rate: float = 0.05,
        num_leaves: int = 31,
        min_child_samples: int = 10,
        colsample_bytree: float = 0.5,
        subsample: float = 0.8,
        reg_lambda: float = 1.0,
        class_weight: Literal["balanced"] | None = None,
        early_stopping_rounds: int | None = 100,
        n_jobs: int | None = 0,
        random_state: int | np.random.RandomState | None = None,
    ) -> None:
        self.task_type = task_type
        self.n_classes = n_classes
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.colsample_bytree = colsample_bytree
        self.subsample = subsample
        self.reg_lambda = reg_lambda
        self.class_weight = class_weight
        self.early_stopping_rounds = early_stopping_rounds
        self.n_jobs = n_jobs
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _check_params(self) -> None:
        if self.task_type not in _OBJECTIVE:
            raise ValueError(f"task_type must be one of {list(_OBJECTIVE)}, got {self.task_type!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        if int(self.n_estimators) < 1:
            raise ValueError("n_estimators must be >= 1")
        if not 0 < self.colsample_bytree <= 1 or not 0 < self.subsample <= 1:
            raise ValueError("colsample_bytree and subsample must be in (0, 1]")
        if self.learning_rate <= 0:
            raise ValueError("learning_rate must be > 0")

    def _lgb_params(self, seed: int) -> dict[str, Any]:
        params: dict[str, Any] = {
            "objective": _OBJECTIVE[self.task_type],
            "metric": _METRIC[self.task_type],
            "learning_rate": float(self.learning_rate),
            "num_leaves": int(self.num_leaves),
            "min_data_in_leaf": int(self.min_child_samples),
            "feature_fraction": float(self.colsample_bytree),
            "bagging_fraction": float(self.subsample),
            "bagging_freq": 1 if self.subsample < 1 else 0,
            "lambda_l2": float(self.reg_lambda),
            "num_threads": int(self.n_jobs) if self.n_jobs and self.n_jobs > 0 else 0,
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "feature_pre_filter": False,
            "verbose": -1,
        }
        if self.task_type == "multiclass":
            params["num_class"] = self.n_classes_
        return params

    def fit(
        self,
        X: Any,
        y: Any,
        X_val: Any | None = None,
        y_val: Any | None = None,
    ) -> LGBMTaskModel:
        """Train one booster per task on its labelled rows.

        Parameters
        ----------
        X : array-like or CSR of shape (n_samples, n_features)
            Features; NaN = missing value.
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            Labels; NaN = missing label (the row is left out for that task only).
        X_val, y_val
            Optional validation data of the same widths, for early stopping and ``history_``.

        Returns
        -------
        self
        """
        self._check_params()
        X = self._check_X(X, reset=True)
        y2 = check_labels(y, type(self).__name__)
        check_consistent_length(X, y2)
        self.output_1d_ = np.ndim(np.asarray(y)) == 1
        self.n_tasks_ = y2.shape[1]
        has_val = X_val is not None and y_val is not None
        if has_val:
            X_val = self._check_X(X_val, reset=False)
            y_val = check_labels(y_val, type(self).__name__)
            check_consistent_length(X_val, y_val)
            if y_val.shape[1] != self.n_tasks_:
                raise ValueError(f"y_val has {y_val.shape[1]} tasks, y has {self.n_tasks_}")
        self.n_classes_ = None
        if self.task_type == "multiclass":
            self.n_classes_ = multiclass_count(y2, self.n_classes)
        seed = int(check_random_state(self.random_state).randint(0, 2**31 - 1))
        params = self._lgb_params(seed)
        self.boosters_, self.best_iterations_, curves = [], [], []
        for j in range(self.n_tasks_):
            if not keeps_best():  # else each task fits in its share of the time (task_share)
                check_deadline(f"lightgbm task {j + 1}/{self.n_tasks_}")
            val = (X_val, y_val[:, j]) if has_val else None
            with task_share(j, self.n_tasks_):
                booster, best, curve = self._fit_task(j, X, y2[:, j], val, params)
            self.boosters_.append(booster)
            self.best_iterations_.append(best)
            curves.append(curve)
        self.history_ = loss_history(curves)
        return self

    def _fit_task(
        self,
        j: int,
        X: Any,
        y: np.ndarray,
        val: tuple[Any, np.ndarray] | None,
        params: dict[str, Any],
    ) -> tuple[lgb.Booster, int, dict[str, list[float]]]:
        rows = ~np.isnan(y)
        if not rows.any():
            raise ValueError(f"task {j} has no labelled training rows")
        y_j = y[rows]
        if self.task_type == "binary" and not np.isin(y_j, (0.0, 1.0)).all():
            raise ValueError(f"binary labels must be 0/1 (task {j})")
        weight = None
        if self.class_weight == "balanced" and self.task_type != "regression":
            weight = compute_sample_weight("balanced", y_j)
        if len(y_j) * self.subsample < 1:  # too few rows to bag: use them all
            params = {**params, "bagging_freq": 0}
        data_params = {"verbose": -1, "feature_pre_filter": False}
        train = lgb.Dataset(X if rows.all() else X[rows], label=y_j, weight=weight,
                            params=data_params)
        valid_sets, names = [train], ["train"]
        if val is not None and (vrows := ~np.isnan(val[1])).any():
            valid_sets.append(lgb.Dataset(val[0][vrows], label=val[1][vrows], reference=train,
                                          params=data_params))
            names.append("val")
        evals: dict[str, dict[str, list[float]]] = {}
        callbacks = [lgb.record_evaluation(evals)]
        if len(valid_sets) > 1 and self.early_stopping_rounds:
            callbacks.append(lgb.early_stopping(int(self.early_stopping_rounds),
                                                first_metric_only=True, verbose=False))
        with progress.track(f"lightgbm: boosting task {j + 1}", total=int(self.n_estimators),
                            unit="rounds", level=logging.DEBUG) as bar:
            callbacks.append(progress.lightgbm_callback(bar))
            if (stop := lightgbm_callback()) is not None:  # inside fit_deadline: cut a long run
                callbacks.append(stop)
            booster = lgb.train(params, train, num_boost_round=int(self.n_estimators),
                                valid_sets=valid_sets, valid_names=names, callbacks=callbacks)
        best = booster.best_iteration if booster.best_iteration > 0 else 0
        best = best or booster.current_iteration()
        booster.free_dataset()
        metric = params["metric"]
        curve = {name: list(evals.get(name, {}).get(metric, [])) for name in names}
        if stop is not None and stop.stopped is not None and curve.get("val"):
            best = int(np.argmin(curve["val"])) + 1  # cut by the time: its best round so far
            logger.info("lightgbm task %d: %d rounds when the time was up; best %d", j,
                        stop.stopped + 1, best)
        logger.debug("task %d: %d labelled rows, best iteration %d", j, rows.sum(), best)
        return booster, best, curve

    # --------------------------------------------------------------- prediction
    def _check_X(self, X: Any, reset: bool) -> Any:
        """Validate ``X`` (NaN allowed, CSR accepted) and set/check ``n_features_in_``."""
        X = validate_data(self, X, reset=reset, accept_sparse="csr",
                          dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")
        return sp.csr_matrix(X) if sp.issparse(X) and not isinstance(X, sp.csr_matrix) else X

    def _predict_tasks(self, X: Any) -> list[np.ndarray]:
        threads = int(self.n_jobs) if self.n_jobs and self.n_jobs > 0 else 0
        outs = [
            np.asarray(b.predict(X, num_iteration=it, num_threads=threads), dtype=np.float64)
            for b, it in zip(self.boosters_, self.best_iterations_, strict=True)
        ]
        if self.task_type == "multiclass":
            return [outs[0].reshape(X.shape[0], self.n_classes_)]
        return outs

    @classmethod
    def from_boosters(
        cls,
        boosters: Sequence[lgb.Booster],
        best_iterations: Sequence[int],
        n_classes: int | None = None,
        **params: Any,
    ) -> LGBMTaskModel:
        """A fitted model from saved boosters (always ``n x n_outputs`` predictions)."""
        model = cls(n_classes=n_classes, **params)
        model.boosters_ = list(boosters)
        model.best_iterations_ = [int(b) for b in best_iterations]
        model.n_features_in_ = boosters[0].num_feature()
        model.n_tasks_ = len(boosters)
        model.n_classes_ = n_classes if model.task_type == "multiclass" else None
        model.output_1d_ = False
        model.history_ = []
        return model
