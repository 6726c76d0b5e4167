"""What follows an ``auto`` search, in seconds: the refits, the combinations, the report.

The search (:mod:`scifm.tuning.portfolio`) stops early enough to leave this **tail** its
estimated time (:func:`tail_seconds`), and the combinations use only the families whose refits
still fit in what is left (:func:`affordable_members`). Both are estimates from the times
measured in the search (seconds per fold, scoring) plus fixed parts measured on 2 cores:

* :func:`report_seconds`: the uncertainty layer and the HTML report (its first call imports
  matplotlib and plotly: 1.7 s of the 3 s FreeSolv's report took), growing with the rows;
* :data:`MEMBER_SECONDS`: each combination (weighted average, stacker) loads, predicts and
  saves its members again.

ESOL at 61.8 s with five complete families overran by 7 s (the tail took 12.9 s for an estimate
under 6 s) when the estimate counted the three best families' refits only, 2.5 s of report and
no member costs; the stacker then combined five refitted families.
"""

from __future__ import annotations

import logging
import math
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scifm.tuning.budget_clock import FamilySearch, RunClock

__all__ = ["MEMBER_SECONDS", "REPORT_SECONDS", "SKOPS_IMPORT_SECONDS", "affordable_members",
           "refit_seconds", "report_seconds", "reuse_seconds", "tail_seconds"]

logger = logging.getLogger(__name__)

REPORT_SECONDS = 1.5
"""The uncertainty layer and the report on a few rows: fixed part of the tail (measured: 1.6-1.8
s on 80 rows, the uncertainty layer skipped); :data:`REPORT_ROW_SECONDS` more per row."""
REPORT_ROW_SECONDS = 0.003
"""The report's and uncertainty layer's time per row of the data set, up to
:data:`REPORT_ROWS_CAP` rows (measured: 2.6-4.4 s on FreeSolv's 642 rows, 3.4-6.4 s on ESOL's
1,128). A flat 4 s left a 9 s budget on 80 rows no time for its second family."""
REPORT_ROWS_CAP = 1000
"""Rows beyond which the report takes no longer (its plots and intervals are of the test rows;
bootstrap and plots are sampled)."""
MEMBER_SECONDS = 0.3
"""Each member of each combination: loaded, run on val and test, saved again (measured: ESOL's
two combinations of five members took 3.6 s)."""


SKOPS_IMPORT_SECONDS = 3.0
"""The first save of a scikit-learn model in a process imports ``skops.io``, which lists the
public types of scikit-learn's modules (measured: 2.9 s on an idle machine, 6.7 s on a busy
one); counted in the tail until it has been imported (a holdout search's kept model)."""


def report_seconds(n_rows: int) -> float:
    """Estimated seconds of the uncertainty layer and the report for a data set of ``n_rows``
    (:data:`REPORT_SECONDS` + :data:`REPORT_ROW_SECONDS` per row, up to
    :data:`REPORT_ROWS_CAP`), plus :data:`SKOPS_IMPORT_SECONDS` while no model has been saved
    (the first refit pays it)."""
    first_save = 0.0 if "skops.io" in sys.modules else SKOPS_IMPORT_SECONDS
    return first_save + REPORT_SECONDS + REPORT_ROW_SECONDS * min(max(0, n_rows),
                                                                  REPORT_ROWS_CAP)


def _value(search: FamilySearch, higher_is_better: bool) -> float:
    v = search.best.value
    if v is None or v != v:
        return math.inf
    return -float(v) if higher_is_better else float(v)


def tail_seconds(searches: dict[str, FamilySearch], n_train: int, n_fold_train: int,
                 higher_is_better: bool, score_s: float = 0.0, n_outputs: int = 1,
                 top: int = 3, members: int = 5) -> float:
    """Estimated seconds of what follows the search: refitting on ``n_train`` rows the ``top``
    families by CV and every other family among the ``members`` best that a combination may
    use (complete, or a holdout search's kept model: :func:`reuse_seconds`), with their
    measured seconds per fold scaled from ``n_fold_train`` rows; scoring them and the two
    combinations (``score_s`` each: val and test with bootstrap intervals); each combination
    running its members again (:data:`MEMBER_SECONDS`, and a kept model's reuse); then the
    report (:func:`report_seconds` of ``n_train`` rows, two paired comparisons and the
    uncertainty layer of each output)."""
    best = sorted(searches.values(), key=lambda s: _value(s, higher_is_better))
    scored = best[:top] + [s for s in best[top:members]
                           if s.model_dir is not None or s.complete]
    in_comb = [s for s in best[:members] if s.model_dir is not None or s.complete]
    n_comb = 2 if len(in_comb) > 1 else 0
    again = sum(reuse_seconds(s) + MEMBER_SECONDS for s in in_comb)
    return (report_seconds(n_train) + 0.5 * n_outputs + (len(scored) + n_comb + 2) * score_s
            + sum(refit_seconds(s, n_train, n_fold_train) for s in scored) + n_comb * again)


def refit_seconds(search: FamilySearch, n_train: int, n_fold_train: int) -> float:
    """Estimated seconds to refit ``search``'s best configuration on ``n_train`` rows (its
    seconds per fold, scaled from ``n_fold_train`` rows); for a holdout search whose fitted
    model is kept, what reusing it costs (:func:`reuse_seconds`)."""
    if search.model_dir is not None:
        return reuse_seconds(search)
    return search.fold_seconds * max(1.0, n_train / max(1, n_fold_train))


def reuse_seconds(search: FamilySearch) -> float:
    """Estimated seconds to reuse a holdout search's kept model as the refit: load it and save
    it into the run directory (about twice its saving time in the search), and predict the val
    and test rows (about twice its prediction of the val rows in the search). Tox21's kept
    forests cost seconds each, and the two combinations pay it again for their members."""
    attrs = search.best.user_attrs
    return 2.0 * (float(attrs.get("save_seconds") or 0.0)
                  + float(attrs.get("predict_seconds") or 0.0))


def affordable_members(families: list[str], searches: dict[str, FamilySearch], clock: RunClock,
                       n_train: int, n_fold_train: int) -> list[str]:
    """The families (best first) a combination may use: the best always, then each next one
    while the estimated refits of those kept, and running each again in the two combinations
    (:data:`MEMBER_SECONDS`), still fit in the time left (with the report)."""
    kept: list[str] = []
    spent = report_seconds(n_train)
    for family in families:
        search = searches[family]
        refit = refit_seconds(search, n_train, n_fold_train)
        cost = refit + 2 * (MEMBER_SECONDS + reuse_seconds(search))
        if kept and refit > 0 and spent + cost > clock.left():  # a kept model always joins
            continue
        kept.append(family)
        spent += cost
    if len(kept) < len(families):
        logger.info("time budget: combinations may use %s (%s would not be refitted in time)",
                    kept, [f for f in families if f not in kept])
    return kept
