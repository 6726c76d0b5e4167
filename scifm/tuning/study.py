"""Optuna studies as ``tune`` and ``auto`` use them: storage, creation / resumption, pruners,
per-trial logging, the leaderboard and a trial's parameters written back into the config.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import optuna
import pandas as pd

from scifm.errors import ConfigError
from scifm.models.registry import get_family
from scifm.tuning.parallel import resolve_storage

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.rundir import RunDir

logger = logging.getLogger(__name__)


def storage_url(cfg: ExperimentConfig, run: RunDir) -> str:
    """``automl.tune.storage``, or a SQLite file in the run directory."""
    return cfg.automl.tune.storage or f"sqlite:///{(run.root / 'optuna.db').resolve()}"


def completed_trials(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The trials of ``study`` that completed with a finite value."""
    return [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
            and t.value is not None and math.isfinite(t.value)]


def family_best(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The best completed trial among those that fitted the most folds.

    A trial cut by the time budget is scored on the folds it finished (FreeSolv: one fold of
    152 molecules), so its value is not comparable with a trial scored on all five, and it has
    no full out-of-fold predictions to combine; Optuna's ``best_trial`` would pick it whenever
    its few folds happened to be easy. Raises ``ValueError`` when no trial completed."""
    done = completed_trials(study)
    if not done:
        raise ValueError(f"study {study.study_name!r}: no completed trial")
    most = max(int(t.user_attrs.get("n_folds_done") or 0) for t in done)
    full = [t for t in done if int(t.user_attrs.get("n_folds_done") or 0) == most]
    sign = -1.0 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return min(full, key=lambda t: (sign * float(t.value), t.number))


def make_pruner(kind: str) -> optuna.pruners.BasePruner:
    """``median`` (after two trials), ``halving`` (successive halving) or ``none``."""
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def open_study(cfg: ExperimentConfig, run: RunDir, direction: str,
               name: str | None = None) -> optuna.Study:
    """Create the study, or load it when it exists (resume; parallel workers share it).

    Raises
    ------
    ConfigError
        The stored study optimises in the other direction.
    """
    tc = cfg.automl.tune
    name = name or tc.study_name or f"scifm-{tc.family}"
    storage = storage_url(cfg, run)
    study = optuna.create_study(storage=resolve_storage(storage), study_name=name,
                                direction=direction, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} in {storage} is set to {study.direction.name.lower()}, "
                          f"but {direction} is needed; use another --study-name")
    # a new sampler per call: seeded, offset by the trials already there so a resumed study
    # does not replay the same random start-up points
    study.sampler = optuna.samplers.TPESampler(seed=cfg.seed + len(study.trials),
                                               n_startup_trials=10)
    study.pruner = make_pruner(tc.pruner)
    return study


def trial_line(trial: optuna.trial.FrozenTrial) -> str:
    """``trial 7 complete: cv 0.8312 ± 0.0210 (3.1 s) {...params}``."""
    mean, std = trial.user_attrs.get("cv_mean"), trial.user_attrs.get("cv_std")
    score = f"{mean:.4f} ± {std:.4f}" if isinstance(mean, float) and mean == mean else "n/a"
    return (f"trial {trial.number} {trial.state.name.lower()}: cv {score} "
            f"({trial.user_attrs.get('fit_seconds')} s) {trial.params}")


def log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    """Optuna callback: one log line per finished trial (:func:`trial_line`)."""
    logger.info("%s", trial_line(trial))


def configured_features(cfg: ExperimentConfig, family: str) -> str:
    """The concrete feature set ``family`` uses under ``cfg`` (``auto`` resolved)."""
    from scifm.models.feature import resolve_features

    return resolve_features(family, cfg.model.features, cfg.data.modality)


def fixed_features(cfg: ExperimentConfig, family: str) -> str | None:
    """The feature set a search of ``family`` keeps fixed, or None when it searches the
    modality's feature sets (``automl.tune.tune_features`` and a family that reads features)."""
    if cfg.automl.tune.tune_features and get_family(family).uses_features:
        return None
    return configured_features(cfg, family)


def with_params(cfg: ExperimentConfig, family: str, params: dict[str, Any]) -> ExperimentConfig:
    """A copy of ``cfg`` whose ``params.<family>`` holds ``params`` (a searched ``features``
    goes to ``model.features``)."""
    params = dict(params)
    out = cfg.model_copy(deep=True)
    if "features" in params:
        out.model.features = params.pop("features")
    spec = get_family(family)
    current = cfg.params.get(family)
    base = current.model_dump() if current is not None else {}
    out.params = {**cfg.params, family: spec.params.model_validate({**base, **params})}
    return out


def study_summary(study: optuna.Study, cfg: ExperimentConfig, run: RunDir, metric: str,
                  higher_is_better: bool, n_before: int, n_pool: int) -> dict[str, Any]:
    """What ``study.json`` holds: the study, its budget, the best trial and the CV set-up."""
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    best = family_best(study)
    tc = cfg.automl.tune
    return {
        "study_name": study.study_name, "storage": storage_url(cfg, run),
        "family": tc.family, "direction": "maximize" if higher_is_better else "minimize",
        "metric": metric, "n_trials": len(study.trials),
        "n_trials_this_call": len(study.trials) - n_before, "states": states,
        "best_trial": best.number, "best_value": best.value, "best_params": best.params,
        "best_cv_std": best.user_attrs.get("cv_std"), "folds": tc.folds,
        "cv_rows": n_pool, "pruner": tc.pruner, "n_trials_budget": tc.n_trials,
        "time_budget": tc.time_budget, "seed": cfg.seed,
        "primary_metric_higher_is_better": higher_is_better,
    }


def check_feature_choices(study: optuna.Study, choices: list[str]) -> None:
    """Refuse to resume a study whose ``features`` were searched over other choices (Optuna
    cannot change a categorical's choices within a study; e.g. ``--embed`` added or removed).

    Raises
    ------
    ConfigError
        The stored trials used other feature-set choices.
    """
    for t in study.get_trials(deepcopy=False):
        dist = t.distributions.get("features")
        if isinstance(dist, optuna.distributions.CategoricalDistribution) and \
                list(dist.choices) != list(choices):
            raise ConfigError(
                f"study {study.study_name!r} searched the feature sets {list(dist.choices)}; "
                f"this run's are {list(choices)} (automl.auto.embed changed?): use another "
                "--study-name or --out")
