"""A time budget inside one :class:`~transformers.Trainer` run (``scifm auto``'s transformer).

``scifm auto`` fine-tunes the ``transformer`` family once, on the outer split's train rows,
inside :func:`~scifm.utils.deadline.fit_deadline` (its share of the budget). The Trainer still
owns the loop; :class:`TrainerDeadline` only reads the clock at the end of each optimiser step:

* under a deadline that keeps the best (``keep_best=True``, the ``auto`` holdout search), after
  :data:`PLAN_AFTER_STEPS` steps, and again every quarter epoch, it times the steps and, when
  the steps planned (epochs x batches) and their per-epoch evaluations do not fit in the time
  left, it **shortens the run** to the steps that fit and rebuilds the linear learning-rate
  decay to end there (so the last step still trains at a small rate, as a planned run does);
  a later plan may lengthen it again, up to its planned steps; if the deadline passes, training
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
    the module docstring); ``eval_batches``: batches of one evaluation (0: none).

    The plan is made after :data:`PLAN_AFTER_STEPS` steps and made again every quarter epoch
    (or quarter of the steps left) from the steps timed since the last plan (evaluations left
    out, and timed themselves): the first batches are the longest (length-grouped batches start
    with the longest) and a busy machine slows some stretches, so one early timing would cut a
    run short for good. A later plan may give back steps, never more than the run was planned
    for."""

    def __init__(self, eval_batches: int) -> None:
        self.eval_batches = eval_batches
        self.planned: int | None = None
        """The steps the run was planned for (its epochs x batches)."""
        self.next_plan = PLAN_AFTER_STEPS
        self.mark = (0.0, 0)  # (time, step) where the current timing window starts
        self.eval_in_window = 0.0
        self.eval_s: float | None = None  # the last evaluation's seconds, once one was timed
        self._eval_t0: float | None = None
        self.stopped = False
        self.shortened_to: int | None = None
        """The steps the run was last fitted to (None: it kept its plan)."""

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.mark = (time.perf_counter(), int(state.global_step))

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
        elif state.global_step >= self.next_plan:
            self._fit_to(state, kwargs.get("lr_scheduler"), left)

    def _fit_to(self, state: Any, lr_scheduler: Any, left: float) -> None:
        now, done = time.perf_counter(), int(state.global_step)
        if self.planned is None:
            self.planned = int(state.max_steps)
        per_epoch = math.ceil(self.planned / max(1, state.num_train_epochs))
        step_s = (now - self.mark[0] - self.eval_in_window) / max(1, done - self.mark[1])
        self.mark, self.eval_in_window = (now, done), 0.0
        eval_s = (self.eval_s if self.eval_s is not None
                  else self.eval_batches * EVAL_STEP_SHARE * step_s + SAVE_SECONDS)
        total = max(done + 1, affordable_steps(self.planned, done, per_epoch, step_s, eval_s,
                                               left))
        self.next_plan = done + max(PLAN_AFTER_STEPS, min(per_epoch, total - done) // 4)
        if abs(total - state.max_steps) <= max(1, state.max_steps // 50):
            return  # within 2 %: the learning-rate schedule is not moved for so little
        logger.info("fine-tuning: %d of the %d planned steps fit in the %.0f s left (%.2f s a "
                    "step); the learning rate now decays to 0 at step %d", total, self.planned,
                    left, step_s, total)
        state.max_steps = self.shortened_to = total
        _shorten_schedule(lr_scheduler, total)

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.stopped:  # no evaluation or checkpoint of the unfinished epoch past the deadline
            control.should_evaluate = control.should_save = False
        self._eval_t0 = time.perf_counter()

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self._eval_t0 is not None:  # an epoch's evaluation and checkpoint, timed
            self.eval_s = time.perf_counter() - self._eval_t0
            self.eval_in_window += self.eval_s
            self._eval_t0 = None
