"""Running one search: a new study's first trial, then the budgeted, parallel optimisation.

``tune`` and ``auto`` open their studies (:func:`scifm.tuning.study.open_study`) and run them
with these two steps, so that every search starts and spends its budget the same way, and shows
it the same way (:class:`SearchProgress`: trials done, the running trial's fold, the time budget
left).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import optuna

from scifm.tuning.parallel import optimize
from scifm.tuning.search_spaces import default_trial
from scifm.tuning.study import make_pruner, storage_url, trial_line
from scifm.utils import progress

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.rundir import RunDir
    from scifm.tuning.objective import CVObjective

__all__ = ["SearchProgress", "run_trials", "start_from_defaults"]

logger = logging.getLogger(__name__)
_FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED,
             optuna.trial.TrialState.FAIL)


def start_from_defaults(study: optuna.Study, cfg: ExperimentConfig,
                        objective: CVObjective) -> None:
    """A new study's first trial: the family's default parameters (then the sampler explores)."""
    if not study.trials:
        params = default_trial(objective.family, objective.task.task_type, cfg.data.modality,
                               tune_features=objective.features is None)
        choices = getattr(objective, "choices", None)
        if choices and params.get("features") not in choices:
            params["features"] = choices[0]  # the default set is not searched here
        study.enqueue_trial(params)


class SearchProgress:
    """What a search shows while it runs: a bar of the trials finished (of ``n_trials``; every
    worker's), the running trial's fold (``lightgbm trial 7, fold 3/5 — 412 s of 600 s left``)
    and, as an Optuna callback, one log line per finished trial with the budget left.

    The objective calls :meth:`fold` in this process only (it is not pickled to the workers).
    """

    def __init__(self, study: optuna.Study, family: str, n_trials: int | None,
                 timeout: float | None, overall: tuple[float, float] | None = None) -> None:
        self.family, self.timeout, self.overall = family, timeout, overall
        self.started = time.monotonic()
        self.before = self._finished(study)
        self.done = 0
        self.bar = progress.start(f"{family}: search{self.left()}", total=n_trials,
                                  unit="trials")

    @staticmethod
    def _finished(study: optuna.Study) -> int:
        return len(study.get_trials(deepcopy=False, states=_FINISHED))

    def left(self) -> str:
        """`` — 412 s of 600 s left`` (nothing without a time budget); with an ``overall``
        budget (``scifm auto``: its deadline on the monotonic clock and its seconds) also
        `` (whole search: 1,500 s of 1,800 s left)``."""
        if self.timeout is None:
            return ""
        rest = max(0.0, self.timeout - (time.monotonic() - self.started))
        text = f" — {rest:.0f} s of {self.timeout:.0f} s left"
        if self.overall is not None:
            deadline, budget = self.overall
            text += (f" (whole search: {max(0.0, deadline - time.monotonic()):,.0f} s of "
                     f"{budget:,.0f} s left)")
        return text

    def fold(self, number: int, k: int, n_folds: int) -> None:
        """Trial ``number`` starts fold ``k`` (from 0) of ``n_folds``."""
        self.bar.update(description=f"{self.family} trial {number}, fold {k + 1}/{n_folds}"
                                    f"{self.left()}")

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        self.done = self._finished(study) - self.before
        logger.info("%s %s%s", self.family, trial_line(trial), self.left())
        self.bar.update(completed=self.done,
                        description=f"{self.family}: {self.done} trials done{self.left()}")

    def close(self) -> None:
        self.bar.close(f"{self.family}: {self.done} trials in "
                       f"{time.monotonic() - self.started:.0f} s")


def run_trials(study: optuna.Study, cfg: ExperimentConfig, run: RunDir, objective: CVObjective,
               timeout: float | None, n_trials: int | None,
               overall: tuple[float, float] | None = None) -> None:
    """Optimise ``study`` with ``n_trials`` trials and/or for ``timeout`` seconds on
    ``automl.tune.workers`` processes, with its pruner; a progress bar and one log line per
    trial."""
    tc = cfg.automl.tune
    workers = 1 if n_trials == 1 else tc.workers
    shown = SearchProgress(study, objective.family, n_trials, timeout, overall)
    objective.progress = shown
    try:
        optimize(study, storage_url(cfg, run), objective, n_trials=n_trials,
                 timeout=timeout, workers=workers, seed=cfg.seed,
                 pruner=make_pruner(tc.pruner), callbacks=[shown])
    finally:
        objective.progress = None
        shown.close()
