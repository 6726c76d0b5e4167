"""Label conventions shared by the multi-task scikit-learn estimators of scifm
(:class:`~scifm.models.baselines.LGBMTaskModel` and
:class:`~scifm.models.estimators.TaskwiseEstimator`).

Labels are ``n`` or ``n x n_tasks`` floats with NaN for a missing label; multiclass labels are
class indices of one task; a fitted model keeps about ten points of its task-averaged loss curves.
:class:`TaskOutputsMixin` gives both estimators the same scikit-learn tags, ``predict``,
``predict_proba`` and ``score`` on top of their per-task outputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import r2_score
from sklearn.utils import ClassifierTags, RegressorTags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array, check_is_fitted

__all__ = ["TaskOutputsMixin", "check_labels", "loss_history", "multiclass_count"]


class TaskOutputsMixin:
    """Tags, ``predict``, ``predict_proba`` and ``score`` following :mod:`scifm.tasks`, for a
    multi-task estimator that provides ``_check_X(X, reset)`` and ``_predict_tasks(X)`` (its
    ``task_type`` is ``regression``, ``binary`` or ``multiclass``; a fitted one has
    ``output_1d_``). Put it before ``BaseEstimator`` in the bases."""

    task_type: str
    output_1d_: bool

    def _check_X(self, X: Any, reset: bool) -> Any:  # pragma: no cover - the estimator's own
        raise NotImplementedError

    def _predict_tasks(self, X: Any) -> list[np.ndarray]:  # pragma: no cover - the estimator's
        """One output per task (multiclass: one ``n x n_classes`` array) for validated ``X``."""
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        """Predict, following :mod:`scifm.tasks`.

        Returns
        -------
        ndarray
            regression: values, binary: positive-class probabilities, both ``n x n_tasks``
            (``(n,)`` when ``y`` was 1-D at fit); multiclass: ``n x n_classes`` probabilities.
        """
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        outs = self._predict_tasks(X)
        if self.task_type == "multiclass":
            return outs[0]
        pred = np.column_stack(outs) if outs else np.empty((X.shape[0], 0))
        return pred[:, 0] if self.output_1d_ else pred

    def _input_tags(self) -> tuple[bool, bool]:
        """Whether ``X`` may hold NaN, and whether it may be sparse (default: both)."""
        return True, True

    def __sklearn_tags__(self):  # noqa: ANN204 - sklearn's Tags
        tags = super().__sklearn_tags__()  # type: ignore[misc]
        tags.input_tags.allow_nan, tags.input_tags.sparse = self._input_tags()
        tags.target_tags.required = True
        tags.target_tags.multi_output = self.task_type != "multiclass"
        if self.task_type == "regression":
            tags.estimator_type = "regressor"
            tags.regressor_tags = RegressorTags()
        elif self.task_type == "binary":
            # binary-only targets; deliberately no estimator_type="classifier": predict returns
            # probabilities (scifm.tasks), not the class labels sklearn classifiers return
            tags.classifier_tags = ClassifierTags(multi_class=False)
        return tags

    @available_if(lambda est: est.task_type != "regression")
    def predict_proba(self, X: Any) -> np.ndarray | list[np.ndarray]:
        """Class probabilities in scikit-learn's layout.

        Returns
        -------
        ndarray or list of ndarray
            multiclass: ``n x n_classes``; binary fitted on 1-D ``y``: ``n x 2``; binary
            multi-task: one ``n x 2`` array per task. (:meth:`predict` gives the positive
            class only, as :mod:`scifm.tasks` wants.)
        """
        p = self.predict(X)
        if self.task_type == "multiclass":
            return p
        if self.output_1d_:
            return np.column_stack([1.0 - p, p])
        return [np.column_stack([1.0 - p[:, j], p[:, j]]) for j in range(p.shape[1])]

    @available_if(lambda est: est.task_type == "regression")
    def score(self, X: Any, y: Any) -> float:
        """R² of the predictions (regression only), averaged over tasks."""
        return float(r2_score(y, self.predict(X)))


def check_labels(y: Any, owner: str) -> np.ndarray:
    """``y`` as a float ``n x n_tasks`` array (NaN = missing label).

    Parameters
    ----------
    y
        Labels of shape ``(n,)`` or ``(n, n_tasks)``.
    owner
        Name of the estimator, for the error when ``y`` is None.

    Raises
    ------
    ValueError
        ``y`` is None or not 1-D / 2-D.
    """
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                    input_name="y")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or n x n_tasks, got shape {y.shape}")
    return y[:, None] if y.ndim == 1 else y


def multiclass_count(y2: np.ndarray, n_classes: int | None) -> int:
    """Number of classes of a one-task multiclass target of class indices.

    Parameters
    ----------
    y2
        Labels, ``n x 1`` (NaN = missing).
    n_classes
        The number given by the user (``None``: ``max(y) + 1``).

    Raises
    ------
    ValueError
        Several target columns, labels that are not indices, or labels out of range.
    """
    if y2.shape[1] != 1:
        raise ValueError("multiclass takes exactly one target column")
    labelled = y2[~np.isnan(y2)]
    if labelled.size and (np.any(labelled < 0) or np.any(labelled % 1)):
        raise ValueError("multiclass labels must be class indices 0..n_classes-1")
    k = int(n_classes or (labelled.max(initial=0) + 1))
    if k < 2 or (labelled.size and labelled.max() >= k):
        raise ValueError(f"multiclass labels must lie in 0..{k - 1}")
    return k


def loss_history(curves: list[dict[str, list[float]]]) -> list[dict[str, Any]]:
    """About ten points of the task-averaged train/val loss curves, the best round included.

    Parameters
    ----------
    curves
        One ``{"train": [loss per round], "val": [...]}`` per task (``val`` optional).

    Returns
    -------
    list of dict
        ``{"round": boosting round, "train_loss": ..., "val_loss": ...}`` rows (``val_loss``
        when some task has a validation curve); the round with the lowest mean validation loss
        is always one of them (``"best": True``); empty without rounds.
    """
    n_rounds = max((len(c.get("train", [])) for c in curves), default=0)
    if n_rounds == 0:
        return []

    def at(name: str, r: int) -> float | None:
        values = [c[name][min(r, len(c[name])) - 1] for c in curves if c.get(name)]
        return float(np.mean(values)) if values else None

    rounds = set(np.ceil(np.linspace(n_rounds / 10, n_rounds, 10)).astype(int).tolist())
    val = [at("val", r) for r in range(1, n_rounds + 1)]
    best = None if val[0] is None else 1 + int(np.nanargmin(np.asarray(val, dtype=float)))
    if best is not None:
        rounds.add(best)
    history = []
    for r in sorted(rounds):
        row: dict[str, Any] = {"round": r, "train_loss": at("train", r)}
        if val[r - 1] is not None:
            row["val_loss"] = val[r - 1]
        if r == best:
            row["best"] = True
        history.append(row)
    return history
