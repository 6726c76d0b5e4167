"""Choose between the best single family and a weighted ensemble, out of fold.

Every family's best trial leaves out-of-fold (OOF) predictions on the train+val pool. The
ensemble's weights are fitted on OOF predictions (:func:`scifm.models.ensemble.greedy_weights`),
so scoring the ensemble on the same OOF rows would flatter it. Its score is therefore
*cross-fitted*: for each fold, weights are fitted on the other folds' OOF rows and applied to the
held-out fold. The best single family is scored on the very same folds from its OOF predictions,
and the ensemble is kept only if its mean fold score is strictly better.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from scifm.evaluation.metrics import compute_metrics
from scifm.models.ensemble import greedy_weights
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)


@dataclass
class EnsembleChoice:
    """Outcome of :func:`choose_ensemble`."""

    weights: dict[str, float]
    """Final weights, fitted on all OOF rows (empty when no ensemble was possible)."""
    fold_scores: list[float] = field(default_factory=list)
    """Cross-fitted ensemble score per fold."""
    best_single: str = ""
    best_single_scores: list[float] = field(default_factory=list)
    """The best single family's score per fold (same folds, from its OOF predictions)."""
    keep: bool = False
    """Whether the ensemble beats the best single family out of fold."""
    cross_fitted: np.ndarray | None = None
    """The cross-fitted ensemble's predictions (``n x n_outputs``): each fold's held-out rows
    predicted with weights fitted on the other folds; NaN on rows in no held-out fold."""

    @property
    def cv_mean(self) -> float:
        return _mean(self.fold_scores)

    @property
    def cv_std(self) -> float:
        return float(np.nanstd(self.fold_scores)) if self.fold_scores else float("nan")

    @property
    def single_mean(self) -> float:
        return _mean(self.best_single_scores)


def _mean(xs: list[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def fold_scores(task: TaskSpec, y: np.ndarray, pred: np.ndarray, metric: str,
                folds: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """``metric`` of ``pred`` on each fold's held-out rows."""
    return [float(compute_metrics(task, y[va], pred[va])[metric]) for _, va in folds]


def choose_ensemble(task: TaskSpec, y: np.ndarray, oof: dict[str, np.ndarray], metric: str,
                    higher_is_better: bool, folds: list[tuple[np.ndarray, np.ndarray]],
                    rounds: int = 25) -> EnsembleChoice:
    """Cross-fitted greedy ensemble of ``oof`` members vs the best single member.

    Parameters
    ----------
    task, y
        The pool's task and labels (``n x n_tasks``).
    oof
        ``family -> OOF predictions`` (``n x n_outputs``), best family first.
    metric, higher_is_better
        The primary metric and its direction.
    folds
        The cross-validation folds the OOF predictions came from.
    rounds
        Greedy selection rounds.
    """
    def better(a: float, b: float) -> bool:
        if a != a:
            return False
        return b != b or (a > b if higher_is_better else a < b)

    singles = {f: fold_scores(task, y, p, metric, folds) for f, p in oof.items()}
    best = next(iter(oof))
    for f in oof:
        if better(_mean(singles[f]), _mean(singles[best])):
            best = f
    choice = EnsembleChoice({}, best_single=best, best_single_scores=singles[best])
    if len(oof) < 2:
        return choice
    choice.cross_fitted = np.full((len(y), np.reshape(oof[best], (len(y), -1)).shape[1]), np.nan)
    for tr, va in folds:
        w = greedy_weights({f: p[tr] for f, p in oof.items()},
                           lambda p, tr=tr: compute_metrics(task, y[tr], p)[metric],
                           higher_is_better, rounds)
        pred = sum(wf * oof[f][va] for f, wf in w.items())
        choice.cross_fitted[va] = np.asarray(pred, dtype=np.float64).reshape(len(va), -1)
        choice.fold_scores.append(float(compute_metrics(task, y[va], pred)[metric]))
    pool = np.concatenate([va for _, va in folds])
    choice.weights = greedy_weights({f: p[pool] for f, p in oof.items()},
                                    lambda p: compute_metrics(task, y[pool], p)[metric],
                                    higher_is_better, rounds)
    choice.keep = len(choice.weights) > 1 and better(choice.cv_mean, choice.single_mean)
    logger.info("ensemble %s: cross-fitted %s %.4f vs best single %s %.4f -> keep %s",
                {f: round(w, 3) for f, w in choice.weights.items()}, metric, choice.cv_mean,
                best, choice.single_mean, choice.keep)
    return choice
