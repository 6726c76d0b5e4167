"""Progress of long steps: bars drawn only on a terminal, never with -q or off the main process;
milestones logged whatever is drawn; LightGBM rounds, search folds and early stopping shown."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
import torch
from rich.console import Console
from torch import nn
from transformers import EarlyStoppingCallback, Trainer, TrainingArguments

from scifm.training.callbacks import EpochLogProgress
from scifm.utils import progress

LOGGER = "scifm.utils.progress"


@pytest.fixture
def screen(monkeypatch):
    """A terminal the bars are drawn on (a buffer), not quiet, the main process."""
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "console",
                        Console(file=buffer, force_terminal=True, width=100))
    monkeypatch.setattr(progress, "_STATE", {"quiet": False, "live": None, "open": 0})
    monkeypatch.delenv("RANK", raising=False)
    return buffer


def _steps(n: int = 3, **kwargs):
    with progress.track("featurising 3 SMILES (ecfp)", total=n, unit="inputs", **kwargs) as bar:
        for _ in range(n):
            bar.advance()
    return bar


def test_a_bar_is_drawn_on_a_terminal_and_leaves_it_when_done(screen, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        bar = _steps()
    assert "featurising 3 SMILES" in screen.getvalue()
    assert progress._STATE["live"] is None  # the display stopped with its last bar
    assert bar.completed == 3 and bar.closed
    assert any("3 of 3 inputs in" in r.getMessage() for r in caplog.records)


def test_quiet_draws_nothing_but_milestones_are_logged(screen, caplog):
    progress.configure(quiet=True)
    assert not progress.enabled()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        _steps(level=logging.INFO)
    assert screen.getvalue() == ""
    assert [r.getMessage().split(":")[0] for r in caplog.records] == [
        "featurising 3 SMILES (ecfp)"]


def test_no_terminal_no_bar_but_a_long_step_logs_how_far_it_got(monkeypatch, caplog):
    buffer = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buffer))  # a pipe, CI, a test
    monkeypatch.setattr(progress, "MILESTONE_EVERY_S", 0.0)
    monkeypatch.setattr(progress, "SLOW_S", 0.0)
    assert not progress.enabled()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        _steps(n=2, level=logging.DEBUG)  # a slow step's end is INFO whatever its level
    messages = [r.getMessage() for r in caplog.records]
    assert buffer.getvalue() == ""
    assert "featurising 3 SMILES (ecfp): 1 of 2 inputs so far" in messages[0]
    assert "2 of 2 inputs in" in messages[-1] and "inputs/s" in messages[-1]


def test_only_rank_zero_draws(screen, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert not progress.enabled()
    monkeypatch.setenv("RANK", "0")
    assert progress.enabled()


def test_a_failed_step_logs_no_end_and_close_all_clears_the_screen(screen, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER), pytest.raises(ValueError):
        with progress.track("fitting rf"):
            raise ValueError("boom")
    assert not caplog.records
    bar = progress.start("training", total=10)
    progress.close_all()  # the CLI after an error
    bar.update(completed=5)
    bar.close(done=False)  # no display any more: nothing to remove, no error
    assert progress._STATE == {"quiet": False, "live": None, "open": 0}


def test_lightgbm_callback_counts_boosting_rounds(screen):
    import lightgbm as lgb

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    with progress.track("lightgbm: task 1", unit="rounds") as bar:
        lgb.train({"verbose": -1, "num_threads": 1}, lgb.Dataset(X, y), num_boost_round=7,
                  callbacks=[progress.lightgbm_callback(bar)])
    assert (bar.completed, bar.total) == (7, 7)


def test_a_search_shows_trial_fold_and_the_budget_left(screen):
    import optuna

    from scifm.tuning.search import SearchProgress

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    shown = SearchProgress(study, "lightgbm", n_trials=3, timeout=600)
    shown.fold(7, 2, 5)
    assert shown.bar.description.startswith("lightgbm trial 7, fold 3/5 — ")
    assert shown.bar.description.endswith(" s of 600 s left")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2, callbacks=[shown])
    assert shown.done == 2 and shown.bar.completed == 2
    shown.close()


class _Constant(nn.Module):
    """A model that cannot learn (lr 0): its validation loss never improves."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x, labels=None):
        out = x * self.w
        return {"loss": ((out - labels) ** 2).mean(), "logits": out}


class _Rows(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.tensor([float(i)]), "labels": torch.tensor([1.0])}


def test_early_stopping_says_so_with_the_best_checkpoint(tmp_path, caplog):
    args = TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=10, learning_rate=0.0,
        per_device_train_batch_size=4, eval_strategy="epoch", save_strategy="epoch",
        logging_strategy="epoch", load_best_model_at_end=True, metric_for_best_model="loss",
        greater_is_better=False, report_to="none", disable_tqdm=True, use_cpu=True,
        label_names=["labels"], save_total_limit=1)
    trainer = Trainer(model=_Constant(), args=args, train_dataset=_Rows(), eval_dataset=_Rows(),
                      callbacks=[EarlyStoppingCallback(2), EpochLogProgress])
    with caplog.at_level(logging.INFO, logger="scifm.training.callbacks"):
        trainer.train()
    lines = [r.getMessage() for r in caplog.records]
    assert trainer.state.global_step < trainer.state.max_steps
    assert lines[-1].startswith("early stopping at epoch 3 (no val improvement for 2 epochs); "
                                "best checkpoint: epoch 1 (val loss "), lines
