"""Recipe: tune — data file -> clean -> split -> CV search on train+val -> refit best -> evaluate.

The story of a tuning run:

1. read, clean, split and audit exactly as ``train`` does (same functions, same run files);
2. k folds over train+val with the run's split strategy (:mod:`scifm.tuning.objective`); the
   test rows are never seen by the search;
3. an Optuna study (TPE seeded, median / successive-halving pruning on per-fold scores) created
   *before* optimising with ``load_if_exists=True``, so the same ``storage`` + ``study_name``
   resumes it (and parallel workers on one storage share it); budget = ``n_trials`` and/or
   ``time_budget`` seconds, over ``workers`` processes (:mod:`scifm.tuning.parallel`, which also
   says how to add workers on other machines with PostgreSQL storage);
4. the best parameters are written into the config, refitted on train (early stopping on val
   where the family supports it) and evaluated on test by :func:`scifm.recipes.train.fit_family`,
   giving a normal run directory that ``predict`` / ``evaluate`` read;
5. ``leaderboard.csv`` (every trial) and ``study.json`` beside it; MLflow: one parent run plus one
   nested run per trial.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from scifm.config.load import save_config
from scifm.config.schema import ExperimentConfig, LightGBMConfig
from scifm.errors import ConfigError, ScifmError
from scifm.evaluation.metrics import primary_metric
from scifm.evaluation.report import write_report
from scifm.models import FEATURE_FAMILIES
from scifm.recipes.common import attach_run_log
from scifm.recipes.train import build_report_data, fit_family, load_clean, split_and_audit
from scifm.rundir import RunDir
from scifm.tracking.mlflow import log_run, log_trials
from scifm.tuning.objective import CVObjective, cv_folds
from scifm.tuning.parallel import optimize, resolve_storage
from scifm.tuning.search_spaces import default_trial, space_for
from scifm.utils.io import atomic_write_json, atomic_write_with
from scifm.utils.seed import seed_everything

logger = logging.getLogger(__name__)

TUNABLE = ("lightgbm", *FEATURE_FAMILIES)
LEADERBOARD = "leaderboard.csv"
STUDY_JSON = "study.json"


@dataclass
class TuneResult:
    """Outcome of :func:`tune`."""

    run_dir: Path
    family: str
    best_params: dict[str, Any]
    cv_mean: float
    cv_std: float
    metrics: dict[str, Any]
    n_trials: int
    mlflow_run_id: str | None = None

    @property
    def leaderboard(self) -> Path:
        return self.run_dir / LEADERBOARD


def tune(cfg: ExperimentConfig, command: str = "") -> TuneResult:
    """Tune ``cfg.automl.tune.family`` by cross-validation, refit the best, evaluate on test."""
    run = RunDir(Path(cfg.out))
    run.root.mkdir(parents=True, exist_ok=True)
    detach_log = attach_run_log(run.log)
    try:
        return _tune(cfg, run, command)
    finally:
        detach_log()


def _tune(cfg: ExperimentConfig, run: RunDir, command: str) -> TuneResult:
    tc = cfg.automl.tune
    if tc.family not in TUNABLE:
        raise ConfigError(f"automl.tune.family: cannot tune {tc.family!r}; expected one of "
                          f"{TUNABLE}")
    cfg = cfg.model_copy(deep=True)
    cfg.model.family = tc.family
    save_config(cfg, run.config)
    seed_everything(cfg.seed)

    # 1. Data and split, as in train.
    cleaned = load_clean(cfg, run)
    ds, task = cleaned.dataset, cleaned.dataset.task
    splits, leakage = split_and_audit(cfg, ds, run)

    # 2. Cross-validation folds on train+val only.
    pool, folds = cv_folds(ds, splits, cfg, tc.folds)
    fixed = None if tc.tune_features else _configured_features(cfg, tc.family)
    objective = CVObjective(tc.family, task, cfg.data.modality, [ds.inputs[i] for i in pool],
                            ds.y[pool], folds, space_for(tc.family, task.task_type), fixed, cfg)

    # 3. The study: created (or resumed) first, then optimised within the budget.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, run, objective.direction)
    if not study.trials:  # start from the family's defaults, then explore
        study.enqueue_trial(default_trial(tc.family, task.task_type, cfg.data.modality,
                                          tune_features=objective.features is None))
    n_before = len(study.trials)
    logger.info("study %r (%s): %d earlier trials; budget %s trials, %s s", study.study_name,
                _storage_url(cfg, run), n_before, tc.n_trials, tc.time_budget)
    optimize(study, _storage_url(cfg, run), objective, n_trials=tc.n_trials,
             timeout=tc.time_budget, workers=tc.workers, seed=cfg.seed,
             pruner=_pruner(tc.pruner), callbacks=[_log_trial])
    board = leaderboard(study)
    atomic_write_with(run.root / LEADERBOARD, lambda p: board.to_csv(p, index=False))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
            and t.value is not None and math.isfinite(t.value)]
    if not done:
        raise ScifmError(f"no trial of study {study.study_name!r} completed; see {LEADERBOARD}")
    best = study.best_trial

    # 4. Refit the best configuration on train (early stopping on val), evaluate on test.
    best_cfg = with_params(cfg, tc.family, best.params)
    save_config(best_cfg, run.config)
    result = fit_family(tc.family, best_cfg, cleaned, splits, run)
    cv = {"metric": objective.metric, "mean": best.user_attrs.get("cv_mean"),
          "std": best.user_attrs.get("cv_std"), "folds": tc.folds,
          "fold_scores": best.user_attrs.get("fold_scores")}
    metrics = {**result.metrics, "model": tc.family, "cv": cv}
    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, {tc.family: result.history})
    summary = study_summary(study, cfg, run, objective, n_before, len(pool))
    atomic_write_json(run.root / STUDY_JSON, summary)

    # 5. Report and tracking.
    data = build_report_data(best_cfg, cleaned, splits, leakage, {tc.family: result}, metrics,
                             command)
    data.extra_notes.append(
        f"Tuned by {tc.folds}-fold cross-validation on train+val ({summary['n_trials']} trials; "
        f"best trial {best.number}: {objective.metric} {cv['mean']:.4f} ± {cv['std']:.4f}); "
        f"see {LEADERBOARD}.")
    write_report(run.report, data)
    run_id = None
    if cfg.tracking.enabled:
        run_id = log_run(
            run_dir=run.root, uri=cfg.tracking.uri, experiment=cfg.tracking.experiment,
            run_name=run.root.name, params=best_cfg.model_dump(mode="json"),
            histories={tc.family: result.history},
            final_metrics={"test": metrics["test"], "val": metrics.get("val", {}),
                           "cv": {"mean": cv["mean"], "std": cv["std"]}},
            artifacts=[run.report, run.metrics, run.config, run.root / LEADERBOARD,
                       run.root / STUDY_JSON, run.model])
        log_trials(uri=cfg.tracking.uri, run_dir=run.root, parent_run_id=run_id,
                   trials=_trial_records(study))
    return TuneResult(run.root, tc.family, dict(best.params), float(cv["mean"]),
                      float(cv["std"]), metrics, summary["n_trials"], run_id)


def _storage_url(cfg: ExperimentConfig, run: RunDir) -> str:
    return cfg.automl.tune.storage or f"sqlite:///{(run.root / 'optuna.db').resolve()}"


def open_study(cfg: ExperimentConfig, run: RunDir, direction: str) -> optuna.Study:
    """Create the study, or load it when it exists (resume; parallel workers share it)."""
    tc = cfg.automl.tune
    name = tc.study_name or f"scifm-{tc.family}"
    storage = _storage_url(cfg, run)
    study = optuna.create_study(storage=resolve_storage(storage), study_name=name,
                                direction=direction, load_if_exists=True)
    if study.direction.name.lower() != direction:
        raise ConfigError(f"study {name!r} in {storage} is set to {study.direction.name.lower()}, "
                          f"but {direction} is needed; use another --study-name")
    # a new sampler per call: seeded, offset by the trials already there so a resumed study
    # does not replay the same random start-up points
    study.sampler = optuna.samplers.TPESampler(seed=cfg.seed + len(study.trials),
                                               n_startup_trials=10)
    study.pruner = _pruner(tc.pruner)
    return study


def _pruner(kind: str) -> optuna.pruners.BasePruner:
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if kind == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _configured_features(cfg: ExperimentConfig, family: str) -> str:
    if family == "lightgbm":
        return cfg.lightgbm.features
    from scifm.models.feature import resolve_features

    return resolve_features(family, cfg.automl.features, cfg.data.modality)


def with_params(cfg: ExperimentConfig, family: str, params: dict[str, Any]) -> ExperimentConfig:
    """A copy of ``cfg`` whose family section holds ``params`` (``features`` included)."""
    params = dict(params)
    out = cfg.model_copy(deep=True)
    if family == "lightgbm":
        out.lightgbm = LightGBMConfig.model_validate({**cfg.lightgbm.model_dump(), **params})
        return out
    if "features" in params:
        out.automl.features = params.pop("features")
    out.automl.params = {**cfg.automl.params, **params}
    return out


def leaderboard(study: optuna.Study) -> pd.DataFrame:
    """One row per trial, best first: number, state, cv mean / std, fit seconds, parameters."""
    rows = []
    for t in study.trials:
        rows.append({"trial": t.number, "state": t.state.name,
                     "cv_mean": t.user_attrs.get("cv_mean"), "cv_std": t.user_attrs.get("cv_std"),
                     "folds_done": t.user_attrs.get("n_folds_done"),
                     "fit_seconds": t.user_attrs.get("fit_seconds"),
                     **{f"param_{k}": v for k, v in t.params.items()}})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    ascending = study.direction == optuna.study.StudyDirection.MINIMIZE
    frame["_complete"] = frame["state"] == "COMPLETE"
    frame = frame.sort_values(["_complete", "cv_mean"], ascending=[False, ascending],
                              na_position="last", kind="stable")
    return frame.drop(columns="_complete").reset_index(drop=True)


def study_summary(study: optuna.Study, cfg: ExperimentConfig, run: RunDir,
                  objective: CVObjective, n_before: int, n_pool: int) -> dict[str, Any]:
    """What ``study.json`` holds: the study, its budget, the best trial and the CV set-up."""
    states = pd.Series([t.state.name for t in study.trials]).value_counts().to_dict()
    best = study.best_trial
    return {
        "study_name": study.study_name, "storage": _storage_url(cfg, run),
        "family": cfg.automl.tune.family, "direction": objective.direction,
        "metric": objective.metric, "n_trials": len(study.trials),
        "n_trials_this_call": len(study.trials) - n_before, "states": states,
        "best_trial": best.number, "best_value": best.value, "best_params": best.params,
        "best_cv_std": best.user_attrs.get("cv_std"), "folds": cfg.automl.tune.folds,
        "cv_rows": n_pool, "pruner": cfg.automl.tune.pruner,
        "n_trials_budget": cfg.automl.tune.n_trials,
        "time_budget": cfg.automl.tune.time_budget, "seed": cfg.seed,
        "primary_metric_higher_is_better": primary_metric(objective.task)[1],
    }


def _trial_records(study: optuna.Study) -> list[dict[str, Any]]:
    return [{"number": t.number, "state": t.state.name, "params": t.params,
             "metrics": {k: t.user_attrs[k] for k in ("cv_mean", "cv_std", "fit_seconds")
                         if isinstance(t.user_attrs.get(k), (int, float))},
             "fold_scores": t.user_attrs.get("fold_scores", [])} for t in study.trials]


def _log_trial(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
    mean, std = trial.user_attrs.get("cv_mean"), trial.user_attrs.get("cv_std")
    score = f"{mean:.4f} ± {std:.4f}" if isinstance(mean, float) and mean == mean else "n/a"
    logger.info("trial %d %s: cv %s (%s s) %s", trial.number, trial.state.name.lower(), score,
                trial.user_attrs.get("fit_seconds"), trial.params)
