"""One native multi-output model for all tasks, where a family has one (forests, kNN).

:class:`~scifm.models.estimators.TaskwiseEstimator` fits one clone per task. For several
``regression`` or ``binary`` tasks, families whose scikit-learn estimator is natively
multi-output fit *one* model instead (:func:`joint_estimator`):

* ``rf`` / ``extratrees``: one multi-output ``RandomForestRegressor`` / ``ExtraTreesRegressor``
  (same hyper-parameters). Regression targets are standardised per task for growing the trees
  (each task weighs the same in the summed squared error), node values mapped back to the
  task's units. Binary tasks are regressed on their 0/1 labels: the squared error of
  0/1 labels is half the Gini impurity, so a single-task tree would choose the same splits as the
  classifier, and a leaf mean is the positive-class probability. Trees take no NaN in ``y``: a
  missing label is imputed with its task's training mean (regression: the mean, binary: the
  prevalence), which adds no signal to the split search (it only dilutes that task's share of
  it), and then every leaf value is refitted as the (sample-weighted) mean of the *labelled*
  training rows it holds (:func:`refit_leaves`), so imputed labels never enter a prediction (a
  leaf with no labelled row of a task keeps the task mean). Rows with no label at all are
  dropped. With ``class_weight="balanced"``, a row's weight is the mean, over the tasks it is
  labelled for, of that task's balanced weight.
* ``knn``: :class:`~scifm.models.knn.KNNRegressor` on the label matrix with NaN kept: distances are
  computed once for all tasks, each task averages its ``n_neighbors`` nearest labelled rows
  (identical to the per-task models on fingerprints; binary: the weighted share of positives).

Where it is used by default (``TaskwiseEstimator(multi_output="auto")``) follows measurements
(ECFP-2048, 100 trees, one thread, random 80/20 split; mean over tasks, per task -> joint):

* Tox21 (12 binary tasks, 17 % labels missing), ROC-AUC: RF 0.824 -> 0.837 with leaves refitted
  (0.827 without), fit 86 s -> 15 s; ExtraTrees 0.821 -> 0.821, about 6x faster; kNN identical
  (0.774), fit + predict 9 s -> 3 s. With ``class_weight="balanced"`` the per-task RF gains
  (0.843) and the joint one does not (0.832): weighted binary forests stay per task. A second
  split: RF 0.811 -> 0.834, ExtraTrees 0.818 -> 0.826, kNN identical.
* QM8 (4,000 molecules, 12 targets, 20 % labels hidden), R^2: RF 0.540 -> 0.552 but mean
  absolute error 3 % worse, ExtraTrees 0.545 -> 0.511: regression forests stay per task
  (``multi_output=True`` forces the joint model); kNN identical.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.pipeline import Pipeline

from scifm.models.pipeline_steps import final_step
from scifm.utils.deadline import check_deadline, keeps_best, seconds_left

__all__ = ["fit_joint", "grow", "joint_estimator", "joint_targets", "n_outputs", "refit_leaves"]

_FORESTS = {"RandomForestClassifier": "RandomForestRegressor",
            "RandomForestRegressor": "RandomForestRegressor",
            "ExtraTreesClassifier": "ExtraTreesRegressor",
            "ExtraTreesRegressor": "ExtraTreesRegressor"}
"""The multi-output regressor standing in for each forest."""
_CHUNK_TREES = 25
"""Trees grown between two deadline checks (inside :func:`~scifm.utils.deadline.fit_deadline`)."""
_FIRST_TREES = 5
"""Trees a forest grows first under a deadline that keeps the best (timed, to size the rest)."""

logger = logging.getLogger(__name__)


def n_outputs(est: BaseEstimator | None) -> int:
    """Outputs of a fitted estimator (1 for the single-output ones)."""
    return 1 if est is None else int(getattr(final_step(est), "n_outputs_", 1))


def masks_labels(est: BaseEstimator) -> bool:
    """Whether the joint estimator takes NaN labels itself (kNN) rather than imputed ones."""
    from scifm.models.knn import KNNRegressor

    return isinstance(final_step(est), KNNRegressor)


def joint_estimator(est: BaseEstimator, regression: bool, balanced: bool = False,
                    force: bool = False) -> BaseEstimator | None:
    """The unfitted native multi-output regressor standing in for the single-output ``est``
    (a kNN possibly behind a pipeline; a forest on binary tasks without class weights, or
    always when ``force``), or ``None`` if there is none."""
    from sklearn import ensemble

    from scifm.models.knn import KNNClassifier, KNNRegressor

    final, name = final_step(est), type(final_step(est)).__name__
    if name in _FORESTS:
        if (regression or balanced) and not force:  # measured worse than per task (module doc)
            return None
        cls = getattr(ensemble, _FORESTS[name])
        keep = set(cls().get_params()) - {"criterion"}
        joint = cls(**{k: v for k, v in final.get_params(deep=False).items() if k in keep})
    elif isinstance(final, (KNNClassifier, KNNRegressor)):
        joint = KNNRegressor(**final.get_params(deep=False))
    else:
        return None
    if isinstance(est, Pipeline):
        return Pipeline([*clone(est).steps[:-1], (est.steps[-1][0], joint)])
    return joint


def joint_targets(y: np.ndarray, binary: bool, balanced: bool, impute: bool,
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Rows to fit on, their targets and sample weights.

    Parameters
    ----------
    y : ndarray of shape (n_samples, n_tasks)
        Labels, NaN = missing.
    binary
        0/1 labels (``balanced`` applies).
    balanced
        Per-row mean of the per-task balanced class weights over the row's labelled tasks.
    impute
        Replace a missing label by its task's mean (else NaN is kept).

    Returns
    -------
    rows : ndarray of bool
        Rows labelled for at least one task.
    Y : ndarray of shape (rows.sum(), n_tasks)
    weight : ndarray or None
        Per-row balanced weights.
    """
    labelled = ~np.isnan(y)
    rows = labelled.any(axis=1)
    if not labelled.any(axis=0).all():
        raise ValueError(f"task {int(np.argmin(labelled.any(axis=0)))} has no labelled "
                         "training rows")
    Y, labelled = y[rows], labelled[rows]
    mean = np.nanmean(Y, axis=0)
    if impute:
        Y = np.where(labelled, Y, mean)
    weight = None
    if binary and balanced:
        pos = np.nansum(y[rows], axis=0)
        n = labelled.sum(axis=0)
        w_pos = np.divide(n, 2 * pos, out=np.ones_like(mean), where=pos > 0)
        w_neg = np.divide(n, 2 * (n - pos), out=np.ones_like(mean), where=n - pos > 0)
        w = np.where(np.nan_to_num(y[rows]) > 0.5, w_pos, w_neg)
        weight = (w * labelled).sum(axis=1) / labelled.sum(axis=1)
    return rows, Y, weight


def fit_joint(est: BaseEstimator, X: Any, Y: np.ndarray, weight: np.ndarray | None,
              labels: np.ndarray, standardize: bool = False) -> BaseEstimator:
    """Fit the joint estimator. A forest is grown (:func:`grow`) - on targets standardised per
    task when ``standardize`` (regression: each task weighs the same in the summed squared-error
    criterion, whatever its units; node values are mapped back to the task's units after) - then
    its leaves are refitted on the labelled rows (``labels``: NaN for the missing ones)."""
    kwargs = {} if weight is None else {"sample_weight": weight}
    if type(final_step(est)).__name__ not in _FORESTS.values():
        return est.fit(X, Y, **kwargs)
    mean, scale = np.zeros(Y.shape[1]), np.ones(Y.shape[1])
    if standardize:
        mean, scale = np.nanmean(labels, axis=0), np.nanstd(labels, axis=0)
        scale = np.where(scale > 0, scale, 1.0)
    grow(est, X, (Y - mean) / scale, **kwargs)
    if standardize:
        for tree in est.estimators_:
            value = tree.tree_.value  # a view of the node values: n_nodes x n_tasks x 1
            value[:, :, 0] = mean + scale * value[:, :, 0]
    refit_leaves(est, X, labels, weight)
    return est


def grow(est: BaseEstimator, X: Any, y: np.ndarray, **kwargs: Any) -> BaseEstimator:
    """``est.fit(X, y, **kwargs)``; inside :func:`~scifm.utils.deadline.fit_deadline` a forest
    grows in chunks of trees (``warm_start``) with a deadline check before each chunk - the same
    trees as one fit, as scikit-learn draws a warm-started tree's seed as it would have.

    When the deadline keeps the best (:func:`~scifm.utils.deadline.keeps_best`: an ``auto``
    search on the validation rows, where a fit is all or nothing), the forest instead grows
    :data:`_FIRST_TREES` trees, then as many more as its measured seconds per tree say fit
    before the deadline, and ends there: a forest of fewer trees, its ``n_estimators`` set to
    what it has, rather than none. A logistic regression fits in rounds of iterations
    (:mod:`scifm.models.linear_rounds`)."""
    from scifm.models.linear_rounds import fit_in_rounds, fits_in_rounds

    if fits_in_rounds(est):  # a logistic regression: rounds of iterations, same deadline rules
        return fit_in_rounds(est, X, y, **kwargs)
    total = int(getattr(est, "n_estimators", 0) or 0)
    if seconds_left() is None or type(est).__name__ not in _FORESTS or total <= _FIRST_TREES:
        if not (keeps_best() and est.get_params().get("callbacks")):  # a booster ends itself
            check_deadline(f"{type(est).__name__} fit")
        return est.fit(X, y, **kwargs)
    est.set_params(warm_start=True)
    done, per_tree = 0, None
    while done < total:
        size = min(_CHUNK_TREES, total - done)
        if not keeps_best():
            check_deadline(f"forest tree {done + 1}/{total}")
        elif per_tree is None:
            size = min(_FIRST_TREES, total)
        else:  # keep what is grown once no further tree fits
            size = min(size, int(max(0.0, seconds_left() or 0.0) // max(per_tree, 1e-6)))
            if size == 0:
                logger.info("%s: %d of %d trees grown when the time was up; kept",
                            type(est).__name__, done, total)
                break
        t0 = time.perf_counter()
        est.set_params(n_estimators=done + size).fit(X, y, **kwargs)
        per_tree, done = (time.perf_counter() - t0) / size, done + size
    est.set_params(warm_start=False, n_estimators=done)
    return est


def refit_leaves(forest: Any, X: Any, labels: np.ndarray, weight: np.ndarray | None) -> None:
    """Set each leaf's value of each task to the mean label of the labelled training rows that
    fall in that leaf (weighted by the rows' ``weight``); a leaf without a labelled row of a
    task keeps its value (the imputed task mean). All training rows count, not only the tree's
    bootstrap sample (scikit-learn does not expose it): out-of-bag rows make the leaf means a
    little smoother. Nothing changes when every label is present."""
    labelled = ~np.isnan(labels)
    if labelled.all():
        return
    y0 = np.where(labelled, labels, 0.0)
    w = np.ones(labels.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
    wl = w[:, None] * labelled
    leaves = forest.apply(X)
    for t, tree in enumerate(forest.estimators_):
        value = tree.tree_.value  # a view of the node values: n_nodes x n_tasks x 1
        size = value.shape[0]
        den = np.stack([np.bincount(leaves[:, t], wl[:, j], size) for j in range(y0.shape[1])], 1)
        num = np.stack([np.bincount(leaves[:, t], wl[:, j] * y0[:, j], size)
                        for j in range(y0.shape[1])], 1)
        has = den > 0
        value[:, :, 0] = np.where(has, num / np.where(has, den, 1.0), value[:, :, 0])
