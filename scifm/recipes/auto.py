"""Recipe: auto — data file -> clean -> split -> one CV search per family -> refit -> ensemble.

The story of an AutoML run:

1. read, clean, split and audit exactly as ``train`` does (same functions, same run files);
2. k folds over train+val with the run's split strategy; the test rows are never seen by the
   search (:mod:`scifm.tuning.objective`);
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
from pathlib import Path
from typing import Any

import numpy as np
import optuna

from scifm.config.load import save_config
from scifm.config.schema import ExperimentConfig
from scifm.errors import ConfigError, ScifmError
from scifm.evaluation.metrics import evaluate_predictions, paired_bootstrap, primary_metric
from scifm.evaluation.report import write_report
from scifm.models import load_predictor
from scifm.models.ensemble import EnsemblePredictor
from scifm.recipes.common import attach_run_log, update_model_meta
from scifm.recipes.train import (
    FamilyResult,
    build_report_data,
    fit_family,
    load_clean,
    promote,
    split_and_audit,
)
from scifm.recipes.tune import (
    TUNABLE,
    _configured_features,
    _log_trial,
    _pruner,
    _storage_url,
    open_study,
    with_params,
)
from scifm.rundir import RunDir
from scifm.tracking.mlflow import log_run, log_trials
from scifm.tuning.ensembling import EnsembleChoice, choose_ensemble
from scifm.tuning.leaderboard import auto_leaderboard, trial_records
from scifm.tuning.objective import CVObjective, cv_folds
from scifm.tuning.parallel import optimize
from scifm.tuning.search_spaces import default_trial, space_for
from scifm.utils.io import atomic_write_json, atomic_write_with
from scifm.utils.seed import seed_everything

logger = logging.getLogger(__name__)

DEFAULT_FAMILIES = ("linear", "knn", "lightgbm", "xgboost", "rf", "extratrees", "svm")
"""Searched by default, cheapest first (the time budget is shared out in this order)."""
ENSEMBLE = "ensemble"
LEADERBOARD = "leaderboard.csv"
OOF_DIR = "oof"


@dataclass
class FamilySearch:
    """One family's study and its best trial's out-of-fold predictions."""

    family: str
    study: optuna.Study
    best: optuna.trial.FrozenTrial
    oof: np.ndarray


@dataclass
class AutoResult:
    """Outcome of :func:`auto`."""

    run_dir: Path
    winner: str
    metrics: dict[str, Any]
    searches: dict[str, FamilySearch]
    ensemble: EnsembleChoice
    mlflow_run_id: str | None = None

    @property
    def leaderboard(self) -> Path:
        return self.run_dir / LEADERBOARD


def auto(cfg: ExperimentConfig, command: str = "") -> AutoResult:
    """Search every family by cross-validation, refit, ensemble, evaluate on test, report."""
    run = RunDir(Path(cfg.out))
    run.root.mkdir(parents=True, exist_ok=True)
    detach_log = attach_run_log(run.log)
    try:
        return _auto(cfg, run, command)
    finally:
        detach_log()


def _auto(cfg: ExperimentConfig, run: RunDir, command: str) -> AutoResult:
    tc, ac = cfg.automl.tune, cfg.automl.auto
    families = list(ac.families or DEFAULT_FAMILIES)
    unknown = [f for f in families if f not in TUNABLE]
    if unknown or not families:
        raise ConfigError(f"automl.auto.families: cannot search {unknown or families}; expected "
                          f"some of {TUNABLE} (the transformer: scifm train --model transformer)")
    save_config(cfg, run.config)
    seed_everything(cfg.seed)

    # 1. Data and split, as in train.
    cleaned = load_clean(cfg, run)
    ds, task = cleaned.dataset, cleaned.dataset.task
    splits, leakage = split_and_audit(cfg, ds, run)
    metric, higher = primary_metric(task)

    # 2. Cross-validation folds on train+val only.
    pool, folds = cv_folds(ds, splits, cfg, tc.folds)
    x_pool, y_pool = [ds.inputs[i] for i in pool], ds.y[pool]

    # 3. One study per family in one storage; the time budget is shared out as we go.
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = _storage_url(cfg, run)
    deadline = time.monotonic() + tc.time_budget if tc.time_budget else None
    searches: dict[str, FamilySearch] = {}
    features_of_pool: OrderedDict[str, Any] = OrderedDict()  # shared by the families
    for i, family in enumerate(families):
        fam_cfg = cfg.model_copy(deep=True)
        fam_cfg.automl.tune.family = family
        fam_cfg.automl.tune.study_name = f"{tc.study_name or 'scifm-auto'}-{family}"
        fixed = None if tc.tune_features else _configured_features(cfg, family)
        objective = CVObjective(family, task, cfg.data.modality, x_pool, y_pool, folds,
                                space_for(family, task.task_type), fixed, cfg,
                                oof_dir=run.root / OOF_DIR, feature_cache=features_of_pool)
        study = open_study(fam_cfg, run, objective.direction)
        if not study.trials:  # start from the family's defaults, then explore
            study.enqueue_trial(default_trial(family, task.task_type, cfg.data.modality,
                                              tune_features=fixed is None))
        timeout = (None if deadline is None
                   else max(1.0, (deadline - time.monotonic()) / (len(families) - i)))
        objective.deadline = None if timeout is None else time.time() + timeout
        logger.info("searching %s: %s trials, %s s (%d workers)", family, tc.n_trials,
                    None if timeout is None else round(timeout), tc.workers)
        optimize(study, storage, objective, n_trials=tc.n_trials, timeout=timeout,
                 workers=tc.workers, seed=cfg.seed, pruner=_pruner(tc.pruner),
                 callbacks=[_log_trial])
        found = _best_with_oof(study, objective)
        if found is None:
            logger.warning("%s: no trial completed; left out", family)
            continue
        searches[family] = FamilySearch(family, study, *found)
    if not searches:
        raise ScifmError(f"no family completed a trial; see {LEADERBOARD}")

    # 4. Ensemble of the top-k families vs the best single family, out of fold.
    ranked = sorted(searches, key=lambda f: _cv(searches[f]), reverse=higher)
    top = ranked[:ac.top_k]
    choice = choose_ensemble(task, y_pool, {f: searches[f].oof for f in top}, metric, higher,
                             folds, ac.ensemble_rounds) if ac.ensemble else EnsembleChoice({})
    winner = ENSEMBLE if choice.keep else ranked[0]

    # 5. Refit on train (early stopping on val) and evaluate on test: the ensemble's members and
    #    the two best single families (for the paired comparisons), or every family.
    needed = set(choice.weights) | set(ranked[:2])
    results: dict[str, FamilyResult] = {}
    for family in [f for f in ranked if ac.refit == "all" or f in needed]:
        fam_cfg = with_params(cfg, family, searches[family].best.params)
        results[family] = fit_family(family, fam_cfg, cleaned, splits, run.family(family))
    if choice.weights and len(choice.weights) > 1:
        results[ENSEMBLE] = fit_ensemble(choice.weights, results, cfg, cleaned, splits,
                                         run.family(ENSEMBLE))

    # 6. The winner goes to the top of the run directory; leaderboard and metrics.
    promote(results[winner].run, run)
    cv_of = {f: (_cv(s), s.best.user_attrs.get("cv_std")) for f, s in searches.items()}
    if ENSEMBLE in results:
        cv_of[ENSEMBLE] = (choice.cv_mean, choice.cv_std)
    order = sorted(cv_of, key=lambda f: cv_of[f][0] if cv_of[f][0] == cv_of[f][0]
                   else (-math.inf if higher else math.inf), reverse=higher)
    comparisons = compare_winner(winner, order, results, ds.y[splits["test"]], task, cfg)
    board = auto_leaderboard({f: s.study for f, s in searches.items()},
                             {f: s.best.number for f, s in searches.items()},
                             {f: r.metrics.get("test", {}) for f, r in results.items()},
                             metric, winner, choice, results, higher)
    atomic_write_with(run.root / LEADERBOARD, lambda p: board.to_csv(p, index=False))
    metrics = {**results[winner].metrics, "model": winner,
               "cv": {"metric": metric, "folds": tc.folds, "mean": cv_of[winner][0],
                      "std": cv_of[winner][1]},
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

    # 7. Report and tracking.
    data = build_report_data(cfg, cleaned, splits, leakage, results, metrics, command)
    data.extra_notes[:] = [_selection_note(winner, choice, metric, ranked[0], cv_of)]
    data.leaderboard = board.to_dict(orient="records")
    write_report(run.report, data)
    run_id = None
    if cfg.tracking.enabled:
        run_id = log_run(
            run_dir=run.root, uri=cfg.tracking.uri, experiment=cfg.tracking.experiment,
            run_name=run.root.name, params=cfg.model_dump(mode="json"),
            histories={f: r.history for f, r in results.items()},
            final_metrics={"test": metrics["test"], "val": metrics.get("val", {}),
                           "cv": {"mean": cv_of[winner][0]}},
            artifacts=[run.report, run.metrics, run.config, run.root / LEADERBOARD, run.model])
        log_trials(uri=cfg.tracking.uri, run_dir=run.root, parent_run_id=run_id,
                   trials=trial_records({f: s.study for f, s in searches.items()}))
    return AutoResult(run.root, winner, metrics, searches, choice, run_id)


def _cv(search: FamilySearch) -> float:
    return float(search.best.value) if search.best.value is not None else math.nan


def _best_with_oof(study: optuna.Study, objective: CVObjective
                   ) -> tuple[optuna.trial.FrozenTrial, np.ndarray] | None:
    """The best completed trial and its OOF predictions (recomputed when its file is not here,
    e.g. the trial ran on another machine)."""
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE
            and t.value is not None and math.isfinite(t.value)]
    if not done:
        return None
    best = study.best_trial
    file = objective.oof_file(study.study_name, best.number)
    if file is not None and file.is_file():
        return best, np.load(file, allow_pickle=False)
    logger.info("%s: recomputing the out-of-fold predictions of trial %d", objective.family,
                best.number)
    return best, objective.oof_predictions(best.params)


def fit_ensemble(weights: dict[str, float], results: dict[str, FamilyResult],
                 cfg: ExperimentConfig, cleaned: Any, splits: dict[str, np.ndarray],
                 run: RunDir) -> FamilyResult:
    """The weighted average of the refitted members: saved (members + weights), evaluated."""
    from scifm.evaluation.metrics import compute_metrics
    from scifm.evaluation.tables import prediction_frame

    ds, task = cleaned.dataset, cleaned.dataset.task
    members = {f: load_predictor(results[f].run.model) for f in weights}
    model = EnsemblePredictor(task, cfg.data.modality, members, weights)
    run.root.mkdir(parents=True, exist_ok=True)
    model.save(run.model)
    update_model_meta(run.model, data=cfg.data.model_dump(mode="json"),
                      split=cfg.split.model_dump(mode="json"))
    te, va = splits["test"], splits["val"]
    y_test = model.predict([ds.inputs[i] for i in te])
    fit_s = sum(results[f].fit_seconds for f in weights)
    metrics: dict[str, Any] = {"fit_seconds": round(fit_s, 2), "weights": model.weights}
    if len(va):
        metrics["val"] = compute_metrics(task, ds.y[va], model.predict([ds.inputs[i]
                                                                         for i in va]))
    metrics["test"] = evaluate_predictions(task, ds.y[te], y_test, n_bootstrap=cfg.eval.n_bootstrap,
                                           ci=cfg.eval.ci, seed=cfg.seed) if len(te) else {}
    atomic_write_json(run.metrics, metrics)
    frame = prediction_frame(task, [ds.ids[i] for i in te], [ds.inputs[i] for i in te], y_test,
                             ds.y[te])
    atomic_write_with(run.predictions_test, lambda p: frame.to_csv(p, index=False))
    return FamilyResult(ENSEMBLE, run, metrics, [], y_test, fit_s)


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
