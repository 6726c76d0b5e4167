"""Ranking the searched families when the time budget cut some of them (``scifm auto``).

Under a time budget a family's first trial may be cut and scored on the folds it finished
(:mod:`scifm.tuning.objective`): ExtraTrees scored on FreeSolv's first two folds, a linear model
on all five. Their CV means are then means over different rows, and a family cut after its
easiest folds outranked complete ones (FreeSolv seed 1: extratrees, CV 1.17 on two folds, ranked
first against an SVM at 1.63 on five; test RMSE 3.40 against 2.38 for the linear model).
Ranking everyone on the folds all of them finished did not cure it: one family cut after its
first fold made that one fold decide (FreeSolv: XGBoost ranked first on 152 molecules three
seeds out of three, test RMSE 1.98-3.09).

:func:`rank_families` therefore ranks the families that fitted the most folds (and those scored
on the validation rows, a holdout search) by their own score, and puts a cut family ahead of one
of them only where it beats it on the folds it finished: a one-sided paired t-test of the fold
differences at 90 % confidence (:func:`beats_on_its_folds`; one fold has no standard error, so
a family cut after one fold ranks behind them). A cut family that does rank first is one the
data clearly favour (ESOL seed 2: a forest at 0.90 RMSE on two folds against linear models at
1.2).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scifm.tuning.budget_clock import FamilySearch

__all__ = ["CONFIDENCE", "beats_on_its_folds", "clearly_better", "comparable_scores", "fold_scores",
           "rank_families"]

CONFIDENCE = 0.9
"""One-sided confidence with which a cut family must beat a complete one on its folds to rank
ahead of it. With a margin of one standard error (75 % confidence on two folds) a LightGBM cut
after two of FreeSolv's folds ranked first and was chosen over the weighted average and the
stacker (test RMSE 1.92 against 1.64 and 1.46)."""


def fold_scores(search: FamilySearch) -> np.ndarray:
    """The best trial's score on each fold it finished, in fold order."""
    return np.asarray(search.best.user_attrs.get("fold_scores") or [], dtype=np.float64)


def comparable_scores(searches: Mapping[str, FamilySearch]) -> dict[str, float]:
    """``family -> score``: its best trial's value (a CV mean over the folds it finished, or
    its score on the validation rows); NaN when it has none."""
    return {f: float(s.best.value) if s.best.value is not None else math.nan
            for f, s in searches.items()}


def clearly_better(mine: np.ndarray, theirs: np.ndarray, higher_is_better: bool) -> bool:
    """Whether fold scores ``mine`` beat ``theirs`` on their common first folds: a one-sided
    paired t-test of the differences at :data:`CONFIDENCE` (False with fewer than two folds
    to pair). On two folds the mean difference must exceed 3.1 standard errors, on four 1.6."""
    mine, theirs = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    n = min(len(mine), len(theirs))
    diff = (mine[:n] - theirs[:n]) * (1.0 if higher_is_better else -1.0)
    diff = diff[np.isfinite(diff)]
    if len(diff) < 2:
        return False
    from scipy.stats import t

    se = diff.std(ddof=1) / math.sqrt(len(diff))
    return bool(diff.mean() > t.ppf(CONFIDENCE, len(diff) - 1) * se)


def beats_on_its_folds(cut: FamilySearch, other: FamilySearch, higher_is_better: bool) -> bool:
    """Whether ``cut`` is :func:`clearly_better` than ``other`` on the folds ``cut`` finished
    (False when ``other`` was scored on the validation rows: no folds to pair)."""
    return not other.holdout and clearly_better(fold_scores(cut), fold_scores(other),
                                                higher_is_better)


def rank_families(searches: Mapping[str, FamilySearch], higher_is_better: bool) -> list[str]:
    """The families best first, as the module docstring says (NaN last; ties: given order)."""
    scores = comparable_scores(searches)

    def key(family: str) -> float:
        v = scores[family]
        return math.inf if v != v else (-v if higher_is_better else v)

    most = max((s.folds_done for s in searches.values() if not s.holdout), default=0)
    full = sorted((f for f, s in searches.items() if s.holdout or s.folds_done >= most), key=key)
    place = {}
    for family in (f for f in searches if f not in full):  # a cut family: ahead of the first
        place[family] = next((i for i, g in enumerate(full) if beats_on_its_folds(  # it beats
            searches[family], searches[g], higher_is_better)), len(full))
    out: list[str] = []
    for i in range(len(full) + 1):
        out += sorted((f for f in place if place[f] == i), key=key)
        out += full[i:i + 1]
    return out
