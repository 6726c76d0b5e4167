"""Cascade screening: a fast model scores the whole library, the full model re-scores the best
fraction, and the cascade's recall against full scoring is measured on a random sample.

With ``n`` scored rows, ``K`` hits per target and ``--rescore-top F``, the full model re-scores
``m = max(K, ceil(F n))`` rows per target (the best by the fast model, ties by row id; the union
over targets), and the hits are the best K of those by the full model.

Recall: ``S`` is a uniform random sample of ``min(N, n)`` scored rows (``--recall-sample N``,
seeded), all scored by the full model as well. For each target, the reference rows are the best
``r`` rows of ``S`` by the full model, and the recall is the share of them that the cascade
re-scored (so that it could rank them):

* ``recall``: ``r = max(1, ceil(|S| K / n))``, the sample's share of the hits — what a user
  loses: the share of full scoring's hits that the cascade also finds;
* ``recall_at_rescore``: ``r = max(1, ceil(|S| m / n))``, the re-scored share (more reference
  rows, so a steadier estimate of how well the fast model ranks).

Each comes with its ``r`` (few reference rows: a coarse estimate). ``--recall-sample N`` >= n
measures the exact recall of this library. Molecule filters play no part in the recall.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from scifm.screening.scores import Target
from scifm.screening.topk import ranked

__all__ = ["cascade_recall", "rescore_count", "sample_positions"]


def rescore_count(n_scored: int, fraction: float, k: int) -> int:
    """``m``: rows per target the full model re-scores (at least ``k``, at most ``n``)."""
    return min(n_scored, max(k, math.ceil(fraction * n_scored)))


def sample_positions(n_scored: int, size: int, seed: int) -> np.ndarray:
    """Sorted positions (0-based, among the scored rows in row order) of the recall sample."""
    size = min(size, n_scored)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_scored, size=size, replace=False)) if size else np.zeros(0, int)


def _share(sample: pd.DataFrame, target: Target, r: int, rescored: np.ndarray) -> float:
    best = ranked(sample, target).head(r)
    return float(np.isin(best["row_id"].to_numpy(), rescored).mean()) if len(best) else math.nan


def cascade_recall(sample: pd.DataFrame, targets: list[Target], rescored: np.ndarray,
                   n_scored: int, k: int, m: int) -> dict[str, dict[str, float | int]]:
    """Per target: the recall of the cascade on the sample (see the module doc).

    Parameters
    ----------
    sample
        The sampled rows' ``row_id`` and full-model score columns.
    targets
        The rankings.
    rescored
        Row ids the full model re-scored (the union over targets).
    n_scored, k, m
        Scored rows, hits per target, re-scored rows per target.
    """
    size = len(sample)
    out: dict[str, dict[str, float | int]] = {}
    for target in targets:
        r_hits = min(size, max(1, math.ceil(size * k / max(n_scored, 1))))
        r_top = min(size, max(1, math.ceil(size * m / max(n_scored, 1))))
        out[target.name] = {"recall": _share(sample, target, r_hits, rescored),
                            "n_reference": r_hits,
                            "recall_at_rescore": _share(sample, target, r_top, rescored),
                            "n_reference_rescore": r_top}
    return out
