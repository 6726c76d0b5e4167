"""Trainer callbacks: the progress bar without the raw log dictionaries."""

from __future__ import annotations

import logging
from typing import Any

from transformers import ProgressCallback

logger = logging.getLogger(__name__)


class EvalLogProgress(ProgressCallback):
    """Trainer's progress bar, with one readable log line per evaluation instead of raw dicts.

    Subclasses say which evaluation logs are left out (:attr:`hidden`) and how the line starts
    (:meth:`prefix`).
    """

    hidden: tuple[str, ...] = ("runtime", "per_second")
    """Suffixes of the ``eval_*`` log keys not shown."""

    def prefix(self, logs: dict, state: Any) -> str:
        """The start of the line, before the values (``"step 100:"``)."""
        return f"step {state.global_step}:"

    def on_prediction_step(self, args: Any, state: Any, control: Any, eval_dataloader: Any = None,
                           **kwargs: Any) -> None:
        """No second progress bar for the (short) evaluation pass."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        shown = {k.removeprefix("eval_"): v for k, v in logs.items()
                 if k.startswith("eval_") and isinstance(v, float) and not k.endswith(self.hidden)}
        if shown:
            text = ", ".join(f"{k} {v:.4g}" for k, v in shown.items())
            logger.info("%s %s", self.prefix(logs, state), text)


class EpochLogProgress(EvalLogProgress):
    """One line per validation pass, by epoch (fine-tuning)."""

    hidden = ("runtime", "per_second", "selection")

    def prefix(self, logs: dict, state: Any) -> str:
        return f"epoch {logs.get('epoch', state.epoch or 0):.0f}: val"


class StepLogProgress(EvalLogProgress):
    """One line per held-out evaluation, by step (streamed pretraining)."""

    def prefix(self, logs: dict, state: Any) -> str:
        return f"step {state.global_step}: held-out"
