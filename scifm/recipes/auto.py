"""Recipe: auto — data file -> clean -> split -> one CV search per family -> refit -> ensemble.

The story of an AutoML run:

1. read, clean, split and audit exactly as ``train`` does (same functions, same run files);
2. k folds over train+val, grouped by scaffold / similarity whatever the outer split
   (``automl.tune.cv``, :mod:`scifm.tuning.folds`); the test rows are never seen by the search;
3. one Optuna study per family (``<study name>-<family>``, all in one storage, each created before
   its workers start; ``automl.tune.workers`` processes per study, :mod:`scifm.tuning.parallel`).
   Budget: ``automl.tune.n_trials`` trials per family and/or ``automl.tune.time_budget`` seconds
   for the whole search, shared out family by family (a family that finishes early leaves its
   time to the next ones; every family gets at least one trial). The best trial of each family
   keeps its out-of-fold (OOF) predictions;
4. ensemble: greedy (Caruana) weights over the OOF predictions of the ``top_k`` families, scored
   cross-fitted on the same folds as the best single family (:mod:`scifm.tuning.ensembling`); the
   ensemble is the winner only if it is better out of fold. Nothing here looks at the test set;
5. each family's best configuration is refitted on train (early stopping on val where the family
   supports it) and evaluated on test with bootstrap CIs (``families/<family>/``); the ensemble
   is built from those refits (``families/ensemble/``: ``model/members/<family>/`` + weights);
6. the winner is copied to the top of the run directory (``model/``, ``predictions_test.csv``,
   ``metrics.json``), so ``predict`` and ``evaluate`` read it like any run (``oof/`` keeps each
   completed trial's out-of-fold predictions as ``.npy``); ``leaderboard.csv``
   lists every trial of every family and the finals; the report adds a leaderboard section and
   paired bootstrap comparisons (winner vs runner-up, winner vs the best single family);
7. MLflow: one parent run and one nested run per trial.

The transformer is not searched: a k-fold CV of a transformer costs k full fine-tunings per trial,
which no ``auto`` budget on CPU affords; train it with ``scifm train --model transformer`` and
compare runs with ``scifm evaluate``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from scifm.config.applicability import check_applicable
from scifm.config.schema import ExperimentConfig
from scifm.data.clean import CleanDataset
from scifm.data.prepare import load_clean, split_and_audit
from scifm.errors import ScifmError
from scifm.evaluation.metrics import paired_bootstrap, primary_metric
from scifm.evaluation.report import write_report
from scifm.evaluation.scoring import FamilyResult, build_report_data
from scifm.models.ensemble import EnsemblePredictor
from scifm.models.fitting import fit_family, save_and_score
from scifm.models.registry import auto_families, load_predictor
from scifm.rundir import RunContext, RunDir, RunResult
from scifm.staging import STUDY
from scifm.tasks import TaskSpec
from scifm.tuning.ensembling import EnsembleChoice, choose_ensemble
from scifm.tuning.folds import search_folds, search_pool
from scifm.tuning.leaderboard import auto_leaderboard, trial_records
from scifm.tuning.objective import CVObjective
from scifm.tuning.search import run_trials, start_from_defaults
from scifm.tuning.search_spaces import space_for
from scifm.tuning.study import (
    completed_trials,
    fixed_features,
    open_study,
    with_params,
)
from scifm.utils.extras import require_storage_driver
from scifm.utils.io import atomic_write_json, atomic_write_with

logger = logging.getLogger(__name__)

ENSEMBLE = "ensemble"
OOF_DIR = "oof"


@dataclass
class FamilySearch:
    """One family's study and its best trial's out-of-fold predictions."""

    family: str
    study: optuna.Study
    best: optuna.trial.FrozenTrial
    oof: np.ndarray


@dataclass
class AutoResult(RunResult):
    """Outcome of :func:`auto` (``leaderboard`` and ``report`` are paths in ``run_dir``)."""

    winner: str
    metrics: dict[str, Any]
    searches: dict[str, FamilySearch]
    ensemble: EnsembleChoice
    mlflow_run_id: str | None = None


def auto(cfg: ExperimentConfig, command: str = "") -> AutoResult:
    """Search every family by cross-validation, refit, ensemble, evaluate on test, report."""
    tc, ac = cfg.automl.tune, cfg.automl.auto
    families = list(ac.families or auto_families())
    check_applicable(cfg, recipe="auto", families=families)
    require_storage_driver(tc.storage)  # a missing extra: one line before any work
    # the studies (default storage) and out-of-fold predictions of an earlier run in OUT go on
    carry = (OOF_DIR,) if tc.storage else (STUDY, OOF_DIR)
    with RunContext.open(cfg, command, carry=carry) as ctx:
        run = ctx.run

        # 1. Data and split, as in train.
        cleaned = load_clean(cfg, run)
        ds, task = cleaned.dataset, cleaned.dataset.task
        splits, leakage = split_and_audit(cfg, ds, run)
        metric, higher = primary_metric(task)

        # 2.-3. Cross-validation folds on train+val only; one study per family.
        pool = search_pool(splits)
        folds, cv_text = search_folds(ds, pool, cfg)
        searches = search_families(cfg, run, families, ds, pool, folds)

        # 4. Ensemble of the top-k families vs the best single family, out of fold.
        ranked = sorted(searches, key=lambda f: _cv(searches[f]), reverse=higher)
        top = ranked[:ac.top_k]
        choice = choose_ensemble(task, ds.y[pool], {f: searches[f].oof for f in top}, metric,
                                 higher, folds, ac.ensemble_rounds) if ac.ensemble \
            else EnsembleChoice({})
        winner = ENSEMBLE if choice.keep else ranked[0]

        # 5. Refit on train (early stopping on val) and evaluate on test: the ensemble's
        #    members and the two best single families (for the paired comparisons), or all.
        needed = set(choice.weights) | set(ranked[:2])
        results: dict[str, FamilyResult] = {}
        for family in [f for f in ranked if ac.refit == "all" or f in needed]:
            fam_cfg = with_params(cfg, family, searches[family].best.params)
            results[family] = fit_family(family, fam_cfg, ds, splits, run.family(family))
        if choice.weights and len(choice.weights) > 1:
            results[ENSEMBLE] = fit_ensemble(choice.weights, results, cfg, ds, splits,
                                             run.family(ENSEMBLE))

        # 6. The winner goes to the top of the run directory; leaderboard and metrics.
        run.promote(results[winner].run)
        metrics, board, cv_of = summarise(cfg, run, task, searches, results, choice, winner,
                                          ranked, ds.y[splits["test"]], cv_text)

        # 7. Report and tracking.
        data = build_report_data(cfg, cleaned, splits, leakage, results, metrics, command)
        data.extra_notes[:] = [_selection_note(winner, choice, metric, ranked[0], cv_of),
                               f"Cross-validation: {cv_text} on train+val."]
        data.leaderboard = board.to_dict(orient="records")
        write_report(run.report, data)
        run_id = ctx.track(
            histories={f: r.history for f, r in results.items()},
            final_metrics={"test": metrics["test"], "val": metrics.get("val", {}),
                           "cv": {"mean": metrics["cv"]["mean"]}},
            artifacts=[run.report, run.metrics, run.config, run.leaderboard, run.model],
            trials=trial_records({f: s.study for f, s in searches.items()}))
        return AutoResult(ctx.out, winner, metrics, searches, choice, run_id)


def search_families(cfg: ExperimentConfig, run: RunDir, families: list[str], ds: CleanDataset,
                    pool: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                    ) -> dict[str, FamilySearch]:
    """One study per family in one storage; the time budget is shared out as it goes (a family
    that finishes early leaves its time to the next ones)."""
    tc, task = cfg.automl.tune, ds.task
    x_pool, y_pool = [ds.inputs[i] for i in pool], ds.y[pool]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    deadline = time.monotonic() + tc.time_budget if tc.time_budget else None
    searches: dict[str, FamilySearch] = {}
    features_of_pool: OrderedDict[str, Any] = OrderedDict()  # shared by the families
    for i, family in enumerate(families):
        fixed = fixed_features(cfg, family)
        objective = CVObjective(family, task, cfg.data.modality, x_pool, y_pool, folds,
                                space_for(family, task.task_type), fixed, cfg,
                                oof_dir=run.root / OOF_DIR, feature_cache=features_of_pool)
        study = open_study(cfg, run, objective.direction,
                           name=f"{tc.study_name or 'scifm-auto'}-{family}")
        start_from_defaults(study, cfg, objective)
        timeout = (None if deadline is None
                   else max(1.0, (deadline - time.monotonic()) / (len(families) - i)))
        objective.deadline = None if timeout is None else time.time() + timeout
        logger.info("searching %s: %s trials, %s s (%d workers)", family, tc.n_trials,
                    None if timeout is None else round(timeout), tc.workers)
        run_trials(study, cfg, run, objective, timeout,
                   overall=None if deadline is None else (deadline, float(tc.time_budget)))
        found = _best_with_oof(study, objective)
        if found is None:
            logger.warning("%s: no trial completed; left out", family)
            continue
        searches[family] = FamilySearch(family, study, *found)
    if not searches:
        raise ScifmError(f"no family completed a trial; see {run.leaderboard.name}")
    return searches


def summarise(cfg: ExperimentConfig, run: RunDir, task: TaskSpec,
              searches: dict[str, FamilySearch], results: dict[str, FamilyResult],
              choice: EnsembleChoice, winner: str, ranked: list[str], y_test: np.ndarray,
              cv_text: str | None = None,
              ) -> tuple[dict[str, Any], Any, dict[str, tuple[float, Any]]]:
    """Write ``leaderboard.csv``, ``metrics.json`` and ``history.json``; returns the metrics,
    the leaderboard and each family's (CV mean, CV std)."""
    metric, higher = primary_metric(task)
    cv_of = {f: (_cv(s), s.best.user_attrs.get("cv_std")) for f, s in searches.items()}
    if ENSEMBLE in results:
        cv_of[ENSEMBLE] = (choice.cv_mean, choice.cv_std)
    order = sorted(cv_of, key=lambda f: cv_of[f][0] if cv_of[f][0] == cv_of[f][0]
                   else (-math.inf if higher else math.inf), reverse=higher)
    comparisons = compare_winner(winner, order, results, y_test, task, cfg)
    board = auto_leaderboard({f: s.study for f, s in searches.items()},
                             {f: s.best.number for f, s in searches.items()},
                             {f: r.metrics.get("test", {}) for f, r in results.items()},
                             metric, winner, choice, results, higher, cv=cv_text)
    atomic_write_with(run.leaderboard, lambda p: board.to_csv(p, index=False))
    metrics = {**results[winner].metrics, "model": winner,
               "cv": {"metric": metric, "folds": cfg.automl.tune.folds, "method": cv_text,
                      "mean": cv_of[winner][0], "std": cv_of[winner][1]},
               "selection": {"winner": winner, "kind": ENSEMBLE if winner == ENSEMBLE
                             else "single", "by": f"out-of-fold {metric} on train+val",
                             "ensemble_weights": choice.weights,
                             "ensemble_cv_mean": choice.cv_mean,
                             "best_single": choice.best_single or ranked[0],
                             "best_single_cv_mean": cv_of[ranked[0]][0]},
               "families": {f: r.metrics for f, r in results.items()},
               "best_params": {f: s.best.params for f, s in searches.items()},
               "comparison": comparisons}
    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, {f: r.history for f, r in results.items()})
    return metrics, board, cv_of


def _cv(search: FamilySearch) -> float:
    return float(search.best.value) if search.best.value is not None else math.nan


def _best_with_oof(study: optuna.Study, objective: CVObjective
                   ) -> tuple[optuna.trial.FrozenTrial, np.ndarray] | None:
    """The best completed trial and its OOF predictions (recomputed when its file is not here,
    e.g. the trial ran on another machine)."""
    if not completed_trials(study):
        return None
    best = study.best_trial
    file = objective.oof_file(study.study_name, best.number)
    if file is not None and file.is_file():
        return best, np.load(file, allow_pickle=False)
    logger.info("%s: recomputing the out-of-fold predictions of trial %d", objective.family,
                best.number)
    return best, objective.oof_predictions(best.params)


def fit_ensemble(weights: dict[str, float], results: dict[str, FamilyResult],
                 cfg: ExperimentConfig, ds: CleanDataset, splits: dict[str, np.ndarray],
                 run: RunDir) -> FamilyResult:
    """The weighted average of the refitted members: saved (members + weights), evaluated."""
    members = {f: load_predictor(results[f].run.model) for f in weights}
    model = EnsemblePredictor(ds.task, cfg.data.modality, members, weights)
    fit_s = sum(results[f].fit_seconds for f in weights)
    result = save_and_score(ENSEMBLE, model, cfg, ds, splits, run, fit_s,
                            extra={"weights": model.weights})
    result.history = []
    return result


def compare_winner(winner: str, order: list[str], results: dict[str, FamilyResult],
                   y_test: np.ndarray, task: Any, cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Paired bootstrap on the test rows: winner vs runner-up (next by CV) and winner vs the best
    single family (when that is another model)."""
    metric, _ = primary_metric(task)
    others = [f for f in order if f != winner and f in results]
    singles = [f for f in others if f != ENSEMBLE]
    pairs: list[tuple[str, str]] = []
    for role, other in (("runner-up", others[:1]), ("best single family", singles[:1])):
        if other and other[0] not in [b for _, b in pairs]:
            pairs.append((role, other[0]))
    out = []
    for role, other in pairs:
        if not len(y_test):
            break
        cmp = paired_bootstrap(task, y_test, results[winner].y_test_pred,
                               results[other].y_test_pred, metric, ci=cfg.eval.ci,
                               n_bootstrap=cfg.eval.n_bootstrap, seed=cfg.seed, name_a=winner,
                               name_b=other)
        out.append({**cmp, "role": role})
    return out


def _selection_note(winner: str, choice: EnsembleChoice, metric: str, best_single: str,
                    cv_of: dict[str, tuple[float, Any]]) -> str:
    if winner == ENSEMBLE:
        weights = json.dumps({f: round(w, 3) for f, w in choice.weights.items()})
        return (f"Selected: the weighted-average ensemble {weights} (cross-fitted out-of-fold "
                f"{metric} {choice.cv_mean:.4f} vs the best single family {choice.best_single} "
                f"{choice.single_mean:.4f}); the test set played no part in the choice.")
    note = (f"Selected: the single family {best_single} (best out-of-fold {metric} "
            f"{cv_of[best_single][0]:.4f}")
    if choice.weights and len(choice.weights) > 1:
        note += (f"; the ensemble scored {choice.cv_mean:.4f} cross-fitted, not better, so it "
                 "is reported but not selected")
    return note + "); the test set played no part in the choice."
