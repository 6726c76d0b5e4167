"""Whether a kernel machine's fit can end before the deadline, asked before it starts.

A support vector machine (scikit-learn's ``SVC`` / ``SVR``, libsvm) fits in one C call that
nothing can stop, and its time grows at least with the square of the rows: on Tox21 (6,258
train rows, 2,261 features) one task's calibrated SVC took about 80 s where the search had
given the whole family 6 s. Under a deadline (:func:`~scifm.utils.deadline.fit_deadline`)
:func:`kernel_fit_seconds` times the same estimator on :data:`PILOT_ROWS` rows and scales that
by ``(n / PILOT_ROWS) ** 2`` (a lower bound: libsvm is between quadratic and cubic), so that the
caller can give up at once with :class:`~scifm.utils.deadline.TimeUp` instead of overrunning.
Outside a deadline nothing is timed.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from scifm.utils.deadline import seconds_left

__all__ = ["PILOT_ROWS", "is_kernel_machine", "kernel_fit_seconds"]

logger = logging.getLogger(__name__)

PILOT_ROWS = 300
"""Rows the pilot fit is timed on."""


def is_kernel_machine(est: BaseEstimator) -> bool:
    """Whether ``est`` is, or wraps (a pipeline, a calibrator), a libsvm ``SVC`` / ``SVR``."""
    from sklearn.svm import SVC, SVR

    if isinstance(est, (SVC, SVR)):
        return True
    return any(isinstance(v, (SVC, SVR)) for v in est.get_params(deep=True).values())


def kernel_fit_seconds(est: BaseEstimator, X: Any, y: np.ndarray, seed: int = 0,
                       ) -> float | None:
    """Estimated seconds of ``est.fit`` on the labelled rows of ``X, y`` (one task), or None:
    no deadline is set, ``est`` is no kernel machine, the rows are too few to matter, or the
    pilot fit failed (the real fit then shows why)."""
    if seconds_left() is None or not is_kernel_machine(est):
        return None
    rows = np.flatnonzero(~np.isnan(np.asarray(y, dtype=np.float64)))
    if len(rows) <= 2 * PILOT_ROWS:
        return None
    pick = np.sort(np.random.default_rng(seed).choice(rows, PILOT_ROWS, replace=False))
    y_pick = np.asarray(y)[pick]
    if len(np.unique(y_pick)) < 2:
        return None
    pilot = clone(est)
    if isinstance(cv := pilot.get_params().get("cv"), int):
        pilot.set_params(cv=max(2, min(cv, int(np.unique(y_pick, return_counts=True)[1].min()))))
    t0 = time.perf_counter()
    try:
        pilot.fit(X[pick], y_pick)
    except (ValueError, ArithmeticError) as err:
        logger.debug("kernel pilot fit failed (%s): no estimate", err)
        return None
    return (time.perf_counter() - t0) * (len(rows) / PILOT_ROWS) ** 2
