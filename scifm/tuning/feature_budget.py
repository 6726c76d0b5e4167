"""The feature sets an ``auto`` time budget affords, featurised once up front
(:func:`scifm.tuning.portfolio.search_families`, step 1).

Each candidate feature set is timed on :data:`_PROBE` inputs; those whose featurisation of every
row would take more than :data:`FEATURE_SHARE` of the budget are left out (RDKit 2D descriptors
featurise tens of molecules per second). The sets of the families' first trials are featurised
for all rows before any family's share starts, so no family pays for them inside its share (the
memo, :func:`scifm.featurizers.memo.feature_memo`, keeps them for refits and scoring; a set
joined from others reuses their rows).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import optuna

from scifm.featurizers import featurize, featurizer_from_name
from scifm.featurizers.base import is_fixed
from scifm.tuning.search_spaces import feature_choices
from scifm.tuning.study import fixed_features

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig

__all__ = ["FEATURE_SHARE", "affordable_features", "prepare_features"]

logger = logging.getLogger(__name__)

FEATURE_SHARE = 0.25
"""Largest part of the time budget that featurising every row with one feature set may take."""
_PROBE = 24
"""Inputs timed per candidate feature set."""


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


def prepare_features(search: Any, families: list[str]) -> None:
    """(``search``: the search of :func:`scifm.tuning.portfolio.search_families`.) Keep the
    feature sets the budget affords; featurise the sets of the families' first trials for
    every row up front (the families share them; refits and scoring reuse them through the
    memo)."""
    cfg = search.cfg
    if not any(fixed_features(cfg, f) is None for f in families):
        return
    search.choices = affordable_features(cfg, list(search.ds.inputs),
                                         FEATURE_SHARE * float(search.clock.seconds or 0))
    names = []
    for family in families:  # each objective enqueues its default trial with its features
        if search.objective(family).features is None:
            queued = _queued_features(search.studies[family])
            names.append(queued if queued in search.choices else search.choices[0])
    for name in dict.fromkeys(names):  # the parts they share are computed once (the memo)
        featurizer = featurizer_from_name(name, cfg.data.modality)
        if is_fixed(featurizer):
            search.cache[name] = featurize(featurizer, search.x_pool)
            featurize(featurizer, list(search.ds.inputs))  # test rows too, into the memo


def _queued_features(study: optuna.Study) -> str | None:
    """The feature set of the study's first waiting (enqueued) trial: Optuna keeps an enqueued
    trial's parameters in its ``fixed_params`` system attribute until the trial runs."""
    for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)):
        fixed = t.system_attrs.get("fixed_params") or {}
        return t.params.get("features", fixed.get("features"))
    return None
