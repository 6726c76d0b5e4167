"""A logistic regression fitted in rounds of iterations, so that a deadline holds inside its fit.

``LogisticRegression`` (lbfgs) on a wide TF-IDF matrix can run for minutes in one ``fit`` call
(ChemProt: 156 s for a 38 s share of ``scifm auto --time-budget 1800``, which starved every other
TF-IDF family). Inside :func:`~scifm.utils.deadline.fit_deadline` :func:`fit_in_rounds` fits it
:data:`ROUND_ITERS` iterations at a time, each round warm-started from the last coefficients
(``warm_start``), with a deadline check before each round, and each round no longer than the
measured seconds per iteration say fit before the deadline:

* a plain deadline (a search trial): :class:`~scifm.utils.deadline.TimeUp` when it has passed,
  so the trial is scored on the folds it finished;
* a deadline that keeps the best (the refit, a holdout fit): the first round always runs, then
  rounds go on while the measured
  seconds per iteration say the next one ends in time, then the coefficients reached are kept
  (a logistic regression stopped early is a more regularised one, still a usable model).

Without a deadline it is one plain ``fit`` (``scifm train`` is unchanged). Each warm-started
round restarts lbfgs's curvature memory, so the rounds need a few more iterations than one fit
to converge; the total stays capped at the estimator's ``max_iter``.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline

from scifm.models.pipeline_steps import final_step
from scifm.utils.deadline import check_deadline, keeps_best, seconds_left

__all__ = ["ROUND_ITERS", "fit_in_rounds", "fits_in_rounds"]

ROUND_ITERS = 20
"""lbfgs iterations between two deadline checks."""

logger = logging.getLogger(__name__)


def fits_in_rounds(est: BaseEstimator) -> bool:
    """Whether ``est`` (possibly the last step of a pipeline) is a warm-startable logistic
    regression and a deadline is set."""
    from sklearn.linear_model import LogisticRegression

    final = final_step(est)
    return (seconds_left() is not None and isinstance(final, LogisticRegression)
            and final.get_params()["solver"] in ("lbfgs", "newton-cg", "sag", "saga")
            and int(final.get_params()["max_iter"]) > ROUND_ITERS)


def fit_in_rounds(est: BaseEstimator, X: Any, y: np.ndarray, **kwargs: Any) -> BaseEstimator:
    """``est.fit(X, y, **kwargs)`` in rounds of :data:`ROUND_ITERS` iterations (module doc).

    ``kwargs`` are fit parameters; for a pipeline, routed to the last step as
    ``<step>__<name>`` (the form :class:`~sklearn.pipeline.Pipeline` takes)."""
    final = final_step(est)
    if isinstance(est, Pipeline):
        name = est.steps[-1][0]
        if any(not k.startswith(f"{name}__") for k in kwargs):
            raise ValueError(f"fit parameters for a step other than {name!r}: {sorted(kwargs)}")
        kwargs = {k.removeprefix(f"{name}__"): v for k, v in kwargs.items()}
        if not keeps_best():
            check_deadline(f"{type(final).__name__} fit")
        X = est[:-1].fit_transform(X, y)  # the same step objects: the pipeline is fitted
    total = int(final.get_params()["max_iter"])
    final.set_params(warm_start=True, max_iter=ROUND_ITERS)
    done, per_iter, converged = 0, None, False
    try:
        while done < total and not converged:
            size = min(ROUND_ITERS, total - done)
            if not keeps_best():
                check_deadline(f"{type(final).__name__} iteration {done + 1}/{total}")
            if per_iter is not None:  # the round ends by the deadline
                fit = int(max(0.0, seconds_left() or 0.0) // max(per_iter, 1e-9))
                size = min(size, fit if keeps_best() else max(fit, 1))
                if size == 0:
                    logger.info("%s: stopped after %d iterations when the time was up; kept",
                                type(final).__name__, done)
                    break
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                final.set_params(max_iter=size).fit(X, y, **kwargs)
            n = int(np.max(final.n_iter_))
            converged = n < size
            per_iter, done = (time.perf_counter() - t0) / max(n, 1), done + max(n, 1)
    finally:
        final.set_params(warm_start=False, max_iter=total)
    return est
