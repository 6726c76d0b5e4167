"""Recipe: auto — data file -> clean -> split -> one CV search per family -> refit -> ensemble.

The story of an AutoML run:

1. read, clean, split and audit exactly as ``train`` does (same functions, same run files);
2. k folds over train+val, grouped by scaffold / similarity whatever the outer split
   (``automl.tune.cv``, :mod:`scifm.tuning.folds`); the test rows are never seen by the search.
   A family registered ``auto_holdout`` (``mpnn``) is instead fitted once on the outer split's
   train rows and scored on its val rows (when there are at least 2 x k), its model kept as its
   refit; with a time budget, once it has, every family is searched on those rows (given at
   least ``MIN_HOLDOUT_SEARCH_ROWS`` of them) and all are ranked and combined on the val rows
   (:func:`scifm.tuning.portfolio.search_families`);
3. one Optuna study per family (``<study name>-<family>``, all in one storage, each created before
   its workers start; ``automl.tune.workers`` processes per study, :mod:`scifm.tuning.parallel`).
   Budget: ``automl.tune.n_trials`` trials per family and/or ``automl.tune.time_budget`` seconds
   for the *whole run* — data, search, refits, report — spent by
   :func:`scifm.tuning.portfolio.search_families` (feature sets the budget affords; every
   family's default trial in its share; successive halving across families; a fold still
   running when its share ends is stopped; time left for the refits and the report). The best
   trial of each family keeps its out-of-fold (OOF) predictions; feature rows are computed once
   for the whole run (:func:`scifm.featurizers.memo.feature_memo`);
4. ensemble: greedy (Caruana) weights over the OOF predictions of the ``top_k`` families, scored
   cross-fitted on the same folds as the best single family (:mod:`scifm.tuning.ensembling`); the
   ensemble is the winner only if it is better out of fold. Nothing here looks at the test set;
5. each family's best configuration is refitted on train (early stopping on val where the family
   supports it) and evaluated on test with bootstrap CIs (``families/<family>/``); the ensemble
   is built from those refits (``families/ensemble/``: ``model/members/<family>/`` + weights);
6. the winner is copied to the top of the run directory (``model/``, ``predictions_test.csv``,
   ``metrics.json``) and given its uncertainty layer (:mod:`scifm.trust`: conformal intervals or
   calibrated probabilities and sets, applicability domain; calibrated on val), so ``predict``
   and ``evaluate`` read it like any run (``oof/`` keeps each
   completed trial's out-of-fold predictions as ``.npy``); ``leaderboard.csv``
   lists every trial of every family and the finals; the report adds a leaderboard section and
   paired bootstrap comparisons (winner vs runner-up, winner vs the best single family);
7. MLflow: one parent run and one nested run per trial.

The transformer is searched when ``model.init`` names a local checkpoint (its ``auto_if``): like
``mpnn`` it is ``auto_holdout`` — fine-tuned once on the train rows (learning rate, epochs, LoRA
rank or full fine-tuning, class weights: ``params.transformer``; trial 0 the usual fine-tuning
values), early-stopped and scored on val, its run fitted to its share of a time budget
(:mod:`scifm.training.trainer_deadline`), its model kept as the refit. A k-fold CV of it would
cost k fine-tunings per trial, which no budget on CPU affords.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from scifm.config.applicability import check_applicable
from scifm.config.schema import ExperimentConfig
from scifm.data.clean import CleanDataset
from scifm.data.prepare import load_clean, split_and_audit
from scifm.evaluation.metrics import paired_bootstrap, primary_metric
from scifm.evaluation.report import write_report
from scifm.evaluation.scoring import FamilyResult, build_report_data
from scifm.featurizers.memo import feature_memo
from scifm.models.fitting import fit_family, save_and_score
from scifm.models.registry import auto_families, load_predictor
from scifm.rundir import RunContext, RunDir, RunResult
from scifm.staging import STUDY
from scifm.tasks import TaskSpec
from scifm.trust.fitting import attach_uncertainty
from scifm.tuning.combining import (
    COMBINED,
    ENSEMBLE,
    Combination,
    choose_combination,
    fit_combined,
    on_validation_rows,
    selection_note,
)
from scifm.tuning.ensembling import EnsembleChoice
from scifm.tuning.folds import search_folds, search_pool
from scifm.tuning.leaderboard import auto_leaderboard, trial_records
from scifm.tuning.portfolio import (
    FamilySearch,
    RunClock,
    affordable_members,
    refit_seconds,
    report_seconds,
    search_families,
)
from scifm.tuning.ranking import comparable_scores, fold_scores, rank_families
from scifm.tuning.search_spaces import embed_folder
from scifm.tuning.stacking import StackChoice
from scifm.tuning.study import with_params
from scifm.utils.extras import require_storage_driver
from scifm.utils.io import atomic_write_json, atomic_write_with

logger = logging.getLogger(__name__)

OOF_DIR = "oof"


@dataclass
class AutoResult(RunResult):
    """Outcome of :func:`auto` (``leaderboard`` and ``report`` are paths in ``run_dir``)."""

    winner: str
    metrics: dict[str, Any]
    searches: dict[str, FamilySearch]
    ensemble: EnsembleChoice
    stacking: StackChoice | None = None
    mlflow_run_id: str | None = None


def auto(cfg: ExperimentConfig, command: str = "", started: float | None = None,
         exit_seconds: float = 0.0) -> AutoResult:
    """Search every family by CV, refit, combine, evaluate on test, report (``started``: the
    budget's start, ``time.monotonic()``, default now; ``exit_seconds``: kept for the exit)."""
    tc, ac = cfg.automl.tune, cfg.automl.auto
    clock = RunClock(tc.time_budget, started, reserve=exit_seconds)
    families = list(ac.families or auto_families(cfg.data.modality, cfg))
    check_applicable(cfg, recipe="auto", families=families)
    require_storage_driver(tc.storage)  # a missing extra: one line before any work
    embed_folder(cfg)  # a wrong encoder folder (automl.auto.embed): one line, first
    carry = (OOF_DIR,) if tc.storage else (STUDY, OOF_DIR)  # an earlier run's studies, OOF go on
    with RunContext.open(cfg, command, carry=carry) as ctx, feature_memo():
        run, timing = ctx.run, _Timing(clock)

        # 1. Data and split, as in train.
        cleaned = load_clean(cfg, run)
        ds, task = cleaned.dataset, cleaned.dataset.task
        splits, leakage = split_and_audit(cfg, ds, run)
        metric, higher = primary_metric(task)
        timing.lap("data")

        # 2.-3. Folds on train+val only; one study per family (mpnn: one fit, see the docstring).
        pool = search_pool(splits)
        folds, cv_text = search_folds(ds, pool, cfg)
        searches = search_families(cfg, run, families, ds, pool, folds, clock,
                                   holdout=_holdout(pool, splits, tc.folds))
        timing.lap("search")

        # 4. Weighted average and stacker of the top-k vs the best single family, out of fold.
        ranked, comb, on_val = combine(cfg, ds, pool, folds, searches, clock, splits)
        winner = comb.winner(ranked[0])

        # 5. Refit on train (early stopping on val), evaluate on test: what refit() says.
        results = refit(cfg, ds, splits, run, searches, comb, winner, ranked, clock, folds)
        timing.lap("refit")

        # 6. The winner goes to the top of the run directory; leaderboard and metrics.
        run.promote(results[winner].run)
        metrics, board, cv_of = summarise(cfg, run, task, searches, results, comb, winner,
                                          ranked, ds.y[splits["test"]], cv_text, on_val)
        metrics["uncertainty"] = attach_uncertainty(  # of the winner, in memory (its answers)
            cfg, ds, splits, run, results[winner].predictor, held_out=comb.held_out(winner))

        # 7. Report and tracking.
        data = build_report_data(cfg, cleaned, splits, leakage, results, metrics, command)
        data.extra_notes[:] = [selection_note(winner, comb, metric, ranked[0],
                                              cv_of[ranked[0]][0], higher),
                               f"Cross-validation on train+val: {cv_text}{on_val}."]
        data.leaderboard = board.to_dict(orient="records")
        data.oof_comparison = comb.comparison(winner)
        write_report(run.report, data)
        timing.lap("report")
        timing.write(run, metrics)
        run_id = ctx.track(
            histories={f: r.history for f, r in results.items()},
            final_metrics={"test": metrics["test"], "val": metrics.get("val", {}),
                           "cv": {"mean": metrics["cv"]["mean"]}},
            artifacts=[run.report, run.metrics, run.config, run.leaderboard, run.model],
            trials=trial_records({f: s.study for f, s in searches.items()}))
        return AutoResult(ctx.out, winner, metrics, searches, comb.ensemble, comb.stack, run_id)


class _Timing:
    """Seconds of each step of the run (``metrics.json`` ``timing``; logged)."""

    def __init__(self, clock: RunClock) -> None:
        self.clock, self.laps, self.last = clock, {}, clock.elapsed()

    def lap(self, step: str) -> None:
        now = self.clock.elapsed()
        self.laps[step] = round(now - self.last, 2)
        self.last = now

    def write(self, run: RunDir, metrics: dict[str, Any]) -> None:
        metrics["timing"] = {**self.laps, "total": round(self.clock.elapsed(), 2),
                             "budget": self.clock.seconds}
        atomic_write_json(run.metrics, metrics)
        logger.info("time: %s", ", ".join(f"{k} {v} s" for k, v in metrics["timing"].items()
                                          if v is not None))


def _holdout(pool: np.ndarray, splits: dict[str, np.ndarray], k: int,
             ) -> tuple[np.ndarray, np.ndarray] | None:
    """The outer split's (train, val) rows as positions into the sorted ``pool``; None when
    there are fewer than ``2 * k`` val rows."""
    if len(splits["val"]) < 2 * k:
        return None
    return (np.searchsorted(pool, np.sort(splits["train"])),
            np.searchsorted(pool, np.sort(splits["val"])))


def combine(cfg: ExperimentConfig, ds: CleanDataset, pool: np.ndarray,
            folds: list[tuple[np.ndarray, np.ndarray]], searches: dict[str, FamilySearch],
            clock: RunClock, splits: dict[str, np.ndarray],
            ) -> tuple[list[str], Combination, str]:
    """The families best first (those that fitted every fold by CV, a cut one ahead of them
    only where its folds clearly favour it: :func:`scifm.tuning.ranking.rank_families`), and
    the combinations of the ``automl.auto.top_k`` best whose best trial fitted every fold and
    whose refits the time budget affords (:func:`scifm.tuning.combining.choose_combination`).
    When a family was scored on the validation rows only (a holdout search), all are ranked
    and combined there, on folds of those rows; the third value then says so (for the
    report), else it is empty."""
    n_train, val = len(splits["train"]), np.sort(splits["val"])
    fold_rows = len(folds[0][0]) if folds else n_train
    metric, higher = primary_metric(ds.task)
    ranked, scores = rank_families(searches, higher), comparable_scores(searches)
    y, oof, comb_folds, note = ds.y[pool], {f: s.oof for f, s in searches.items()}, folds, ""
    if any(s.holdout for s in searches.values()):
        ranked, oof, y = on_validation_rows(ds.task, ds.y[pool], pool, val, oof, scores,
                                            metric, higher)
        comb_folds, text = search_folds(ds, val, cfg)
        note = (f"; {', '.join(f for f, s in searches.items() if s.holdout)} fitted once on "
                f"train and scored on the {len(val)} val rows, where all families were ranked "
                f"and combined ({text})")
    top = affordable_members([f for f in ranked if searches[f].complete][:cfg.automl.auto.top_k],
                             searches, clock, n_train, fold_rows)
    comb = choose_combination(cfg, ds.task, y, {f: oof[f] for f in top}, metric, higher,
                              comb_folds)
    comb.rows = val if note else None
    comb.outranked(ranked[0], scores[ranked[0]], higher,
                   None if note else fold_scores(searches[ranked[0]]))
    return ranked, comb, note


def refit(cfg: ExperimentConfig, ds: CleanDataset, splits: dict[str, np.ndarray], run: RunDir,
          searches: dict[str, FamilySearch], comb: Combination, winner: str, ranked: list[str],
          clock: RunClock, folds: list[tuple[np.ndarray, np.ndarray]],
          ) -> dict[str, FamilyResult]:
    """Refit the winner (a combination: its members) first, then the other models the report
    compares (``automl.auto.refit``) while the time budget affords them; build the
    combinations whose members were refitted."""
    core = set(comb.members_of(winner)) if winner in COMBINED else {winner}
    needed = comb.members() | set(ranked[:2]) | core
    wanted = [f for f in ranked if cfg.automl.auto.refit == "all" or f in needed]
    results: dict[str, FamilyResult] = {}
    skipped = []
    n_train = len(splits["train"])
    fold_rows = len(folds[0][0]) if folds else n_train
    for family in sorted(wanted, key=lambda f: f not in core):  # stable: by CV within each
        cost = refit_seconds(searches[family], n_train, fold_rows)
        if family not in core and cost > 0 and clock.left() < cost + report_seconds(n_train):
            skipped.append(family)
            continue
        fam_cfg = with_params(cfg, family, searches[family].best.params)
        results[family] = _fitted(searches[family], fam_cfg, ds, splits, run)
    if skipped:
        logger.warning("time budget: not refitted (no test metrics): %s", ", ".join(skipped))
    results.update(fit_combined(comb, results, cfg, ds, splits, run))
    return results


def _fitted(search: FamilySearch, cfg: ExperimentConfig, ds: CleanDataset,
            splits: dict[str, np.ndarray], run: RunDir) -> FamilyResult:
    """The family refitted on train (early stopping on val), or, after a holdout search, its
    best trial's model (that same fit) saved and scored as a refit."""
    if search.model_dir is None:
        return fit_family(search.family, cfg, ds, splits, run.family(search.family))
    logger.info("%s: the holdout trial's model is the refit", search.family)
    return save_and_score(search.family, load_predictor(search.model_dir), cfg,
                          ds, splits, run.family(search.family),
                          float(search.best.user_attrs.get("fit_seconds") or 0.0))


def summarise(cfg: ExperimentConfig, run: RunDir, task: TaskSpec,
              searches: dict[str, FamilySearch], results: dict[str, FamilyResult],
              comb: Combination, winner: str, ranked: list[str], y_test: np.ndarray,
              cv_text: str | None = None, on_val: str = "",
              ) -> tuple[dict[str, Any], Any, dict[str, tuple[float, Any]]]:
    """Write ``leaderboard.csv``, ``metrics.json`` and ``history.json``; returns the metrics,
    the leaderboard and each model's (CV mean, CV std)."""
    metric, higher = primary_metric(task)
    cv_text = (cv_text or "") + on_val  # on_val: why the val rows decided, or ""
    by = (f"{metric} on the val rows (out of sample for every family)" if on_val
          else f"out-of-fold {metric} on train+val")
    cv_of = {f: (_cv(s), s.best.user_attrs.get("cv_std")) for f, s in searches.items()}
    combined = {}
    for name in comb.built():
        cv_of[name] = comb.cv(name)
        combined[name] = {"cv_mean": cv_of[name][0], "cv_std": cv_of[name][1],
                          "params": ({"weights": comb.ensemble.weights} if name == ENSEMBLE
                                     else comb.stack.coefficients if comb.stack else {})}
    order = sorted(cv_of, key=lambda f: cv_of[f][0] if cv_of[f][0] == cv_of[f][0]
                   else (-math.inf if higher else math.inf), reverse=higher)
    comparisons = compare_winner(winner, order, results, y_test, task, cfg)
    board = auto_leaderboard({f: s.study for f, s in searches.items()},
                             {f: s.best.number for f, s in searches.items()},
                             {f: r.metrics.get("test", {}) for f, r in results.items()},
                             metric, winner, combined, results, higher, cv=cv_text)
    atomic_write_with(run.leaderboard, lambda p: board.to_csv(p, index=False))
    stack = comb.stack
    metrics = {**results[winner].metrics, "model": winner,
               "cv": {"metric": metric, "folds": cfg.automl.tune.folds, "method": cv_text,
                      "mean": cv_of[winner][0], "std": cv_of[winner][1]},
               "selection": {"winner": winner, "kind": winner if winner in COMBINED
                             else "single", "by": by,
                             "ensemble_weights": comb.ensemble.weights,
                             "ensemble_cv_mean": comb.ensemble.cv_mean,
                             "stacking_members": stack.members if stack else [],
                             "stacking_cv_mean": stack.cv_mean if stack else None,
                             "best_single": comb.ensemble.best_single or ranked[0],
                             "best_single_cv_mean": cv_of[ranked[0]][0]},
               "families": {f: r.metrics for f, r in results.items()},
               "best_params": {f: s.best.params for f, s in searches.items()},
               "comparison": comparisons}
    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, {f: r.history for f, r in results.items()})
    return metrics, board, cv_of


def _cv(search: FamilySearch) -> float:
    return float(search.best.value) if search.best.value is not None else math.nan


def compare_winner(winner: str, order: list[str], results: dict[str, FamilyResult],
                   y_test: np.ndarray, task: Any, cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Paired bootstrap on the test rows: winner vs runner-up (next by CV) and winner vs the best
    single family (when that is another model)."""
    metric, _ = primary_metric(task)
    others = [f for f in order if f != winner and f in results]
    singles = [f for f in others if f not in COMBINED]
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
