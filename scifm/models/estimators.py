"""scikit-learn estimators of the feature-based families, behind one per-task wrapper.

* :class:`TaskwiseEstimator` - the scifm label conventions (:mod:`scifm.tasks`) for *any*
  single-output scikit-learn estimator: one clone per target column, fitted on that column's
  labelled rows (NaN = missing); classifiers see labels re-encoded to the classes present, and
  :meth:`~TaskwiseEstimator.predict` returns scifm's shapes (regression values, positive-class
  probabilities, or ``n x n_classes`` probabilities). A task with a single class present is
  predicted as that constant. Several tasks of a family with a native multi-output model (kNN;
  forests on unweighted binary tasks) are fitted as *one* model (:mod:`scifm.models.joint`).
  Between two tasks the fit checks the deadline of :func:`~scifm.utils.deadline.fit_deadline`;
  a kernel machine (SVM), whose fit nothing can stop, is given up before a task whose estimated
  time (:mod:`scifm.models.kernel_budget`) exceeds the time left.
  Early stopping on a validation set is used when the inner estimator has an
  ``early_stopping_rounds`` parameter (XGBoost).

The inner estimator of each family (:func:`~scifm.models.sklearn_families.make_estimator`) is built
in :mod:`scifm.models.sklearn_families` (re-exported here).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Literal

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline
from sklearn.utils import get_tags
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.validation import (
    check_consistent_length,
    validate_data,
)

from scifm.models.joint import (
    fit_joint,
    grow,
    joint_estimator,
    joint_targets,
    masks_labels,
    n_outputs,
)
from scifm.models.kernel_budget import kernel_fit_seconds
from scifm.models.multitask import (
    TaskOutputsMixin,
    check_labels,
    loss_history,
    multiclass_count,
)
from scifm.models.pipeline_steps import final_step, step_param
from scifm.models.sklearn_families import make_estimator
from scifm.tasks import TaskType
from scifm.utils.deadline import (
    TimeUp,
    check_deadline,
    keeps_best,
    seconds_left,
    task_share,
    xgboost_callback,
)

__all__ = ["TaskwiseEstimator", "make_estimator"]

logger = logging.getLogger(__name__)


def _imputes(est: BaseEstimator) -> bool:
    """Whether ``est`` (or the estimator it calibrates) is a pipeline that imputes first."""
    est = getattr(est, "estimator", None) or est
    return isinstance(est, Pipeline) and type(est.steps[0][1]).__name__ == "SimpleImputer"


def _fit_accepts(est: BaseEstimator, name: str) -> str | None:
    """The fit keyword routing ``name`` to ``est`` (``model__name`` for a pipeline), or None."""
    final = final_step(est)
    try:
        params = inspect.signature(final.fit).parameters
    except (TypeError, ValueError):
        return None
    if name not in params:
        return None
    return step_param(est, name)


class TaskwiseEstimator(TaskOutputsMixin, BaseEstimator):
    """One clone of ``estimator`` per task, each fitted on that task's labelled rows.

    Parameters
    ----------
    estimator
        A single-output scikit-learn regressor (``regression``) or classifier with
        ``predict_proba`` (``binary`` / ``multiclass``); default: ``Ridge`` / logistic regression.
    task_type
        ``regression``, ``binary`` (0/1 labels, one or more tasks) or ``multiclass`` (one task of
        class indices ``0..n_classes-1``).
    n_classes
        Number of classes for ``multiclass`` (``None``: ``max(y) + 1``).
    class_weight
        ``"balanced"``: sample weights inversely proportional to class frequency, passed as
        ``sample_weight`` where the estimator's ``fit`` takes it (classification only).
    multi_output
        With several ``regression`` / ``binary`` tasks, fit *one* native multi-output model
        instead of one clone per task (:mod:`scifm.models.joint`): ``"auto"`` where it was
        measured no worse (kNN; forests on binary tasks without ``class_weight``), ``True``
        wherever the family has one, ``False`` never.

    Attributes
    ----------
    estimators_ : list
        Fitted clone per task; ``None`` where a task had a single class (see ``constants_``).
        A joint multi-output model is ``estimators_[0]`` (its ``n_outputs_`` is ``n_tasks_``)
        and the other entries are ``None``.
    classes_per_task_ : list of list of int or None
        Class indices present in each task's training labels (classification).
    constants_ : list of ndarray or None
        Prediction row of a single-class task.
    history_ : list of dict
        Train/val loss curve when the estimator records one (XGBoost with validation data).
    n_features_in_, n_tasks_, n_classes_
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        task_type: TaskType = "regression",
        n_classes: int | None = None,
        class_weight: Literal["balanced"] | None = None,
        multi_output: bool | Literal["auto"] = "auto",
    ) -> None:
        self.estimator = estimator
        self.task_type = task_type
        self.n_classes = n_classes
        self.class_weight = class_weight
        self.multi_output = multi_output

    def _input_tags(self) -> tuple[bool, bool]:
        inner = get_tags(self._inner())
        return inner.input_tags.allow_nan or _imputes(self._inner()), inner.input_tags.sparse

    def _inner(self) -> BaseEstimator:
        if self.estimator is not None:
            return self.estimator
        from sklearn.linear_model import LogisticRegression, Ridge

        return Ridge() if self.task_type == "regression" else LogisticRegression()

    def _check_X(self, X: Any, reset: bool) -> Any:
        return validate_data(self, X, reset=reset, accept_sparse="csr",
                             dtype=[np.float64, np.float32], ensure_all_finite="allow-nan")

    def fit(self, X: Any, y: Any, X_val: Any | None = None,
            y_val: Any | None = None) -> TaskwiseEstimator:
        """Fit one clone per task on its labelled rows.

        Parameters
        ----------
        X : array-like or CSR of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_tasks)
            NaN = missing label (that row is left out for that task only).
        X_val, y_val
            Optional validation data, used for early stopping when the estimator supports it.

        Returns
        -------
        self
        """
        if self.task_type not in ("regression", "binary", "multiclass"):
            raise ValueError(f"unknown task_type {self.task_type!r}")
        if self.class_weight not in (None, "balanced"):
            raise ValueError(f"class_weight must be None or 'balanced', got {self.class_weight!r}")
        X = self._check_X(X, reset=True)
        y2 = check_labels(y, type(self).__name__)
        check_consistent_length(X, y2)
        self.output_1d_ = np.ndim(np.asarray(y)) == 1
        self.n_tasks_ = y2.shape[1]
        val = None
        if X_val is not None and y_val is not None:
            val = (self._check_X(X_val, reset=False), check_labels(y_val, type(self).__name__))
            check_consistent_length(*val)
        self.n_classes_ = self._n_classes(y2)
        joint = self._joint()
        if joint is not None and self.n_tasks_ > 1:
            return self._fit_joint(joint, X, y2)
        self.estimators_, self.classes_per_task_, self.constants_ = [], [], []
        curves = []
        per_task = kernel_fit_seconds(self._inner(), X, y2[:, 0])  # under a deadline only
        for j in range(self.n_tasks_):
            if not keeps_best():  # else each task fits in its share of the time (task_share)
                check_deadline(f"task {j + 1}/{self.n_tasks_}")
            if per_task is not None and per_task > (left := seconds_left() or 0.0):
                raise TimeUp(f"task {j + 1}/{self.n_tasks_}: a kernel fit on {X.shape[0]} "
                             f"rows would take about {per_task:.0f} s, {left:.0f} s left")
            with task_share(j, self.n_tasks_):
                est, classes, const, curve = self._fit_task(
                    j, X, y2[:, j], None if val is None else (val[0], val[1][:, j]))
            self.estimators_.append(est)
            self.classes_per_task_.append(classes)
            self.constants_.append(const)
            if curve:
                curves.append(curve)
        self.history_ = loss_history(curves) if curves else []
        return self

    def _joint(self) -> BaseEstimator | None:
        """The native multi-output estimator to fit instead of per-task clones, or None."""
        if self.multi_output is False or self.task_type == "multiclass":
            return None
        return joint_estimator(self._inner(), self.task_type == "regression",
                               balanced=self.class_weight == "balanced",
                               force=self.multi_output is True)

    def _fit_joint(self, est: BaseEstimator, X: Any, y2: np.ndarray) -> TaskwiseEstimator:
        """One multi-output model of all tasks (:mod:`scifm.models.joint`), kept as
        ``estimators_[0]`` (the other entries None, no constants)."""
        binary = self.task_type == "binary"
        balanced = self.class_weight == "balanced" and binary
        if balanced and masks_labels(est):
            logger.warning("%s takes no sample_weight; class_weight ignored", type(est).__name__)
            balanced = False
        rows, Y, weight = joint_targets(y2, binary, balanced, impute=not masks_labels(est))
        Xr = X if rows.all() else X[rows]
        fit_joint(est, Xr, Y, weight, y2[rows], standardize=not binary)
        self.estimators_ = [est] + [None] * (self.n_tasks_ - 1)
        self.constants_ = [None] * self.n_tasks_
        self.classes_per_task_ = [
            np.unique(c[~np.isnan(c)]).astype(int).tolist() for c in y2.T] if binary else [
            None] * self.n_tasks_
        self.history_ = []
        return self

    def _n_classes(self, y2: np.ndarray) -> int | None:
        labelled = y2[~np.isnan(y2)]
        if self.task_type == "binary":
            if not np.isin(labelled, (0.0, 1.0)).all():
                raise ValueError("binary labels must be 0/1")
            return 2
        if self.task_type != "multiclass":
            return None
        return multiclass_count(y2, self.n_classes)

    def _fit_task(self, j: int, X: Any, y: np.ndarray, val: tuple[Any, np.ndarray] | None,
                  ) -> tuple[Any, list[int] | None, np.ndarray | None, dict[str, list[float]]]:
        rows = ~np.isnan(y)
        if not rows.any():
            raise ValueError(f"task {j} has no labelled training rows")
        Xj, yj = (X if rows.all() else X[rows]), y[rows]
        est = clone(self._inner())
        kwargs: dict[str, Any] = {}
        classes, stop = None, None
        if self.task_type != "regression":
            classes_arr, counts = np.unique(yj.astype(np.int64), return_counts=True)
            classes = classes_arr.tolist()
            if len(classes) < 2:  # nothing to learn: predict the only class seen
                const = np.zeros(self.n_classes_)
                const[classes[0]] = 1.0
                logger.warning("task %d has a single class (%d) in training; predicting it",
                               j, classes[0])
                return None, classes, const[1:] if self.task_type == "binary" else const, {}
            yj = np.searchsorted(classes_arr, yj.astype(np.int64))
            cv = est.get_params().get("cv")
            if isinstance(cv, int) and counts.min() < cv:  # internal CV (SVM calibration)
                est.set_params(cv=max(2, int(counts.min())))
            if self.class_weight == "balanced":
                if (key := _fit_accepts(est, "sample_weight")) is None:
                    logger.warning("%s takes no sample_weight; class_weight ignored",
                                   type(est).__name__)
                else:
                    kwargs[key] = compute_sample_weight("balanced", yj)
        stops = "early_stopping_rounds" in est.get_params() and est.get_params()[
            "early_stopping_rounds"]
        if stops:
            eval_set = self._eval_set(val, classes)
            if eval_set is None:
                est.set_params(early_stopping_rounds=None)
            else:
                kwargs.update(eval_set=[(Xj, yj), eval_set], verbose=False)
        if "callbacks" in est.get_params() and (stop := xgboost_callback()) is not None:
            est.set_params(callbacks=[stop])  # XGBoost: the deadline checked every round
        grow(est, Xj, yj, **kwargs)  # a forest checks the deadline between chunks of trees
        if stop is not None:
            est.set_params(callbacks=None)
        return est, classes, None, self._curve(est) if stops else {}

    @staticmethod
    def _eval_set(val: tuple[Any, np.ndarray] | None,
                  classes: list[int] | None) -> tuple[Any, np.ndarray] | None:
        if val is None:
            return None
        Xv, yv = val
        rows = ~np.isnan(yv)
        if classes is not None:  # val rows of classes unseen in training cannot be scored
            rows &= np.isin(np.nan_to_num(yv, nan=-1).astype(np.int64), classes)
        if not rows.any():
            return None
        yv = yv[rows]
        if classes is not None:
            yv = np.searchsorted(np.asarray(classes), yv.astype(np.int64))
        return Xv[rows], yv

    @staticmethod
    def _curve(est: Any) -> dict[str, list[float]]:
        try:
            evals = est.evals_result()
        except Exception:  # noqa: BLE001 - no curve recorded (e.g. no validation data)
            return {}
        named = dict(zip(("train", "val"), evals.values(), strict=False))
        return {name: list(next(iter(m.values()))) for name, m in named.items() if m}

    def _predict_tasks(self, X: Any) -> list[np.ndarray]:
        if self.n_tasks_ > 1 and n_outputs(self.estimators_[0]) == self.n_tasks_:  # joint
            pred = np.asarray(self.estimators_[0].predict(X), dtype=np.float64)
            pred = pred.reshape(X.shape[0], self.n_tasks_)
            if self.task_type == "binary":
                pred = np.clip(pred, 0.0, 1.0)
            return list(pred.T)
        return [self._predict_task(j, X) for j in range(self.n_tasks_)]

    def _predict_task(self, j: int, X: Any) -> np.ndarray:
        est, n = self.estimators_[j], X.shape[0]
        if est is None:
            const = np.asarray(self.constants_[j], dtype=np.float64)
            return np.repeat(const[None, :], n, axis=0)[:, 0] if self.task_type == "binary" \
                else np.repeat(const[None, :], n, axis=0)
        if self.task_type == "regression":
            return np.asarray(est.predict(X), dtype=np.float64).reshape(n)
        proba = np.asarray(est.predict_proba(X), dtype=np.float64)
        full = np.zeros((n, self.n_classes_))
        full[:, self.classes_per_task_[j]] = proba
        return full[:, 1] if self.task_type == "binary" else full
