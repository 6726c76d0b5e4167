"""The inner split a boosted-tree fold early-stops on in k-fold CV (:mod:`scifm.tuning.objective`).

The refit of a family that early-stops (``FamilySpec.early_stopping``) stops on the outer split's
validation rows; inside the search, each fold's training rows lend :data:`INNER_VAL_SHARE` of
themselves, as whole groups (scaffolds) when the folds are grouped, so that the CV scores a model
like the refit.
"""

from __future__ import annotations

import numpy as np

__all__ = ["INNER_VAL_SHARE", "MIN_INNER_ROWS", "inner_split"]


INNER_VAL_SHARE = 0.15
"""Share of a fold's training rows a family that early-stops (``FamilySpec.early_stopping``:
boosted trees) holds out to stop on, in k-fold CV. The refit stops on the outer split's val
rows; without an inner split each fold trained every round (LightGBM: 1,000 rounds, 4.7 s a fold
on ESOL, against about 250 rounds and 1.7 s early-stopped), so the CV scored a model unlike the
refit, and at 4x its cost."""
MIN_INNER_ROWS = 40
"""Fewest training rows in a fold for that inner split (fewer: every round is trained)."""


def inner_split(n: int, seed: int, groups: np.ndarray | None = None,
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, stop)`` positions in ``range(n)``, sorted: about :data:`INNER_VAL_SHARE` of the
    rows (at least one) to early-stop on, the rest to fit; seeded. With ``groups`` (ids per
    row, e.g. scaffolds) whole groups, in random order, no group above twice the share, so the
    stop rows are new groups, as the outer split's val rows are for the refit (random rows
    stop later: a random inner split let LightGBM run all 1,000 rounds on ESOL); random rows
    when no group fits."""
    rng = np.random.default_rng([int(seed) % 2**32, n])
    k = max(1, round(INNER_VAL_SHARE * n))
    stop: list[np.ndarray] = []
    if groups is not None:
        _, inverse = np.unique(np.asarray(groups), return_inverse=True)
        members = np.split(np.argsort(inverse, kind="stable"),
                           np.cumsum(np.bincount(inverse))[:-1])
        total = 0
        for g in rng.permutation(len(members)):
            if total >= k:
                break
            if total + len(members[g]) <= 2 * k:
                stop.append(members[g])
                total += len(members[g])
    if not stop or len(np.concatenate(stop)) >= n:
        stop = [rng.permutation(n)[:k]]
    held = np.zeros(n, dtype=bool)
    held[np.concatenate(stop)] = True
    return np.flatnonzero(~held), np.flatnonzero(held)
