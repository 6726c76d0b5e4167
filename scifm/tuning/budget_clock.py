"""The two things an ``auto`` search's budget arithmetic reads: one family's search result
(:class:`FamilySearch`) and the run's clock (:class:`RunClock`). Kept apart from
:mod:`scifm.tuning.portfolio` so that :mod:`scifm.tuning.ranking` and :mod:`scifm.tuning.tail`
can read them without importing the search."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import optuna

__all__ = ["FamilySearch", "RunClock"]


@dataclass
class FamilySearch:
    """One family's study and its best trial's out-of-fold predictions."""

    family: str
    study: optuna.Study
    best: optuna.trial.FrozenTrial
    oof: np.ndarray
    holdout: bool = False
    """Scored on the outer split's validation rows (one fit; ``oof`` is NaN on the train
    rows), not by k-fold CV (a family registered ``auto_holdout``)."""
    model_dir: Path | None = None
    """The best holdout trial's fitted predictor: the refit, reused as it is."""

    @property
    def complete(self) -> bool:
        """Whether every fold of the best trial was fitted (a trial cut by the time budget is
        scored on fewer folds; its out-of-fold predictions then have NaN rows); a holdout
        search: whether its one fit was done."""
        if self.holdout:
            return bool(np.isfinite(self.oof).any())
        return bool(np.isfinite(self.oof).all())

    @property
    def folds_done(self) -> int:
        """Folds the best trial finished (1 for a holdout search's one fit)."""
        return int(self.best.user_attrs.get("n_folds_done") or (1 if self.holdout else 0))

    @property
    def fold_seconds(self) -> float:
        """Seconds the best trial took per fold it finished (a cut one's last fold not counted)."""
        a, done = self.best.user_attrs, self.best.user_attrs.get("n_folds_done") or 1
        return float(a.get("folds_seconds") or a.get("fit_seconds") or 0.0) / done


class RunClock:
    """The time budget of a whole run, counted from ``started`` (``time.monotonic()``; default:
    now), less ``reserve`` seconds kept for after the run (a command's process exit);
    ``seconds=None``: no budget (``left()`` is infinite)."""

    def __init__(self, seconds: float | None, started: float | None = None,
                 reserve: float = 0.0) -> None:
        self.seconds, self.reserve = seconds, reserve
        self.started = time.monotonic() if started is None else started

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds left (may be negative; infinite without a budget)."""
        return math.inf if self.seconds is None else self.seconds - self.reserve - self.elapsed()
