"""The progress callbacks log one readable line per evaluation (epoch or step), nothing else."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from scifm.training.callbacks import EpochLogProgress, StepLogProgress

LOGS = {"eval_loss": 0.5, "eval_roc_auc": 0.75, "eval_runtime": 1.0,
        "eval_samples_per_second": 9.0, "eval_selection": 0.75, "epoch": 2.0, "loss": 0.4}


def _lines(callback, caplog, state, logs):
    with caplog.at_level(logging.INFO, logger="scifm.training.callbacks"):
        callback.on_log(None, state, None, logs=logs)
    return [r.getMessage() for r in caplog.records]


def test_epoch_line_shows_validation_values_only(caplog):
    state = SimpleNamespace(is_world_process_zero=True, epoch=2.0, global_step=10)
    assert _lines(EpochLogProgress(), caplog, state, LOGS) == [
        "epoch 2: val loss 0.5, roc_auc 0.75"]


def test_step_line_keeps_every_held_out_value(caplog):
    state = SimpleNamespace(is_world_process_zero=True, epoch=None, global_step=10)
    assert _lines(StepLogProgress(), caplog, state, LOGS) == [
        "step 10: held-out loss 0.5, roc_auc 0.75, selection 0.75"]


def test_no_line_without_evaluation_or_off_the_main_process(caplog):
    main = SimpleNamespace(is_world_process_zero=True, epoch=1.0, global_step=5)
    other = SimpleNamespace(is_world_process_zero=False, epoch=1.0, global_step=5)
    assert _lines(EpochLogProgress(), caplog, main, {"loss": 0.4}) == []
    assert _lines(StepLogProgress(), caplog, other, LOGS) == []
