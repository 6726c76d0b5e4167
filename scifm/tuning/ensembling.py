"""Choose between the best single family and a weighted ensemble, out of fold.

Every family's best trial leaves out-of-fold (OOF) predictions on the train+val pool. The
ensemble's weights are fitted on OOF predictions (:func:`scifm.models.ensemble.greedy_weights`),
so scoring the ensemble on the same OOF rows would flatter it. Its score is therefore
*cross-fitted*: for each fold, weights are fitted on the other folds' OOF rows and applied to the
held-out fold. The best single family is scored on the very same folds from its OOF predictions.

The best single family's scores are the maximum over many trials and families on those same rows,
so they are optimistic; the ensemble's are cross-fitted, so they are not. A strict "better mean"
test therefore favours the single family, most of all on small validation sets (ClinTox: 147 val
rows, a handful of positives per fold). Two corrections:

* :func:`selection_scores` cross-fits the *choice* of the single family too: on each fold, the
  family best on the other folds' rows, scored on the held-out fold. That is the honest score of
  "pick the best single family", comparable with the ensemble's cross-fitted one;
* :func:`holds_up` applies the paired one-standard-error rule: the ensemble is kept unless that
  choice beats it by more than one standard error of the per-fold differences (what remains
  optimistic on both sides is the choice of each family's best trial).
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
    selected_scores: list[float] = field(default_factory=list)
    """Cross-fitted score per fold of choosing the best single family (:func:`selection_scores`)."""
    keep: bool = False
    """Whether the ensemble holds up out of fold against choosing the best single family
    (:func:`holds_up` on :attr:`selected_scores`)."""
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


def holds_up(combined: list[float], single: list[float], higher_is_better: bool) -> bool:
    """Whether a combination with per-fold scores ``combined`` holds up against the best single
    family's ``single`` (same folds): ``mean(d) + se(d) > 0`` for the paired differences
    ``d`` (positive: the combination better) on the folds both scored, ``se`` their standard
    error (``std(ddof=1) / sqrt(k)``; 0 with one fold). With no such fold, it holds up when it
    scored any fold (the single family scored none of those)."""
    c, s = np.asarray(combined, dtype=np.float64), np.asarray(single, dtype=np.float64)
    if len(c) != len(s):
        return False
    ok = np.isfinite(c) & np.isfinite(s)
    if not ok.any():
        return bool(np.isfinite(c).any())
    d = (c[ok] - s[ok]) * (1.0 if higher_is_better else -1.0)
    se = float(np.std(d, ddof=1) / np.sqrt(len(d))) if len(d) > 1 else 0.0
    return float(d.mean()) + se > 0


def selection_scores(task: TaskSpec, y: np.ndarray, oof: dict[str, np.ndarray], metric: str,
                     higher_is_better: bool,
                     folds: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Per fold ``(tr, va)``: the ``oof`` family with the best ``metric`` on rows ``tr``
    (NaN counts as worst; ties: the first), scored on rows ``va``."""
    sign = 1.0 if higher_is_better else -1.0
    out = []
    for tr, va in folds:
        on_tr = {f: sign * float(compute_metrics(task, y[tr], p[tr])[metric])
                 for f, p in oof.items()}
        pick = max(on_tr, key=lambda f: on_tr[f] if on_tr[f] == on_tr[f] else -np.inf)
        out.append(float(compute_metrics(task, y[va], oof[pick][va])[metric]))
    return out


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
    choice.selected_scores = selection_scores(task, y, oof, metric, higher_is_better, folds)
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
    choice.keep = len(choice.weights) > 1 and holds_up(choice.fold_scores,
                                                       choice.selected_scores,
                                                       higher_is_better)
    logger.info("ensemble %s: cross-fitted %s %.4f vs best single %s %.4f (its choice "
                "cross-fitted %.4f) -> keep %s",
                {f: round(w, 3) for f, w in choice.weights.items()}, metric, choice.cv_mean,
                best, choice.single_mean, _mean(choice.selected_scores), choice.keep)
    return choice
