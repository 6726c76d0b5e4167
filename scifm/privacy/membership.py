"""Membership-inference audit: can an attacker tell training rows from unseen rows?

The loss-threshold attack (Yeom et al. 2018, "Privacy risk in machine learning: analyzing the
connection to overfitting") guesses "member" when the model's loss on a row is low. Its power
is summarised threshold-free by the attack AUC: the ROC-AUC of ``-loss`` for separating
training rows (members) from held-out rows (non-members) on a balanced sample (as many of each).
0.5 means the attacker learns nothing from the loss; a model that memorises its training rows
gives an AUC near 1. A differentially private model bounds it: with (epsilon, delta) DP the
attacker's true-positive rate is at most ``e^epsilon * FPR + delta``.

:func:`membership_audit` works for any :class:`~scifm.models.base.Predictor` (it only calls
``predict``); the row loss is ``-log p(true label)`` for classification and the squared error
(in units of each task's deviation) for regression, averaged over a row's labelled tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from scifm.evaluation.intervals import statistic_interval
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

__all__ = ["ATTACK", "attack_auc", "membership_audit", "row_losses"]

ATTACK = "loss_threshold"
"""The attack of :func:`membership_audit` (Yeom et al. 2018)."""
_EPS = 1e-7


def row_losses(task: TaskSpec, y: np.ndarray, pred: np.ndarray,
               scale: np.ndarray | None = None) -> np.ndarray:
    """Each row's loss, averaged over its labelled tasks (NaN where it has none).

    Parameters
    ----------
    task
        The task (:mod:`scifm.tasks` encodings).
    y
        Labels, ``n x n_tasks`` (NaN: missing).
    pred
        ``predict``'s output, ``n x n_outputs``.
    scale
        Regression only: each task's deviation (squared errors are divided by its square).
    """
    y = np.asarray(y, float).reshape(len(y), task.n_tasks)
    pred = np.asarray(pred, float).reshape(len(y), task.n_outputs)
    mask = ~np.isnan(y)
    filled = np.where(mask, y, 0.0)
    if task.task_type == "multiclass":
        p_true = np.take_along_axis(pred, filled.astype(int), axis=1)
        loss = -np.log(np.clip(p_true, _EPS, 1.0))
    elif task.task_type == "binary":
        p = np.clip(pred, _EPS, 1 - _EPS)
        loss = -(filled * np.log(p) + (1 - filled) * np.log(1 - p))
    else:
        s = np.ones(task.n_tasks) if scale is None else np.where(scale > 0, scale, 1.0)
        loss = ((pred - filled) / s) ** 2
    n_labels = mask.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_labels > 0, (loss * mask).sum(axis=1) / n_labels, np.nan)


def attack_auc(scores: np.ndarray, member: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ROC-AUC of ``scores`` for ``member`` on each row of the index matrix ``idx``.

    Parameters
    ----------
    scores, member
        Shape ``n``: the attack's score (higher = "member") and the truth (bool).
    idx
        ``B x m`` row indices (resamples; repeats allowed).

    Returns
    -------
    np.ndarray
        Shape ``B``: the AUC of each resample (ties count one half; NaN without both kinds).
    """
    s, pos = scores[idx], member[idx].astype(float)
    ranks = rankdata(s, axis=1)
    n1 = pos.sum(axis=1)
    n0 = idx.shape[1] - n1
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * pos).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
    return np.where((n1 > 0) & (n0 > 0), auc, np.nan)


def _advantage(scores: np.ndarray, member: np.ndarray) -> float:
    """Yeom's membership advantage: the best threshold's TPR - FPR (ties kept together)."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(member, scores)
    return float(np.max(tpr - fpr, initial=0.0))


def _labelled(y: np.ndarray, n_tasks: int) -> np.ndarray:
    y = np.asarray(y, float).reshape(len(y), n_tasks)
    return np.flatnonzero((~np.isnan(y)).any(axis=1))


def membership_audit(predictor: Any, task: TaskSpec, x_train: Sequence[Any],
                     y_train: np.ndarray, x_holdout: Sequence[Any], y_holdout: np.ndarray,
                     seed: int = 0, max_rows: int = 5000, n_bootstrap: int = 1000,
                     ) -> dict[str, Any]:
    """The loss-threshold membership-inference attack on ``predictor``.

    Parameters
    ----------
    predictor
        Any fitted predictor (``predict(x) -> n x n_outputs``).
    task
        Its task.
    x_train, y_train
        Rows it was trained on (members).
    x_holdout, y_holdout
        Rows it never saw (non-members; e.g. the test rows).
    seed
        Seeds the balanced subsample and the bootstrap.
    max_rows
        At most this many rows of each kind (the same number of each: the smaller set's size).
    n_bootstrap
        Bootstrap resamples of the AUC's BCa interval (0: none).

    Returns
    -------
    dict
        ``attack``, ``auc`` (``{"value", "ci95", "ci_method"}``), ``advantage`` (max TPR -
        FPR), ``n_members``, ``n_nonmembers``, ``train_loss`` and ``holdout_loss`` (means).
    """
    rng = np.random.default_rng(seed)
    members, others = _labelled(y_train, task.n_tasks), _labelled(y_holdout, task.n_tasks)
    m = min(len(members), len(others), max_rows)
    if m == 0:
        return {"attack": ATTACK, "auc": {"value": float("nan"), "ci95": [float("nan")] * 2,
                                          "ci_method": None}, "n_members": 0, "n_nonmembers": 0}
    members = np.sort(rng.choice(members, m, replace=False))
    others = np.sort(rng.choice(others, m, replace=False))
    y_in = np.asarray(y_train, float).reshape(-1, task.n_tasks)[members]
    y_out = np.asarray(y_holdout, float).reshape(-1, task.n_tasks)[others]
    scale = np.nanstd(np.vstack([y_in, y_out]), axis=0) if task.task_type == "regression" \
        else None
    loss_in = row_losses(task, y_in, predictor.predict([x_train[i] for i in members]), scale)
    loss_out = row_losses(task, y_out, predictor.predict([x_holdout[i] for i in others]), scale)
    losses = np.concatenate([loss_in, loss_out])
    finite = np.isfinite(losses)  # a NaN prediction counts as the worst loss seen
    scores = -np.where(finite, losses, np.max(losses[finite], initial=0.0) + 1.0)
    member = np.r_[np.ones(m, bool), np.zeros(m, bool)]
    auc = statistic_interval(lambda idx: attack_auc(scores, member, idx), 2 * m,
                             n_bootstrap=n_bootstrap, seed=seed, bounds=(0.0, 1.0))
    out = {"attack": ATTACK, "auc": auc, "advantage": _advantage(scores, member),
           "n_members": m, "n_nonmembers": m, "train_loss": float(np.nanmean(loss_in)),
           "holdout_loss": float(np.nanmean(loss_out))}
    logger.info("membership audit (%s): attack AUC %.3f on %d + %d rows", ATTACK,
                auc["value"], m, m)
    return out
