"""The ``scifm auto`` leaderboard: every trial of every family's study, plus the refitted finals.

Columns: ``family``, ``trial`` (empty for the combined models), ``state``, ``cv_mean``,
``cv_std`` (over folds), ``folds_done`` and ``cut`` (a first trial stopped by the time budget is
scored on the folds it finished; ``cut`` says so), ``resumed`` (that trial run again later,
fitting only the folds it had not finished), ``fit_seconds`` (the trial's CV; the refit
for finals), ``worker`` (host:pid), ``best_of_family`` (the trial that was refitted),
``selected`` (the winner), ``test_<metric>`` with ``test_<metric>_ci_low`` / ``_ci_high``
(finals only), ``params`` (JSON: a trial's parameters, the weighted average's weights, the
stacker's coefficients) and ``cv_folds`` (the folds the CV used, e.g. ``5-fold CV grouped by
scaffold (217 groups)``: the same on every row, :func:`scifm.tuning.folds.search_folds`, but for
a family searched on the outer split, e.g. ``holdout: fitted on the 3360 train rows, scored on
the 420 val rows``).
Sorted by ``cv_mean``, best first; trials that did not complete come last.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import optuna
import pandas as pd

logger = logging.getLogger(__name__)


def auto_leaderboard(studies: Mapping[str, optuna.Study], best: Mapping[str, int],
                     tests: Mapping[str, Mapping[str, Any]], metric: str, winner: str,
                     combined: Mapping[str, Mapping[str, Any]], results: Mapping[str, Any],
                     higher_is_better: bool, cv: str | None = None) -> pd.DataFrame:
    """One row per trial (all families) and one per combined model that was built.

    Parameters
    ----------
    studies
        ``family -> study``.
    best
        ``family -> number of the refitted trial``.
    tests
        ``family -> test metrics`` (``evaluate_predictions`` output) of the finals.
    metric, higher_is_better
        The primary metric and its direction (sort order).
    winner
        The selected model (a family, ``ensemble`` or ``stacking``).
    combined
        ``name -> {"cv_mean", "cv_std", "params"}`` of the combined models (weighted average,
        stacker) that were built: cross-fitted out-of-fold scores, weights or coefficients.
    results
        ``name -> FamilyResult`` of the finals (refit seconds).
    cv
        What folds the CV used (the ``cv_folds`` column; none without it).
    """
    rows: list[dict[str, Any]] = []
    for family, study in studies.items():
        for t in study.trials:
            final = t.number == best.get(family)
            rows.append({
                "family": family, "trial": t.number, "state": t.state.name,
                "cv_mean": t.user_attrs.get("cv_mean"), "cv_std": t.user_attrs.get("cv_std"),
                "folds_done": t.user_attrs.get("n_folds_done"), "cut": t.user_attrs.get("cut"),
                "resumed": t.user_attrs.get("resumed"),
                "fit_seconds": (results[family].fit_seconds if final and family in results
                                else t.user_attrs.get("fit_seconds")),
                "worker": t.user_attrs.get("worker"), "best_of_family": final,
                "selected": final and family == winner,
                **_test_cells(tests.get(family) if final else None, metric),
                "params": json.dumps(t.params, sort_keys=True, default=str),
                "_holdout": t.user_attrs.get("holdout")})
    for name, c in combined.items():
        if name not in results:
            continue
        rows.append({"family": name, "trial": None, "state": "COMPLETE",
                     "cv_mean": c["cv_mean"], "cv_std": c["cv_std"],
                     "fit_seconds": results[name].fit_seconds, "worker": None,
                     "best_of_family": True, "selected": winner == name,
                     **_test_cells(tests.get(name), metric),
                     "params": json.dumps(c["params"], sort_keys=True, default=str)})
    return _best_first(pd.DataFrame(rows), not higher_is_better, cv)


def _best_first(frame: pd.DataFrame, ascending: bool, cv: str | None) -> pd.DataFrame:
    """Completed trials first, by ``cv_mean``; the ``cv_folds`` column when ``cv`` is given."""
    if frame.empty:
        return frame
    held = frame.pop("_holdout") if "_holdout" in frame else None
    if cv is not None:
        frame["cv_folds"] = cv if held is None else held.where(held.notna(), cv)
    frame["_complete"] = frame["state"] == "COMPLETE"
    frame = frame.sort_values(["_complete", "cv_mean"], ascending=[False, ascending],
                              na_position="last", kind="stable")
    return frame.drop(columns="_complete").reset_index(drop=True)


def _test_cells(test: Mapping[str, Any] | None, metric: str) -> dict[str, Any]:
    entry = (test or {}).get(metric) or {}
    ci = entry.get("ci95") or [None, None]
    return {f"test_{metric}": entry.get("value"), f"test_{metric}_ci_low": ci[0],
            f"test_{metric}_ci_high": ci[1]}


def trial_record(trial: optuna.trial.FrozenTrial, number: int | str,
                 params: Mapping[str, Any]) -> dict[str, Any]:
    """One trial as :func:`scifm.tracking.mlflow.log_trials` takes it."""
    return {"number": number, "state": trial.state.name, "params": dict(params),
            "metrics": {k: trial.user_attrs[k] for k in ("cv_mean", "cv_std", "fit_seconds")
                        if isinstance(trial.user_attrs.get(k), (int, float))},
            "fold_scores": trial.user_attrs.get("fold_scores", [])}


def trial_records(studies: Mapping[str, optuna.Study]) -> list[dict[str, Any]]:
    """Every trial of several studies (``family`` in params, run name
    ``trial-<family>-<number>``)."""
    return [trial_record(t, f"{family}-{t.number}", {"family": family, **t.params})
            for family, study in studies.items() for t in study.trials]


def study_trial_records(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial of one study."""
    return [trial_record(t, t.number, t.params) for t in study.trials]


def study_leaderboard(study: optuna.Study, cv: str | None = None) -> pd.DataFrame:
    """One row per trial, best first: number, state, cv mean / std, fit seconds, parameters,
    and ``cv_folds`` (what folds the CV used) when ``cv`` is given."""
    rows = []
    for t in study.trials:
        rows.append({"trial": t.number, "state": t.state.name,
                     "cv_mean": t.user_attrs.get("cv_mean"), "cv_std": t.user_attrs.get("cv_std"),
                     "folds_done": t.user_attrs.get("n_folds_done"),
                     "fit_seconds": t.user_attrs.get("fit_seconds"),
                     **{f"param_{k}": v for k, v in t.params.items()}})
    ascending = study.direction == optuna.study.StudyDirection.MINIMIZE
    return _best_first(pd.DataFrame(rows), ascending, cv)


