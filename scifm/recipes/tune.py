"""Recipe: tune — data file -> clean -> split -> CV search on train+val -> refit best -> evaluate.

The story of a tuning run:

1. read, clean, split and audit exactly as ``train`` does (same functions, same run files);
2. k folds over train+val, grouped by scaffold / similarity whatever the outer split
   (``automl.tune.cv``, :mod:`scifm.tuning.folds`); the test rows are never seen by the search;
3. an Optuna study (TPE seeded, median / successive-halving pruning on per-fold scores) created
   *before* optimising with ``load_if_exists=True``, so the same ``storage`` + ``study_name``
   resumes it (and parallel workers on one storage share it); budget = ``n_trials`` and/or
   ``time_budget`` seconds, over ``workers`` processes (:mod:`scifm.tuning.parallel`, which also
   says how to add workers on other machines with PostgreSQL storage);
4. the best parameters are written into the config, refitted on train (early stopping on val
   where the family supports it) and evaluated on test by :func:`scifm.models.fitting.fit_family`,
   giving a normal run directory that ``predict`` / ``evaluate`` read;
5. ``leaderboard.csv`` (every trial) and ``study.json`` beside it; MLflow: one parent run plus one
   nested run per trial.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from scifm.config.applicability import check_applicable
from scifm.config.load import save_config
from scifm.config.schema import ExperimentConfig
from scifm.data.clean import CleanDataset
from scifm.data.prepare import load_clean, split_and_audit
from scifm.errors import ScifmError
from scifm.evaluation.report import write_report
from scifm.evaluation.scoring import build_report_data
from scifm.models.fitting import fit_family
from scifm.rundir import RunContext, RunDir, RunResult
from scifm.staging import STUDY
from scifm.tuning.folds import search_folds, search_pool
from scifm.tuning.leaderboard import study_leaderboard, study_trial_records
from scifm.tuning.objective import CVObjective
from scifm.tuning.search import run_trials, start_from_defaults
from scifm.tuning.search_spaces import embed_folder, feature_choices, space_for
from scifm.tuning.study import (
    check_feature_choices,
    completed_trials,
    family_best,
    fixed_features,
    open_study,
    storage_url,
    study_summary,
    with_params,
)
from scifm.utils.extras import require_storage_driver
from scifm.utils.io import atomic_write_json, atomic_write_with

logger = logging.getLogger(__name__)

STUDY_JSON = "study.json"


@dataclass
class TuneResult(RunResult):
    """Outcome of :func:`tune` (``leaderboard`` and ``report`` are paths in ``run_dir``)."""

    family: str
    best_params: dict[str, Any]
    cv_mean: float
    cv_std: float
    metrics: dict[str, Any]
    n_trials: int
    mlflow_run_id: str | None = None


def tune(cfg: ExperimentConfig, command: str = "") -> TuneResult:
    """Tune ``cfg.automl.tune.family`` by cross-validation, refit the best, evaluate on test."""
    tc = cfg.automl.tune
    cfg = cfg.model_copy(deep=True)
    cfg.model.families = [tc.family]
    check_applicable(cfg, recipe="tune", families=[tc.family])
    embed_folder(cfg)  # a wrong encoder folder (automl.auto.embed): one line, first
    require_storage_driver(tc.storage)  # a missing extra: one line before any work
    # the study continues in the default storage of an earlier run in OUT (copied, not moved)
    with RunContext.open(cfg, command, carry=() if tc.storage else (STUDY,)) as ctx:
        run = ctx.run

        # 1. Data and split, as in train.
        cleaned = load_clean(cfg, run)
        ds = cleaned.dataset
        splits, leakage = split_and_audit(cfg, ds, run)

        # 2.-3. Cross-validation folds on train+val only; the study, created (or resumed)
        #       first, then optimised within the budget.
        pool = search_pool(splits)
        folds, cv_text = search_folds(ds, pool, cfg)
        study, objective, n_before = search(cfg, run, ds, pool, folds, cv_text)
        best = family_best(study)

        # 4. Refit the best configuration on train (early stopping on val), evaluate on test.
        best_cfg = with_params(cfg, tc.family, best.params)
        save_config(best_cfg, run.config)
        result = fit_family(tc.family, best_cfg, ds, splits, run)
        cv = {"metric": objective.metric, "mean": best.user_attrs.get("cv_mean"),
              "std": best.user_attrs.get("cv_std"), "folds": tc.folds, "method": cv_text,
              "fold_scores": best.user_attrs.get("fold_scores")}
        metrics = {**result.metrics, "model": tc.family, "cv": cv}
        atomic_write_json(run.metrics, metrics)
        atomic_write_json(run.history, {tc.family: result.history})
        summary = study_summary(study, cfg, run, objective.metric, objective.higher_is_better,
                                n_before, len(pool))
        summary["cv"] = cv_text
        if not tc.storage:  # the storage where the study will be once the run succeeded
            summary["storage"] = storage_url(cfg, RunDir(ctx.out))
        atomic_write_json(run.root / STUDY_JSON, summary)

        # 5. Report and tracking.
        data = build_report_data(best_cfg, cleaned, splits, leakage, {tc.family: result},
                                 metrics, command)
        data.extra_notes.append(
            f"Tuned by {cv_text} on train+val ({summary['n_trials']} "
            f"trials; best trial {best.number}: {objective.metric} {cv['mean']:.4f} ± "
            f"{cv['std']:.4f}); see {run.leaderboard.name}.")
        write_report(run.report, data)
        run_id = ctx.track(
            params=best_cfg.model_dump(mode="json"), histories={tc.family: result.history},
            final_metrics={"test": metrics["test"], "val": metrics.get("val", {}),
                           "cv": {"mean": cv["mean"], "std": cv["std"]}},
            artifacts=[run.report, run.metrics, run.config, run.leaderboard,
                       run.root / STUDY_JSON, run.model],
            trials=study_trial_records(study))
        return TuneResult(ctx.out, tc.family, dict(best.params), float(cv["mean"]),
                          float(cv["std"]), metrics, summary["n_trials"], run_id)


def search(cfg: ExperimentConfig, run: RunDir, ds: CleanDataset, pool: np.ndarray,
           folds: list[tuple[np.ndarray, np.ndarray]], cv_text: str | None = None,
           ) -> tuple[optuna.Study, CVObjective, int]:
    """Optimise the study of ``automl.tune.family`` on the pool's folds; write
    ``leaderboard.csv`` (its ``cv_folds`` column: ``cv_text``). Returns the study, its
    objective and the trials it had before."""
    tc, task = cfg.automl.tune, ds.task
    fixed = fixed_features(cfg, tc.family)
    objective = CVObjective(tc.family, task, cfg.data.modality, [ds.inputs[i] for i in pool],
                            ds.y[pool], folds, space_for(tc.family, task.task_type), fixed, cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(cfg, run, objective.direction)
    if fixed is None:
        check_feature_choices(study, feature_choices(cfg.data.modality, cfg))
    start_from_defaults(study, cfg, objective)
    n_before = len(study.trials)
    logger.info("study %r (%s): %d earlier trials; budget %s trials, %s s", study.study_name,
                storage_url(cfg, run), n_before, tc.n_trials, tc.time_budget)
    if tc.time_budget is not None:  # a trial still running then is cut (scifm.utils.deadline)
        objective.deadline = time.time() + tc.time_budget
    run_trials(study, cfg, run, objective, timeout=tc.time_budget, n_trials=tc.n_trials)
    board = study_leaderboard(study, cv_text)
    atomic_write_with(run.leaderboard, lambda p: board.to_csv(p, index=False))
    if not completed_trials(study):
        raise ScifmError(f"no trial of study {study.study_name!r} completed; "
                         f"see {run.leaderboard.name}")
    return study, objective, n_before

