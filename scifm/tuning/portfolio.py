"""The search over several families under one time budget (``scifm auto``).

``scifm auto --time-budget N`` promises a finished run — data, search, refits, ensemble, report —
in ``N`` seconds (± 10 %), on one task or on 27. :class:`RunClock` counts those seconds from the
start of the run; :func:`search_families` spends them:

1. **feature sets the budget affords** (:mod:`scifm.tuning.feature_budget`): those whose
   featurisation of every row would take more than :data:`FEATURE_SHARE` of the budget are left
   out; the first trial's set is featurised once for all rows up front;
1b. **holdout families first** — when the outer split has validation rows, a family registered
   ``auto_holdout`` (``mpnn``: one fit costs what a whole budget affords) is fitted once on the
   train rows, early-stopped and scored on the val rows, in :data:`HOLDOUT_SHARE` of the search
   time (its epochs fitted to that share); its model is kept as its refit. Once one has
   completed, the other families are searched on the same train/val rows too (one fit per
   trial, whose fitted model — the best trial's — is kept as the family's refit too, so the
   tail refits nothing), so that every family is compared, and combined, on the same
   validation rows; with fewer than :data:`MIN_HOLDOUT_SEARCH_ROWS` val rows they keep k-fold
   CV on train+val (their out-of-fold predictions of the val rows are compared and combined);
2. **round 1** — every other family's default configuration, cheapest family first, each in its
   share of :data:`ROUND_ONE_SHARE` of the search time (divided by the families still to run: a
   family that finishes early leaves its time to the next ones, the rest goes to round 2). A
   fold still running when its share ends is stopped (:mod:`scifm.utils.deadline`): the trial
   is scored on the folds it finished, or the family is left out when not even one fold fitted;
2b. **cut trials resumed** — a default trial cut after some folds is run again, fitting only
   the folds it has not finished, cheapest first, while the search time lasts (:func:`_complete`):
   a cut family has no full out-of-fold predictions to combine, and ranks behind the complete
   ones unless its folds clearly favour it (:mod:`scifm.tuning.ranking`);
3. **round 2** — successive halving across families: the better half by round-1 CV score share
   the rest of the search time (Optuna's TPE and pruner inside each family's share), so a slow or
   weak family cannot starve the promising ones;
4. the search ends early enough to leave the **tail** (refits of the best families, scoring,
   report) its estimated time (:func:`tail_seconds`, from the fold and scoring times measured in
   the search); the combinations then use only families whose refits still fit
   (:func:`affordable_members`).

Without a time budget every family runs ``automl.tune.n_trials`` trials (an expensive family at
most its ``auto_trials``), one round.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from scifm.errors import ScifmError
from scifm.models.registry import get_family
from scifm.tuning.budget_clock import FamilySearch, RunClock
from scifm.tuning.feature_budget import FEATURE_SHARE, affordable_features, prepare_features
from scifm.tuning.objective import CVObjective
from scifm.tuning.ranking import rank_families
from scifm.tuning.search import run_trials, start_from_defaults
from scifm.tuning.search_spaces import feature_choices, space_for
from scifm.tuning.study import (
    check_feature_choices,
    completed_trials,
    family_best,
    fixed_features,
    open_study,
)
from scifm.tuning.tail import (
    REPORT_SECONDS,
    affordable_members,
    refit_seconds,
    report_seconds,
    reuse_seconds,
    tail_seconds,
)

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.data.clean import CleanDataset
    from scifm.rundir import RunDir

__all__ = ["FEATURE_SHARE", "HOLDOUT_SHARE", "MIN_HOLDOUT_SEARCH_ROWS", "REPORT_SECONDS",
           "FamilySearch", "RunClock", "affordable_features", "affordable_members",
           "refit_seconds", "report_seconds", "reuse_seconds", "search_families",
           "tail_seconds"]

logger = logging.getLogger(__name__)

HOLDOUT_SHARE = 0.6
"""Part of the search time the families searched on the outer split's validation rows
(``auto_holdout``: ``mpnn``) take first, one adaptive fit each (epochs fitted to their share,
:func:`scifm.utils.deadline.fit_deadline` ``keep_best``), when other families are searched too.
Their fit is also their refit, so they cost the tail nothing."""
MIN_HOLDOUT_SEARCH_ROWS = 100
"""Fewest validation rows on which the families other than ``auto_holdout`` ones are searched
(tuned) too. On fewer, tuning every family's hyperparameters on the same few rows fits them to
those rows: on FreeSolv's 64 the chosen model's val errors were far smaller than its test errors
(conformal coverage 0.66-0.80 for a nominal 0.90), so they keep k-fold CV on train+val."""
ROUND_ONE_SHARE = 0.6
"""Part of the search time round 1 (every family's default trial) may take; the rest, and what
round 1 leaves, goes to round 2."""


class _Search:
    """The objectives and studies of one ``auto`` search (shared feature cache)."""

    def __init__(self, cfg: ExperimentConfig, run: RunDir, ds: CleanDataset, pool: np.ndarray,
                 folds: list[tuple[np.ndarray, np.ndarray]], clock: RunClock,
                 holdout: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        self.cfg, self.run, self.ds, self.folds, self.clock = cfg, run, ds, folds, clock
        self.holdout = holdout
        self.all_on_holdout = False
        """Every family is searched on ``holdout`` (set when a holdout family takes its share of
        a time budget: the rest could not afford k folds, and all are compared there anyway)."""
        self.x_pool, self.y_pool = [ds.inputs[i] for i in pool], ds.y[pool]
        self.n_train = len(pool)
        self.cache: OrderedDict[str, Any] = OrderedDict()
        self.objectives: dict[str, CVObjective] = {}
        self.studies: dict[str, optuna.Study] = {}
        self.found: dict[str, FamilySearch] = {}
        self.choices: list[str] | None = None
        self._score_s: float | None = None
        self._n_test = len(ds.y) - len(pool)  # the test rows (val: about as many, in pool)

    def objective(self, family: str) -> CVObjective:
        if family not in self.objectives:
            tc = self.cfg.automl.tune
            holdout = self.holdout is not None and (self.all_on_holdout
                                                    or get_family(family).auto_holdout)
            obj = CVObjective(family, self.ds.task, self.cfg.data.modality, self.x_pool,
                              self.y_pool, [self.holdout] if holdout else self.folds,
                              space_for(family, self.ds.task.task_type),
                              fixed_features(self.cfg, family), self.cfg,
                              oof_dir=self.run.root / "oof", feature_cache=self.cache)
            obj.choices, obj.holdout = self.choices, holdout
            study = open_study(self.cfg, self.run, obj.direction,
                               name=f"{tc.study_name or 'scifm-auto'}-{family}")
            if obj.features is None:
                check_feature_choices(study, feature_choices(self.cfg.data.modality, self.cfg))
            start_from_defaults(study, self.cfg, obj)
            self.objectives[family], self.studies[family] = obj, study
        return self.objectives[family]

    def search_all_on_holdout(self) -> None:
        """From now on every family is searched on ``holdout`` (objectives made already too:
        the first family's, made to featurise up front, has run no trial yet)."""
        self.all_on_holdout = True
        for obj in self.objectives.values():
            if not obj.holdout and self.holdout is not None:
                obj.folds, obj.holdout = [self.holdout], True

    def search_left(self) -> float:
        fold_rows = len(self.folds[0][0]) if self.folds else self.n_train
        _, higher = _direction(self.ds)
        return self.clock.left() - tail_seconds(self.found, self.n_train, fold_rows, higher,
                                                self.score_seconds(), self.ds.task.n_outputs,
                                                members=self.cfg.automl.auto.top_k)

    def score_seconds(self) -> float:
        """Seconds to score one refitted model (val metrics, test metrics with bootstrap
        intervals), timed once on a found family's out-of-fold predictions."""
        if self._score_s is None and self.found:
            from scifm.evaluation.metrics import compute_metrics, evaluate_predictions

            oof = next(iter(self.found.values())).oof
            rows = np.flatnonzero(np.isfinite(oof).all(axis=1))[:max(2, self._n_test)]
            task, y, ev = self.ds.task, self.y_pool, self.cfg.eval
            # untimed: the first call's imports (seconds in a fresh process); two rows may be
            # a case the metrics refuse (one class, no label), which the timed call is not
            with contextlib.suppress(Exception):
                evaluate_predictions(task, y[rows[:2]], oof[rows[:2]], n_bootstrap=2,
                                     ci=ev.ci, seed=self.cfg.seed)
            t0 = time.perf_counter()
            if len(rows):
                evaluate_predictions(task, y[rows], oof[rows], n_bootstrap=ev.n_bootstrap,
                                     ci=ev.ci, seed=self.cfg.seed)
                compute_metrics(task, y[rows], oof[rows])
            self._score_s = time.perf_counter() - t0
        return self._score_s or 0.0

    def run_family(self, family: str, n_trials: int | None, slot: float | None) -> None:
        """Trials of ``family`` within ``slot`` seconds (None: no limit); records its best."""
        obj = self.objective(family)
        obj.deadline = None if slot is None else time.time() + slot
        study = self.studies[family]
        logger.info("searching %s: %s trials, %s s", family, n_trials,
                    None if slot is None else round(slot))
        overall = None
        if self.clock.limited:
            overall = (self.clock.started + float(self.clock.seconds or 0), float(
                self.clock.seconds or 0))
        run_trials(study, self.cfg, self.run, obj, slot, n_trials, overall=overall)
        best = _best_with_oof(study, obj)
        if best is not None:
            folder = obj.model_dir(study.study_name, best[0].number) if obj.holdout else None
            self.found[family] = FamilySearch(
                family, study, *best, holdout=obj.holdout,
                model_dir=folder if folder is not None and folder.is_dir() else None)


def _direction(ds: CleanDataset) -> tuple[str, bool]:
    from scifm.evaluation.metrics import primary_metric

    return primary_metric(ds.task)


def search_families(cfg: ExperimentConfig, run: RunDir, families: list[str], ds: CleanDataset,
                    pool: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                    clock: RunClock | None = None,
                    holdout: tuple[np.ndarray, np.ndarray] | None = None,
                    ) -> dict[str, FamilySearch]:
    """One study per family in one storage, spent as the module docstring says; ``holdout``:
    the outer split's (train, val) positions into ``pool``, on which the families registered
    ``auto_holdout`` are searched instead of ``folds`` (None: they use the folds too). With a
    time budget they are searched first, in :data:`HOLDOUT_SHARE` of it, and when one of them
    completes its fit the other families are searched on ``holdout`` too (one fit per trial: a
    budget that affords a D-MPNN and k-fold CV of seven other families is rare).

    Raises
    ------
    ScifmError
        No family completed a trial (within the budget).
    """
    clock = clock or RunClock(None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = _Search(cfg, run, ds, pool, folds, clock, holdout)
    n_trials = cfg.automl.tune.n_trials
    if not clock.limited:
        for family in families:
            cap = get_family(family).auto_trials
            search.run_family(family, n_trials if cap is None or n_trials is None
                              else min(cap, n_trials), None)
    else:
        more = None if n_trials is None else n_trials - 1
        held = [f for f in families if holdout is not None and get_family(f).auto_holdout]
        rest = [f for f in families if f not in held] or held
        import skops.io  # noqa: F401 - paid now, not guessed in the tail (SKOPS_IMPORT_SECONDS)
        prepare_features(search, rest)
        if held != rest:  # one fit each, first, in a fixed share; the others after them,
            _round(search, held, 1, HOLDOUT_SHARE)  # one fit per trial on the same rows
            if (any(f in search.found for f in held)
                    and len(holdout[1]) >= MIN_HOLDOUT_SEARCH_ROWS):
                search.search_all_on_holdout()
        # round 1 keeps time for round 2 (when there is one): a slow last family cannot take it
        _round(search, rest, 1, ROUND_ONE_SHARE if more != 0 and len(rest) > 1 else 1.0)
        if _complete(search, [f for f in rest if f in search.found]):
            logger.info("cut default trials resumed: %s", ", ".join(
                f"{f} {search.found[f].folds_done}/{len(folds)} folds" for f in rest
                if f in search.found and not search.found[f].holdout))
        ranked = rank_families({f: s for f, s in search.found.items() if f in rest},
                               _direction(ds)[1])  # a cut one behind, unless clearly better
        promoted = ranked[:math.ceil(len(ranked) / 2)]
        if promoted and more != 0:
            logger.info("round 2 (successive halving): %s share the %.0f s left; %s stop",
                        promoted, max(0.0, search.search_left()),
                        [f for f in ranked if f not in promoted] or "none")
            _round(search, promoted, more)
    if not search.found:
        raise ScifmError(f"no family completed a trial{_within(clock)}; "
                         f"see {run.leaderboard.name}" + (
                             ": give a larger --time-budget" if clock.limited else ""))
    for family in families:
        if family not in search.found and family in search.studies:
            logger.warning("%s: no trial completed%s; left out", family, _within(clock))
    return {f: search.found[f] for f in families if f in search.found}


def _within(clock: RunClock) -> str:
    return f" within the time budget ({clock.seconds:.0f} s)" if clock.limited else ""


def _round(search: _Search, families: list[str], n_trials: int | None,
           share: float = 1.0) -> None:
    """Each family in turn, in its share of ``share`` x the search time left (what a family
    leaves unused passes to the next ones, and what the round leaves to the next round); it
    leaves out the families still to run once the search time is spent and a family has been
    found (a 1 s floor for each would overrun the budget; the cheapest families run first), and
    a family whose share is below its ``auto_min_seconds``."""
    end = time.monotonic() + share * max(0.0, search.search_left())
    for i, family in enumerate(families):
        mine = min(end - time.monotonic(), search.search_left())
        slot = max(1.0, mine / (len(families) - i))
        left = search.search_left()
        if (n_trials is None and left < 1.0) or (search.found and left <= 0.0):
            if n_trials is not None:
                logger.warning("time budget: no time left to search %s", ", ".join(families[i:]))
            break
        least, rows = get_family(family).auto_min_seconds, search.n_train
        if least is not None and slot < (need := least(rows)):
            logger.warning("time budget: %s left out: one fit on %d rows needs about %.0f s, "
                           "its share is %.0f s", family, rows, need, slot)
            continue
        search.run_family(family, n_trials, slot)


def _complete(search: _Search, families: list[str]) -> bool:
    """Resume the k-fold searched ``families`` whose best trial the time budget cut (scored on
    fewer folds, so left out of the combinations, which need every row predicted), cheapest to
    finish first: the same configuration again, fitting only the folds it has not finished (the
    objective remembers those, :class:`~scifm.tuning.objective.CVObjective`), in at most 1.5 x
    the seconds its finished folds took each, while the search time lasts. On FreeSolv, where
    round 1's 2-3 s shares cut the boosted trees and forests after one to three of five folds,
    the forests then joined the weighted average and the stacker. Returns whether any was
    resumed."""
    n_folds, todo = len(search.folds), {}
    for family in families:
        found = search.found[family]
        if not found.holdout and 0 < found.folds_done < n_folds:
            todo[family] = found.fold_seconds * (n_folds - found.folds_done)
    resumed = False
    for family in sorted(todo, key=todo.__getitem__):
        left = search.search_left()
        if todo[family] > left:
            logger.info("time budget: %s's cut trial not resumed (about %.0f s to finish, "
                        "%.0f s left)", family, todo[family], max(0.0, left))
            continue
        search.studies[family].enqueue_trial(search.found[family].best.params)
        search.run_family(family, 1, min(left, 1.5 * todo[family] + 1.0))
        resumed = True
    return resumed


def _best_with_oof(study: optuna.Study, objective: CVObjective
                   ) -> tuple[optuna.trial.FrozenTrial, np.ndarray] | None:
    """The best completed trial and its OOF predictions (recomputed when its file is not here,
    e.g. the trial ran on another machine)."""
    if not completed_trials(study):
        return None
    best = family_best(study)
    file = objective.oof_file(study.study_name, best.number)
    if file is not None and file.is_file():
        return best, np.load(file, allow_pickle=False)
    logger.info("%s: recomputing the out-of-fold predictions of trial %d", objective.family,
                best.number)
    return best, objective.oof_predictions(best.params)
