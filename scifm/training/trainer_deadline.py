"""A time budget inside one :class:`~transformers.Trainer` run (``scifm auto``'s transformer).

``scifm auto`` fine-tunes the ``transformer`` family once, on the outer split's train rows,
inside :func:`~scifm.utils.deadline.fit_deadline` (its share of the budget). The Trainer still
owns the loop; :class:`TrainerDeadline` only reads the clock at the end of each optimiser step:

* under a deadline that keeps the best (``keep_best=True``, the ``auto`` holdout search), after
  :data:`PLAN_AFTER_STEPS` steps it times a step and, when the steps planned (epochs x batches)
  and their per-epoch evaluations do not fit in the time left, it **shortens the run** to the
  steps that fit and rebuilds the linear learning-rate decay to end there (so the last step
  still trains at a small rate, as a planned run does); if the deadline passes anyway, training
  ends at once, without evaluating the unfinished epoch, and the Trainer loads the best
  evaluated checkpoint (``load_best_model_at_end``), or keeps the last weights when none was;
* under a plain deadline it raises :class:`~scifm.utils.deadline.TimeUp` (the search drops
  the trial), as every other family's fit does.

Outside a deadline it does nothing (``scifm train``, ``scifm finetune``).
"""

from __future__ import annotations

import functools
import logging
import math
import time
from typing import Any

from transformers import TrainerCallback

from scifm.utils.deadline import check_deadline, keeps_best, seconds_left

__all__ = ["EVAL_STEP_SHARE", "PLAN_AFTER_STEPS", "SAVE_SECONDS", "TrainerDeadline",
           "affordable_steps"]

logger = logging.getLogger(__name__)

PLAN_AFTER_STEPS = 8
"""Optimiser steps timed before the run is fitted to the time left (the first steps also pay
for the data loader's start)."""
EVAL_STEP_SHARE = 0.35
"""An evaluation batch costs about this share of a training step (forward pass only)."""
SAVE_SECONDS = 1.0
"""Writing one checkpoint after an evaluation (MiniLM: 90 MB)."""


def affordable_steps(planned: int, done: int, per_epoch: int, step_s: float, eval_s: float,
                     left: float) -> int:
    """The most optimiser steps (``done`` included, at most ``planned``) whose training
    (``step_s`` each) and evaluations (``eval_s`` at each epoch end still to come, the last,
    shortened epoch included) fit in ``left`` seconds; ``done`` when none more does."""
    per_epoch = max(1, per_epoch)

    def need(total: int) -> float:
        evals = math.ceil(total / per_epoch) - done // per_epoch
        return (total - done) * step_s + evals * eval_s

    low, high = done, planned  # need() grows with the steps: the largest total that fits
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if need(mid) <= left else (low, mid - 1)
    return low


def _shorten_schedule(lr_scheduler: Any, total: int) -> bool:
    """Rebuild a linear warm-up/decay schedule (``transformers.get_scheduler('linear')``: a
    ``LambdaLR`` over a ``partial`` with ``num_training_steps``) to end at step ``total``;
    False when the scheduler is of another kind (left as it is)."""
    lambdas = getattr(lr_scheduler, "lr_lambdas", None)
    if not lambdas:
        return False
    rebuilt = []
    for fn in lambdas:
        if not (isinstance(fn, functools.partial) and "num_training_steps" in fn.keywords):
            return False
        kw = dict(fn.keywords, num_training_steps=total)
        if "num_warmup_steps" in kw:
            kw["num_warmup_steps"] = min(int(kw["num_warmup_steps"]), total // 5)
        rebuilt.append(functools.partial(fn.func, *fn.args, **kw))
    lr_scheduler.lr_lambdas = rebuilt
    return True


class TrainerDeadline(TrainerCallback):
    """Fits a Trainer run to the deadline of :func:`~scifm.utils.deadline.fit_deadline` (see
    the module docstring); ``eval_batches``: batches of one evaluation (0: none)."""

    def __init__(self, eval_batches: int) -> None:
        self.eval_batches = eval_batches
        self.t0 = 0.0
        self.planned = False
        self.stopped = False
        self.shortened_to: int | None = None
        """The steps the run was shortened to (None: it kept its plan)."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.t0 = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        left = seconds_left()
        if left is None:
            return
        if not keeps_best():
            check_deadline(f"fine-tuning step {state.global_step}")
            return
        if left < 0:
            if not self.stopped:
                logger.info("fine-tuning: time budget spent at step %d of %d; the best "
                            "evaluated epoch is kept", state.global_step, state.max_steps)
            self.stopped = control.should_training_stop = True
        elif not self.planned and state.global_step >= PLAN_AFTER_STEPS:
            self.planned = True
            self._fit_to(state, kwargs.get("lr_scheduler"), left)

    def _fit_to(self, state: Any, lr_scheduler: Any, left: float) -> None:
        done = int(state.global_step)
        step_s = (time.perf_counter() - self.t0) / max(1, done)
        per_epoch = math.ceil(state.max_steps / max(1, state.num_train_epochs))
        eval_s = self.eval_batches * EVAL_STEP_SHARE * step_s + SAVE_SECONDS
        total = max(done + 1, affordable_steps(int(state.max_steps), done, per_epoch, step_s,
                                               eval_s, left))
        if total >= state.max_steps:
            return
        logger.info("fine-tuning: %d of the %d planned steps fit in the %.0f s left (%.2f s a "
                    "step); the learning rate now decays to 0 at step %d", total,
                    state.max_steps, left, step_s, total)
        state.max_steps = self.shortened_to = total
        _shorten_schedule(lr_scheduler, total)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stopped:  # no evaluation or checkpoint of the unfinished epoch past the deadline
            control.should_evaluate = control.should_save = False
