"""Running one search: a new study's first trial, then the budgeted, parallel optimisation.

``tune`` and ``auto`` open their studies (:func:`scifm.tuning.study.open_study`) and run them
with these two steps, so that every search starts and spends its budget the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna

from scifm.tuning.parallel import optimize
from scifm.tuning.search_spaces import default_trial
from scifm.tuning.study import log_trial, make_pruner, storage_url

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.rundir import RunDir
    from scifm.tuning.objective import CVObjective

__all__ = ["run_trials", "start_from_defaults"]


def start_from_defaults(study: optuna.Study, cfg: ExperimentConfig,
                        objective: CVObjective) -> None:
    """A new study's first trial: the family's default parameters (then the sampler explores)."""
    if not study.trials:
        study.enqueue_trial(default_trial(objective.family, objective.task.task_type,
                                          cfg.data.modality,
                                          tune_features=objective.features is None))


def run_trials(study: optuna.Study, cfg: ExperimentConfig, run: RunDir, objective: CVObjective,
               timeout: float | None) -> None:
    """Optimise ``study`` within ``automl.tune``'s budget (``n_trials``, and ``timeout`` seconds)
    on its ``workers`` processes, with its pruner; one log line per trial."""
    tc = cfg.automl.tune
    optimize(study, storage_url(cfg, run), objective, n_trials=tc.n_trials, timeout=timeout,
             workers=tc.workers, seed=cfg.seed, pruner=make_pruner(tc.pruner),
             callbacks=[log_trial])
