"""Trainer callbacks: the progress bar without the raw log dictionaries."""

from __future__ import annotations

import logging
from typing import Any

from transformers import ProgressCallback

logger = logging.getLogger(__name__)


class EpochLogProgress(ProgressCallback):
    """Trainer's progress bar, with one readable log line per evaluation instead of raw dicts."""

    def on_prediction_step(self, args: Any, state: Any, control: Any, eval_dataloader: Any = None,
                           **kwargs: Any) -> None:
        """No second progress bar for the (short) per-epoch validation pass."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        shown = {k.removeprefix("eval_"): v for k, v in logs.items()
                 if k.startswith("eval_") and isinstance(v, float)
                 and not k.endswith(("runtime", "per_second", "selection"))}
        if shown:
            text = ", ".join(f"{k} {v:.4g}" for k, v in shown.items())
            logger.info("epoch %.0f: val %s", logs.get("epoch", state.epoch or 0), text)


class StepLogProgress(ProgressCallback):
    """Trainer's progress bar with one log line per evaluation, by step (streamed pretraining)."""

    def on_prediction_step(self, args: Any, state: Any, control: Any, eval_dataloader: Any = None,
                           **kwargs: Any) -> None:
        """No second progress bar for the held-out evaluation."""

    def on_log(self, args: Any, state: Any, control: Any, logs: dict | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs:
            return
        shown = {k.removeprefix("eval_"): v for k, v in logs.items()
                 if k.startswith("eval_") and isinstance(v, float)
                 and not k.endswith(("runtime", "per_second"))}
        if shown:
            text = ", ".join(f"{k} {v:.4g}" for k, v in shown.items())
            logger.info("step %d: held-out %s", state.global_step, text)
