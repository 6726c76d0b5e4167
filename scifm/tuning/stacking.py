"""A cross-fitted stacking ensemble: a regularised linear meta-model on out-of-fold predictions.

Besides the weighted average (:mod:`scifm.tuning.ensembling`), ``scifm auto`` can stack its
families: a meta-model (:func:`scifm.models.stacked.fit_meta`: ``RidgeCV`` per task for
regression, L2 logistic regression on ``logit(p)`` per task for binary targets, multinomial
logistic regression on the members' ``log(p)`` for multiclass) maps the members' predictions to
the target. Fitting it on the OOF predictions and scoring it on the same rows would flatter it,
so its score is *cross-fitted* exactly like the weighted average's: for each fold ``(tr, va)``,
the meta-model is fitted on the members' OOF predictions at rows ``tr`` and predicts rows ``va``
(no row is ever predicted by a meta-model that saw it). The fold scores are comparable with
:attr:`EnsembleChoice.fold_scores` and :attr:`EnsembleChoice.best_single_scores` (same folds, same
metric); :func:`keep_stacking` keeps the stacker when it holds up against choosing the best single
family, that choice cross-fitted too (:func:`scifm.tuning.ensembling.selection_scores`,
:func:`scifm.tuning.ensembling.holds_up`: not beaten by more than one standard error of the
paired fold differences) and is strictly better than the weighted average. The final meta-model
is then fitted on every pool row.

Rows not covered by every member (a NaN in some member's OOF predictions, e.g. a family that
finished fewer folds) are left out of every meta-model fit, and a fold is scored only when all
its held-out rows are covered (otherwise its score is NaN); :func:`keep_stacking` compares the
candidates on the folds the stacker scored, so the comparison stays paired.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scifm.evaluation.metrics import compute_metrics
from scifm.models.stacked import apply_meta, fit_meta
from scifm.tasks import TaskSpec
from scifm.tuning.ensembling import EnsembleChoice, fold_scores, holds_up, selection_scores

logger = logging.getLogger(__name__)

__all__ = ["StackChoice", "choose_stacking", "keep_stacking", "oof_comparison"]

Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class StackChoice:
    """Outcome of :func:`choose_stacking`."""

    meta: dict[str, Any]
    """The final meta-model fitted on every covered pool row, as JSON data
    (:func:`scifm.models.stacked.fit_meta`; empty when no stacking was possible)."""
    members: list[str] = field(default_factory=list)
    """The stacked families, in the order of the meta-model's inputs."""
    fold_scores: list[float] = field(default_factory=list)
    """Cross-fitted stacker score per fold (NaN: the fold's held-out rows are not all covered)."""
    best_single: str = ""
    best_single_scores: list[float] = field(default_factory=list)
    """The best single family's score per fold (same folds, from its OOF predictions)."""
    selected_scores: list[float] = field(default_factory=list)
    """Cross-fitted score per fold of choosing the best single family (empty: compare with
    :attr:`best_single_scores`)."""
    n_rows: int = 0
    """Pool rows every member predicted (the rows the meta-models learn from)."""
    n_uncovered: int = 0
    """Pool rows left out because some member has no OOF prediction there."""
    keep: bool = False
    """Whether the stacker beats the best single family and the weighted average out of fold
    (:func:`keep_stacking`)."""
    cross_fitted: np.ndarray | None = None
    """The cross-fitted stacker's predictions (``n x n_outputs``): each fold's held-out rows
    predicted by a meta-model fitted on the other folds; NaN where a fold was not scored."""

    @property
    def cv_mean(self) -> float:
        return _mean(self.fold_scores)

    @property
    def cv_std(self) -> float:
        return _std(self.fold_scores)

    @property
    def single_mean(self) -> float:
        return _mean(self.best_single_scores)

    @property
    def coefficients(self) -> dict[str, Any]:
        """``{"members": [...], "coef": [[...]], "intercept": [...]}`` (for logs and metrics)."""
        return {k: self.meta[k] for k in ("members", "coef", "intercept") if k in self.meta}


def _mean(xs: list[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _std(xs: list[float]) -> float:
    a = np.asarray(xs, dtype=np.float64)
    return float(np.nanstd(a)) if np.isfinite(a).any() else float("nan")


def _better(a: float, b: float, higher_is_better: bool) -> bool:
    """``a`` strictly better than ``b`` (NaN ``a`` never is; anything beats a NaN ``b``)."""
    if a != a:
        return False
    return b != b or (a > b if higher_is_better else a < b)


def covered_rows(oof: dict[str, np.ndarray]) -> np.ndarray:
    """Boolean mask of the rows where every member has finite predictions (all outputs)."""
    mask = None
    for p in oof.values():
        p = np.asarray(p, dtype=np.float64)
        ok = np.isfinite(p.reshape(len(p), -1)).all(axis=1)
        mask = ok if mask is None else mask & ok
    return np.zeros(0, dtype=bool) if mask is None else mask


def choose_stacking(task: TaskSpec, y: np.ndarray, oof: dict[str, np.ndarray], metric: str,
                    higher_is_better: bool, folds: Folds, seed: int = 0, c: float = 1.0,
                    ensemble: EnsembleChoice | None = None) -> StackChoice:
    """Cross-fitted stacking of ``oof`` members vs the best single member (and the ensemble).

    Parameters
    ----------
    task, y
        The pool's task and labels (``n x n_tasks``, NaN = missing, skipped per task).
    oof
        ``family -> OOF predictions`` (``n x n_outputs``), best family first.
    metric, higher_is_better
        The primary metric and its direction.
    folds
        The cross-validation folds the OOF predictions came from.
    seed
        ``random_state`` of the logistic meta-models.
    c
        Inverse L2 strength of the logistic meta-models (fixed, modest).
    ensemble
        The weighted average's :class:`EnsembleChoice` on the same folds, if any: ``keep`` is
        then set by :func:`keep_stacking` against it and the best single family; without it,
        against the best single family alone.

    Returns
    -------
    StackChoice
        With no meta-model (``meta == {}``, ``keep`` False) when fewer than two members are
        given or no row is covered by all of them.
    """
    y = np.asarray(y, dtype=np.float64).reshape(len(y), task.n_tasks)
    singles = {f: fold_scores(task, y, p, metric, folds) for f, p in oof.items()}
    best = next(iter(oof))
    for f in oof:
        if _better(_mean(singles[f]), _mean(singles[best]), higher_is_better):
            best = f
    choice = StackChoice({}, best_single=best, best_single_scores=singles[best])
    pool = np.concatenate([va for _, va in folds]) if folds else np.zeros(0, dtype=int)
    covered = covered_rows(oof)
    if len(oof) < 2 or not covered[pool].any():
        return choice
    choice.members = list(oof)
    choice.selected_scores = selection_scores(task, y, oof, metric, higher_is_better, folds)
    choice.n_rows, choice.n_uncovered = int(covered[pool].sum()), int((~covered[pool]).sum())
    _cross_fit(choice, task, y, oof, metric, folds, covered, seed, c)
    rows = pool[covered[pool]]
    choice.meta = fit_meta(task, {f: p[rows] for f, p in oof.items()}, y[rows], c=c, seed=seed)
    choice.keep = keep_stacking(choice, ensemble, higher_is_better)
    logger.info("stacking %s: cross-fitted %s %.4f vs best single %s %.4f (its choice "
                "cross-fitted %.4f)%s -> keep %s (%d rows, %d not covered by every member)",
                choice.members, metric, choice.cv_mean, best, choice.single_mean,
                _mean(choice.selected_scores),
                "" if ensemble is None else f", weighted average {ensemble.cv_mean:.4f}",
                choice.keep, choice.n_rows, choice.n_uncovered)
    return choice


def _cross_fit(choice: StackChoice, task: TaskSpec, y: np.ndarray, oof: dict[str, np.ndarray],
               metric: str, folds: Folds, covered: np.ndarray, seed: int, c: float) -> None:
    """Fill ``choice.fold_scores`` and ``choice.cross_fitted``: per fold, a meta-model fitted
    on the other folds' covered rows predicts the held-out one."""
    for tr, va in folds:
        score, pred = _fold_score(task, y, oof, metric, tr, va, covered, seed, c)
        choice.fold_scores.append(score)
        if pred is not None:
            pred = np.asarray(pred, dtype=np.float64).reshape(len(va), -1)
            if choice.cross_fitted is None:
                choice.cross_fitted = np.full((len(y), pred.shape[1]), np.nan)
            choice.cross_fitted[va] = pred


def _fold_score(task: TaskSpec, y: np.ndarray, oof: dict[str, np.ndarray], metric: str,
                tr: np.ndarray, va: np.ndarray, covered: np.ndarray, seed: int,
                c: float) -> tuple[float, np.ndarray | None]:
    """Fit on the covered rows of ``tr``, score on ``va``: the score and the predictions of
    ``va`` (NaN and None when ``va`` is not all covered or no training row is)."""
    tr = tr[covered[tr]]
    if not covered[va].all() or not len(tr):
        return float("nan"), None
    meta = fit_meta(task, {f: p[tr] for f, p in oof.items()}, y[tr], c=c, seed=seed)
    pred = apply_meta(meta, {f: p[va] for f, p in oof.items()})
    return float(compute_metrics(task, y[va], pred)[metric]), pred


def keep_stacking(stack: StackChoice, ensemble: EnsembleChoice | None,
                  higher_is_better: bool) -> bool:
    """Whether the stacker holds up out of fold against choosing the best single family
    (:func:`scifm.tuning.ensembling.holds_up` on :attr:`StackChoice.selected_scores`, else on
    the best single family's own scores) and is strictly better than the weighted average (when
    one with two or more members was built).

    Both comparisons are on the folds the stacker scored (finite fold scores), the same folds
    for every candidate, so they are paired.
    """
    if not stack.meta:
        return False
    scored = np.isfinite(np.asarray(stack.fold_scores, dtype=np.float64))
    if not scored.any():
        return False

    def on_scored(xs: list[float]) -> float:
        a = np.asarray(xs, dtype=np.float64)
        return _mean(list(a[scored])) if len(a) == len(scored) else float("nan")

    mine = on_scored(stack.fold_scores)
    if not holds_up(stack.fold_scores, stack.selected_scores or stack.best_single_scores,
                    higher_is_better):
        return False
    if ensemble is not None and len(ensemble.weights) > 1:
        return _better(mine, on_scored(ensemble.fold_scores), higher_is_better)
    return True


def oof_comparison(ensemble: EnsembleChoice | None, stack: StackChoice | None, winner: str,
                   ensemble_name: str = "ensemble",
                   stacking_name: str = "stacking") -> list[dict[str, Any]]:
    """Rows for ``ReportData.oof_comparison``: the best single family (its own scores, then
    the cross-fitted choice of it when known), the weighted average and the stacker, each with
    its out-of-fold mean and std of the primary metric over the same folds, and whether it was
    ``selected`` (its name is ``winner``; the cross-fitted-choice row never is).

    Candidates that were not built (no ensemble, fewer than two members) are left out.
    """
    rows: list[dict[str, Any]] = []
    single = (stack.best_single if stack and stack.best_single
              else ensemble.best_single if ensemble else "")
    scores = (stack.best_single_scores if stack and stack.best_single_scores
              else ensemble.best_single_scores if ensemble else [])
    chosen = (stack.selected_scores if stack and stack.selected_scores
              else ensemble.selected_scores if ensemble else [])
    if single:
        rows.append({"model": single, "kind": "best single family", "cv_mean": _mean(scores),
                     "cv_std": _std(scores), "selected": winner == single})
    if single and chosen:
        rows.append({"model": single, "kind": "best single family, its choice cross-fitted",
                     "cv_mean": _mean(chosen), "cv_std": _std(chosen), "selected": False})
    if ensemble is not None and len(ensemble.weights) > 1:
        rows.append({"model": ensemble_name, "kind": "weighted average",
                     "cv_mean": ensemble.cv_mean, "cv_std": ensemble.cv_std,
                     "selected": winner == ensemble_name})
    if stack is not None and stack.meta:
        rows.append({"model": stacking_name, "kind": "stacking", "cv_mean": stack.cv_mean,
                     "cv_std": stack.cv_std, "selected": winner == stacking_name})
    return rows
