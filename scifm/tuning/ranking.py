"""Ranking the searched families on the same folds (``scifm auto``).

Under a time budget a family's first trial may be cut and scored on the folds it finished
(:mod:`scifm.tuning.objective`): ExtraTrees scored on FreeSolv's first two folds, a linear model
on all five. Their CV means are then means over different rows, and a family cut after its
easiest folds outranked complete ones (FreeSolv seed 1: extratrees, CV 1.17 on two folds, ranked
first against an SVM at 1.63 on five; test RMSE 3.40 against 2.38 for the linear model).

Folds run in order, so every family k-fold searched has scored the first ``m`` folds, ``m`` the
fewest any of them finished. :func:`comparable_scores` gives each family its best trial's mean
over those ``m`` folds, and :func:`rank_families` ranks on it. When every best trial fitted every
fold this is the CV mean itself, and the ranking is unchanged. A family searched on the
validation rows (a holdout search) has one score, which is kept as it is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scifm.tuning.budget_clock import FamilySearch

__all__ = ["common_folds", "comparable_scores", "rank_families"]


def _fold_scores(search: FamilySearch) -> list[float]:
    return [float(s) for s in search.best.user_attrs.get("fold_scores") or []]


def common_folds(searches: Mapping[str, FamilySearch]) -> int:
    """The number of leading folds every k-fold searched family's best trial scored (0: none
    of them was k-fold searched, or one recorded no fold scores)."""
    counts = [len(_fold_scores(s)) for s in searches.values() if not s.holdout]
    return min(counts) if counts else 0


def comparable_scores(searches: Mapping[str, FamilySearch]) -> dict[str, float]:
    """``family -> score`` on the same folds: the mean of its best trial's first
    :func:`common_folds` fold scores (undefined folds left out), else its trial value."""
    m = common_folds(searches)
    out = {}
    for family, search in searches.items():
        value = float(search.best.value) if search.best.value is not None else math.nan
        scores = np.asarray(_fold_scores(search)[:m], dtype=np.float64)
        if not search.holdout and m and np.isfinite(scores).any():
            value = float(np.nanmean(scores))
        out[family] = value
    return out


def rank_families(searches: Mapping[str, FamilySearch], higher_is_better: bool) -> list[str]:
    """The families best first by :func:`comparable_scores` (NaN last; ties: given order)."""
    scores = comparable_scores(searches)

    def key(family: str) -> float:
        v = scores[family]
        return math.inf if v != v else (-v if higher_is_better else v)

    return sorted(searches, key=key)
