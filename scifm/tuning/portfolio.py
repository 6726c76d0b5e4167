"""The search over several families under one time budget (``scifm auto``).

``scifm auto --time-budget N`` promises a finished run — data, search, refits, ensemble, report —
in ``N`` seconds (± 10 %), on one task or on 27. :class:`RunClock` counts those seconds from the
start of the run; :func:`search_families` spends them:

1. **feature sets the budget affords**: each candidate feature set is timed on a few inputs and
   those whose featurisation of every row would take more than :data:`FEATURE_SHARE` of the
   budget are left out (RDKit 2D descriptors featurise tens of molecules per second); the first
   trial's set is featurised once for all rows up front (kept by
   :func:`scifm.featurizers.memo.feature_memo`, so refits and scoring reuse it);
2. **round 1** — every family's default configuration, cheapest family first, each in its share
   of :data:`ROUND_ONE_SHARE` of the search time (divided by the families still to run: a family
   that finishes early leaves its time to the next ones, the round's rest goes to round 2). A
   fold still running when its share ends is stopped (:mod:`scifm.utils.deadline`): the trial
   is scored on the folds it finished, or the family is left out when not even one fold fitted;
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

import logging
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from scifm.errors import ScifmError
from scifm.featurizers import featurize, featurizer_from_name
from scifm.featurizers.base import is_fixed
from scifm.models.registry import get_family
from scifm.tuning.objective import CVObjective
from scifm.tuning.search import run_trials, start_from_defaults
from scifm.tuning.search_spaces import feature_choices, space_for
from scifm.tuning.study import (
    check_feature_choices,
    completed_trials,
    fixed_features,
    open_study,
)

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.data.clean import CleanDataset
    from scifm.rundir import RunDir

__all__ = ["FEATURE_SHARE", "REPORT_SECONDS", "FamilySearch", "RunClock", "affordable_members",
           "refit_seconds", "search_families", "tail_seconds"]

logger = logging.getLogger(__name__)

FEATURE_SHARE = 0.25
"""Largest part of the time budget that featurising every row with one feature set may take."""
ROUND_ONE_SHARE = 0.6
"""Part of the search time round 1 (every family's default trial) may take; the rest, and what
round 1 leaves, goes to round 2."""
REPORT_SECONDS = 2.5
"""Writing the report and the run's files: fixed part of the tail estimate."""
_PROBE = 24
"""Inputs timed per candidate feature set."""


@dataclass
class FamilySearch:
    """One family's study and its best trial's out-of-fold predictions."""

    family: str
    study: optuna.Study
    best: optuna.trial.FrozenTrial
    oof: np.ndarray

    @property
    def complete(self) -> bool:
        """Whether every fold of the best trial was fitted (a trial cut by the time budget is
        scored on fewer folds; its out-of-fold predictions then have NaN rows)."""
        return bool(np.isfinite(self.oof).all())

    @property
    def fold_seconds(self) -> float:
        """Seconds the best trial took per fold it fitted."""
        done = self.best.user_attrs.get("n_folds_done") or 1
        return float(self.best.user_attrs.get("fit_seconds") or 0.0) / done


class RunClock:
    """The time budget of a whole run, counted from ``started`` (``time.monotonic()``; default:
    now); ``seconds=None``: no budget (``left()`` is infinite)."""

    def __init__(self, seconds: float | None, started: float | None = None) -> None:
        self.seconds = seconds
        self.started = time.monotonic() if started is None else started

    @property
    def limited(self) -> bool:
        return self.seconds is not None

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def left(self) -> float:
        """Seconds left (may be negative; infinite without a budget)."""
        return math.inf if self.seconds is None else self.seconds - self.elapsed()


def tail_seconds(searches: dict[str, FamilySearch], n_train: int, n_fold_train: int,
                 higher_is_better: bool, score_s: float = 0.0, n_outputs: int = 1,
                 top: int = 3) -> float:
    """Estimated seconds of what follows the search: refitting the ``top`` families by CV on
    ``n_train`` rows (their measured seconds per fold, scaled from ``n_fold_train`` rows) and
    scoring them and the two combinations (``score_s`` each: val and test with bootstrap
    intervals), then the report (:data:`REPORT_SECONDS`, plus a little per output)."""
    ranked = sorted(searches.values(), key=lambda s: _value(s, higher_is_better))[:top]
    n_scored = len(ranked) + (2 if len(ranked) > 1 else 0)
    return (REPORT_SECONDS + 0.1 * n_outputs + n_scored * score_s
            + sum(refit_seconds(s, n_train, n_fold_train) for s in ranked))


def refit_seconds(search: FamilySearch, n_train: int, n_fold_train: int) -> float:
    """Estimated seconds to refit ``search``'s best configuration on ``n_train`` rows (its
    seconds per fold, scaled from ``n_fold_train`` rows)."""
    return search.fold_seconds * max(1.0, n_train / max(1, n_fold_train))


def affordable_members(families: list[str], searches: dict[str, FamilySearch], clock: RunClock,
                       n_train: int, n_fold_train: int) -> list[str]:
    """The families (best first) a combination may use: the best always, then each next one
    while the estimated refits of those kept still fit in the time left (with the report)."""
    kept: list[str] = []
    spent = REPORT_SECONDS
    for family in families:
        cost = refit_seconds(searches[family], n_train, n_fold_train)
        if kept and spent + cost > clock.left():
            continue
        kept.append(family)
        spent += cost
    if len(kept) < len(families):
        logger.info("time budget: combinations may use %s (%s would not be refitted in time)",
                    kept, [f for f in families if f not in kept])
    return kept


def _value(search: FamilySearch, higher_is_better: bool) -> float:
    v = search.best.value
    if v is None or v != v:
        return math.inf
    return -float(v) if higher_is_better else float(v)


def affordable_features(cfg: ExperimentConfig, inputs: list[Any], seconds: float) -> list[str]:
    """The modality's searched feature sets whose featurisation of ``inputs`` is estimated (on
    :data:`_PROBE` of them) to take at most ``seconds``; the cheapest one at least."""
    choices = feature_choices(cfg.data.modality, cfg)
    probe = inputs[:_PROBE]
    cost: dict[str, float] = {}
    for name in choices:
        featurizer = featurizer_from_name(name, cfg.data.modality)
        t0 = time.perf_counter()
        featurizer.fit(probe)
        featurizer(probe)
        cost[name] = (time.perf_counter() - t0) / max(1, len(probe)) * len(inputs)
    kept = [n for n in choices if cost[n] <= seconds] or [min(choices, key=cost.__getitem__)]
    dropped = [f"{n} (~{cost[n]:.0f} s)" for n in choices if n not in kept]
    if dropped:
        logger.warning("time budget: feature sets left out of the search, too slow to compute "
                       "for %d rows within %.0f s: %s", len(inputs), seconds, ", ".join(dropped))
    return kept


class _Search:
    """The objectives and studies of one ``auto`` search (shared feature cache)."""

    def __init__(self, cfg: ExperimentConfig, run: RunDir, ds: CleanDataset, pool: np.ndarray,
                 folds: list[tuple[np.ndarray, np.ndarray]], clock: RunClock) -> None:
        self.cfg, self.run, self.ds, self.folds, self.clock = cfg, run, ds, folds, clock
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
            obj = CVObjective(family, self.ds.task, self.cfg.data.modality, self.x_pool,
                              self.y_pool, self.folds, space_for(family, self.ds.task.task_type),
                              fixed_features(self.cfg, family), self.cfg,
                              oof_dir=self.run.root / "oof", feature_cache=self.cache)
            obj.choices = self.choices
            study = open_study(self.cfg, self.run, obj.direction,
                               name=f"{tc.study_name or 'scifm-auto'}-{family}")
            if obj.features is None:
                check_feature_choices(study, feature_choices(self.cfg.data.modality, self.cfg))
            start_from_defaults(study, self.cfg, obj)
            self.objectives[family], self.studies[family] = obj, study
        return self.objectives[family]

    def search_left(self) -> float:
        fold_rows = len(self.folds[0][0]) if self.folds else self.n_train
        _, higher = _direction(self.ds)
        return self.clock.left() - tail_seconds(self.found, self.n_train, fold_rows, higher,
                                                self.score_seconds(), self.ds.task.n_outputs)

    def score_seconds(self) -> float:
        """Seconds to score one refitted model (val metrics, test metrics with bootstrap
        intervals), timed once on a found family's out-of-fold predictions."""
        if self._score_s is None and self.found:
            from scifm.evaluation.metrics import compute_metrics, evaluate_predictions

            oof = next(iter(self.found.values())).oof
            rows = np.flatnonzero(np.isfinite(oof).all(axis=1))[:max(2, self._n_test)]
            task, y, ev = self.ds.task, self.y_pool, self.cfg.eval
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
            self.found[family] = FamilySearch(family, study, *best)


def _direction(ds: CleanDataset) -> tuple[str, bool]:
    from scifm.evaluation.metrics import primary_metric

    return primary_metric(ds.task)


def search_families(cfg: ExperimentConfig, run: RunDir, families: list[str], ds: CleanDataset,
                    pool: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]],
                    clock: RunClock | None = None) -> dict[str, FamilySearch]:
    """One study per family in one storage, spent as the module docstring says.

    Raises
    ------
    ScifmError
        No family completed a trial (within the budget).
    """
    clock = clock or RunClock(None)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    search = _Search(cfg, run, ds, pool, folds, clock)
    n_trials = cfg.automl.tune.n_trials
    if not clock.limited:
        for family in families:
            cap = get_family(family).auto_trials
            search.run_family(family, n_trials if cap is None or n_trials is None
                              else min(cap, n_trials), None)
    else:
        _prepare_features(search, families)
        more = None if n_trials is None else n_trials - 1
        # round 1 keeps time for round 2 (when there is one): a slow last family cannot take it
        _round(search, families, 1, ROUND_ONE_SHARE if more != 0 and len(families) > 1 else 1.0)
        ranked = sorted(search.found, key=lambda f: _value(search.found[f],
                                                           _direction(ds)[1]))
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
    leaves unused passes to the next ones, and what the round leaves to the next round)."""
    end = time.monotonic() + share * max(0.0, search.search_left())
    for i, family in enumerate(families):
        mine = min(end - time.monotonic(), search.search_left())
        slot = max(1.0, mine / (len(families) - i))
        if n_trials is None and search.search_left() < 1.0:
            break
        search.run_family(family, n_trials, slot)


def _prepare_features(search: _Search, families: list[str]) -> None:
    """Keep the feature sets the budget affords; featurise the first trial's set for every row
    up front (the families share it; refits and scoring reuse it through the memo)."""
    cfg = search.cfg
    if not any(fixed_features(cfg, f) is None for f in families):
        return
    search.choices = affordable_features(cfg, list(search.ds.inputs),
                                         FEATURE_SHARE * float(search.clock.seconds or 0))
    first = search.objective(families[0])  # enqueues the default trial with its features
    queued = _queued_features(search.studies[families[0]])
    name = queued if queued in search.choices else search.choices[0]
    if first.features is None:
        featurizer = featurizer_from_name(name, cfg.data.modality)
        if is_fixed(featurizer):
            search.cache[name] = featurize(featurizer, search.x_pool)
            featurize(featurizer, list(search.ds.inputs))  # test rows too, into the memo


def _queued_features(study: optuna.Study) -> str | None:
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
        return t.params.get("features")
    return None


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
