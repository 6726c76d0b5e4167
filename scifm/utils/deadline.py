"""A wall-clock deadline that long fits check, so that a time budget holds inside one fit.

``scifm auto --time-budget N`` must end within ``N`` seconds whatever the data: one fold of one
trial (27 tasks x a LightGBM early-stopping run, an MPNN's epochs) can by itself outlast a short
budget. The search sets the time by which the running fit must be over::

    with fit_deadline(time.time() + 40):
        estimator.fit(X, y)          # raises TimeUp if still fitting after 40 s

and the estimators check it where they can stop cleanly (between tasks, every boosting round,
every epoch): :func:`check_deadline`, :func:`lightgbm_callback`. A fit that runs out of time
raises :class:`TimeUp`; its caller (the search objective) scores the trial on the folds it
finished, or drops it. A deadline set with ``keep_best=True`` (the final refit) instead ends a
fit with what it has: :func:`task_share` gives each of several tasks an equal share of the
time left, and the boosting callbacks (:func:`lightgbm_callback`, :func:`xgboost_callback`)
stop at the rounds done, so every task still has a model. Outside :func:`fit_deadline` nothing
is ever stopped (``scifm train``).

The deadline is a :class:`contextvars.ContextVar`: it is per thread / task and is set inside the
process that fits (a search worker process sets its own).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["TimeUp", "check_deadline", "deadline_passed", "fit_deadline", "keeps_best",
           "lightgbm_callback", "seconds_left", "task_share", "xgboost_callback"]

_DEADLINE: ContextVar[float | None] = ContextVar("scifm_fit_deadline", default=None)
_KEEP_BEST: ContextVar[bool] = ContextVar("scifm_fit_keep_best", default=False)


class TimeUp(Exception):  # noqa: N818 - a signal, not an error of the user's
    """A fit was still running when its deadline passed (caught by the search, never shown to
    the user as an error)."""


@contextmanager
def fit_deadline(deadline: float | None, keep_best: bool = False) -> Iterator[None]:
    """Fits inside this block stop with :class:`TimeUp` once ``time.time() > deadline``
    (``None``: no deadline; an enclosing, earlier deadline still holds).

    ``keep_best=True``: a fit that can end early with a usable model (an MPNN with at least one
    epoch done, :mod:`scifm.models.mpnn_build`) ends there instead, keeping its best epoch and
    fitting its schedule to the time left (:func:`keeps_best`); the others still raise."""
    outer = _DEADLINE.get()
    if deadline is not None and outer is not None:
        deadline = min(deadline, outer)
    token = _DEADLINE.set(deadline if deadline is not None else outer)
    keep = _KEEP_BEST.set(keep_best)
    try:
        yield
    finally:
        _KEEP_BEST.reset(keep)
        _DEADLINE.reset(token)


def keeps_best() -> bool:
    """Whether the current deadline lets a fit end early with its best state so far
    (:func:`fit_deadline` ``keep_best``) instead of raising :class:`TimeUp`."""
    return _DEADLINE.get() is not None and _KEEP_BEST.get()


def seconds_left() -> float | None:
    """Seconds until the current deadline (negative once it has passed; ``None``: none set)."""
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.time()


def deadline_passed() -> bool:
    """Whether a deadline is set and has passed (a fit that keeps its best then ends)."""
    left = seconds_left()
    return left is not None and left < 0


def check_deadline(where: str = "fit") -> None:
    """Raise :class:`TimeUp` if the current deadline has passed (``where`` says what stopped)."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.time() > deadline:
        raise TimeUp(f"{where}: time budget spent")


@contextmanager
def task_share(j: int, n_tasks: int) -> Iterator[None]:
    """Task ``j`` of ``n_tasks`` fitted one after the other: under a deadline that keeps the
    best (:func:`keeps_best`), its fit gets an equal share of the time left for the tasks still
    to fit, and ends there with what it has (a forest's trees so far, a booster's rounds), so
    that every task has a model when the deadline comes; otherwise nothing changes."""
    left = seconds_left()
    if left is None or not keeps_best() or n_tasks <= 1:
        yield
        return
    with fit_deadline(time.time() + max(0.0, left) / max(1, n_tasks - j), keep_best=True):
        yield


def lightgbm_callback() -> Callable[[Any], None] | None:
    """A LightGBM training callback checked every boosting round, or ``None`` when no deadline
    is set. Past the deadline it raises :class:`TimeUp`, or, when the deadline keeps the best
    (:func:`keeps_best`), ends the training with the rounds done (LightGBM's own
    ``EarlyStopException``; the callback's ``stopped`` is then the last round)."""
    if _DEADLINE.get() is None:
        return None

    def _callback(env: Any) -> None:
        if keeps_best() and deadline_passed():
            import lightgbm as lgb

            _callback.stopped = env.iteration  # type: ignore[attr-defined]
            raise lgb.callback.EarlyStopException(env.iteration,
                                                  env.evaluation_result_list or [])
        check_deadline(f"boosting round {env.iteration}")

    _callback.order = 5  # type: ignore[attr-defined] - LightGBM sorts callbacks by ``order``
    _callback.stopped = None  # type: ignore[attr-defined]
    return _callback


def xgboost_callback() -> Any | None:
    """The same for XGBoost (a ``TrainingCallback`` checked after every boosting round; past a
    deadline that keeps the best it stops the training, whose early-stopping state still names
    the best round), or ``None`` when no deadline is set."""
    if _DEADLINE.get() is None:
        return None
    import xgboost as xgb

    class _Deadline(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if keeps_best() and deadline_passed():
                return True
            check_deadline(f"boosting round {epoch}")
            return False

    return _Deadline()
