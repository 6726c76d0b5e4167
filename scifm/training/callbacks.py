"""Trainer callbacks: a progress bar (:mod:`scifm.utils.progress`, instead of the Trainer's tqdm
bar) and one readable log line per evaluation instead of the raw log dictionaries.

When early stopping ends a run, the bar goes and one line says so, e.g. ``early stopping at
epoch 9 (no val improvement for 8 epochs); best checkpoint: epoch 1 (val loss 0.3773, rmse
0.8287)``, so a run that stopped at 40% of its planned steps does not read as an abort.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from transformers import TrainerCallback

from scifm.utils import progress

logger = logging.getLogger(__name__)


class EvalLogProgress(TrainerCallback):
    """A progress bar over the optimiser steps, one readable log line per evaluation and a line
    when early stopping ends the run (main process only).

    Subclasses say which evaluation logs are left out (:attr:`hidden`), how the line starts
    (:meth:`prefix`) and what the bar and the early-stopping line call a point of the run
    (:meth:`title`, :meth:`when`).
    """

    hidden: tuple[str, ...] = ("runtime", "per_second")
    """Suffixes of the ``eval_*`` log keys not shown."""
    unit = "evaluation"
    """What one evaluation is called in the early-stopping line (``8 evaluations``)."""

    def __init__(self) -> None:
        self.bar: progress.Bar | None = None
        self.stopped_early = False

    def prefix(self, logs: dict, state: Any) -> str:
        """The start of the line, before the values (``"step 100:"``)."""
        return f"step {state.global_step}:"

    def title(self, args: Any, state: Any) -> str:
        """The bar's description."""
        return "training"

    def when(self, entry: dict, state: Any) -> str:
        """A point of the run (an evaluation's log entry): ``step 100``."""
        return f"step {entry.get('step', state.global_step)}"

    def values(self, logs: dict) -> str:
        """``loss 0.5, roc_auc 0.75``: the evaluation values shown."""
        shown = {k.removeprefix("eval_"): v for k, v in logs.items()
                 if k.startswith("eval_") and isinstance(v, float) and not k.endswith(self.hidden)}
        return ", ".join(f"{k} {v:.4g}" for k, v in shown.items())

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.is_world_process_zero:
            self.bar = progress.start(self.title(args, state), total=state.max_steps,
                                      unit="steps", level=logging.DEBUG)
            self.bar.update(completed=state.global_step)  # resumed from a checkpoint

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.update(completed=state.global_step, description=self.title(args, state))

    def on_prediction_step(self, args: Any, state: Any, control: Any, eval_dataloader: Any = None,
                           **kwargs: Any) -> None:
        """No second progress bar for the (short) evaluation pass."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        text = self.values(logs)
        if text:
            logger.info("%s %s", self.prefix(logs, state), text)

    def on_evaluate(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        """Early stopping (``EarlyStoppingCallback``, called before this one) asked the run to
        stop before its last step."""
        if control.should_training_stop and state.global_step < state.max_steps:
            self.stopped_early = True

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close(done=False)
            self.bar = None
        if self.stopped_early and state.is_world_process_zero:
            logger.info("%s", self.early_stopping_line(args, state))

    def early_stopping_line(self, args: Any, state: Any) -> str:
        """``early stopping at epoch 9 (no val improvement for 8 epochs); best checkpoint:
        epoch 1 (val loss 0.3773, rmse 0.8287)``, from the Trainer's log history."""
        key = f"eval_{(args.metric_for_best_model or 'loss').removeprefix('eval_')}"
        evals = [e for e in state.log_history if isinstance(e.get(key), (int, float))]
        stop = self.when({"epoch": state.epoch, "step": state.global_step}, state)
        if not evals or state.best_metric is None:
            return f"early stopping at {stop} (no val improvement)"
        best = min(range(len(evals)), key=lambda i: abs(evals[i][key] - state.best_metric))
        since = len(evals) - 1 - best
        plural = "" if since == 1 else "s"
        return (f"early stopping at {stop} (no val improvement for {since} {self.unit}{plural});"
                f" best checkpoint: {self.when(evals[best], state)} "
                f"(val {self.values(evals[best])})")


class EpochLogProgress(EvalLogProgress):
    """One line per validation pass, by epoch (fine-tuning)."""

    hidden = ("runtime", "per_second", "selection")
    unit = "epoch"

    def prefix(self, logs: dict, state: Any) -> str:
        return f"epoch {logs.get('epoch', state.epoch or 0):.0f}: val"

    def title(self, args: Any, state: Any) -> str:
        epoch = max(1, math.ceil(state.epoch or 0))  # epoch 1.0 ends the first epoch
        planned = getattr(state, "num_train_epochs", None) or args.num_train_epochs
        return f"fine-tuning: epoch {epoch} of {planned:g}"

    def when(self, entry: dict, state: Any) -> str:
        return f"epoch {entry.get('epoch', state.epoch or 0):.0f}"


class StepLogProgress(EvalLogProgress):
    """One line per held-out evaluation, by step (streamed pretraining)."""

    def prefix(self, logs: dict, state: Any) -> str:
        return f"step {state.global_step}: held-out"

    def title(self, args: Any, state: Any) -> str:
        return "pretraining"
