"""The best K rows of a stream by one score, in bounded memory (K rows + one chunk).

Order: the score in the target's direction, ties broken by ``row_id`` (lower first), so the
result equals sorting the whole stream the same way and taking the first K; rows without a
score (NaN) never rank.

Exclusion (``scifm screen --exclude-flagged``) is lazy: ``keep(rows) -> bool mask`` is asked
only about rows that would enter the current top K, each row once, so an expensive check (RDKit
PAINS matching, ~1.5 ms a molecule) runs on a few rows per chunk instead of on the whole
library; the columns it adds (the flags) stay on the kept rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from scifm.screening.scores import Target

__all__ = ["Keep", "TopK", "ranked"]

Keep = Callable[[pd.DataFrame], tuple[np.ndarray, pd.DataFrame]]
"""``keep(rows) -> (mask, rows with their flag columns)``: which rows may rank."""


def ranked(frame: pd.DataFrame, target: Target) -> pd.DataFrame:
    """``frame``'s rows with a score, best first (ties: lower ``row_id`` first)."""
    score = frame[target.column].to_numpy(dtype=float)
    ok = ~np.isnan(score)
    frame, score = frame[ok], score[ok]
    key = -score if target.direction == "max" else score
    order = np.lexsort((frame["row_id"].to_numpy(), key))
    return frame.iloc[order]


class TopK:
    """The best ``k`` rows by ``target`` among the frames :meth:`add` was given.

    Parameters
    ----------
    k
        How many rows to keep.
    target
        The score column and direction.
    keep
        Optional lazy exclusion (see the module doc).
    """

    def __init__(self, k: int, target: Target, keep: Keep | None = None) -> None:
        self.k, self.target, self.keep = k, target, keep
        self.best: pd.DataFrame | None = None
        self.n_excluded = 0
        """Rows ``keep`` turned away."""

    def add(self, frame: pd.DataFrame) -> None:
        """Offer more rows (any order; ``row_id`` unique over the stream)."""
        if frame.empty:
            return
        frame = frame.assign(_checked=False) if self.keep else frame
        merged = frame if self.best is None else pd.concat([self.best, frame], ignore_index=True)
        merged = ranked(merged, self.target)
        if self.keep is not None:
            merged = self._keep(merged)
        self.best = merged.head(self.k).reset_index(drop=True)

    def _keep(self, merged: pd.DataFrame) -> pd.DataFrame:
        """Drop excluded rows until the first ``k`` rows are all checked and kept."""
        while True:
            head = merged.head(self.k)
            new = head.index[~head["_checked"].to_numpy(dtype=bool)]
            if len(new) == 0:
                return merged
            mask, checked = self.keep(merged.loc[new].drop(columns="_checked"))  # type: ignore
            checked = checked.assign(_checked=True)
            checked.index = new
            merged = pd.concat([merged.drop(index=new), checked])
            merged = merged.drop(index=new[~mask])
            self.n_excluded += int((~mask).sum())
            merged = ranked(merged, self.target)

    def result(self) -> pd.DataFrame:
        """The kept rows, best first, with ``target`` / ``rank`` / ``score`` columns in front."""
        best = self.best if self.best is not None else pd.DataFrame(columns=["row_id"])
        best = best.drop(columns="_checked", errors="ignore").reset_index(drop=True)
        front = pd.DataFrame({"target": [self.target.name] * len(best),
                              "rank": np.arange(1, len(best) + 1, dtype="int64"),
                              "score": best[self.target.column].to_numpy(dtype=float)
                              if len(best) else np.zeros(0)})
        return pd.concat([front, best], axis=1)
