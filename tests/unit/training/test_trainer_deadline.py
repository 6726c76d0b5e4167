"""The transformer family under a time budget: its searched settings (``params.transformer``),
the steps a deadline affords, the learning-rate schedule rebuilt to end there, and a real
fine-tuning of a tiny local checkpoint shortened to its deadline (or stopped by it)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from transformers import get_scheduler

from scifm.config.schema import ExperimentConfig
from scifm.models.registry import auto_families
from scifm.tasks import TaskSpec
from scifm.training.finetune import build_transformer
from scifm.training.trainer_deadline import _shorten_schedule, affordable_steps
from scifm.tuning.search_spaces import default_trial
from scifm.tuning.study import with_params
from scifm.utils.deadline import TimeUp, fit_deadline
from tests.encoders import save_tiny_encoder


def test_params_transformer_override_train_peft_and_model_only_when_given():
    cfg = ExperimentConfig(data={"target_cols": ["y"], "modality": "text"},
                           model={"families": ["transformer"]})
    task = TaskSpec("binary", ["y"])
    plain = build_transformer(task, "text", cfg, None)  # type: ignore[arg-type]
    assert plain.train_cfg.lr == cfg.train.lr and plain.peft_cfg.method == "none"
    tuned = with_params(cfg, "transformer", {"lr": 3e-5, "epochs": 2, "lora_r": 16,
                                             "class_weight": "balanced"})
    ft = build_transformer(task, "text", tuned, None)  # type: ignore[arg-type]
    assert (ft.train_cfg.lr, ft.train_cfg.epochs) == (3e-5, 2)
    assert (ft.peft_cfg.method, ft.peft_cfg.r, ft.peft_cfg.alpha) == ("lora", 16, 32)
    assert ft.model_cfg.class_weight == "balanced"
    assert cfg.train.lr != 3e-5 and cfg.peft.method == "none"  # the given config is untouched
    full = build_transformer(task, "text", with_params(cfg, "transformer", {"lora_r": 0}), None)
    assert full.peft_cfg.method == "none" and full.train_cfg.lr == cfg.train.lr  # None: inherited


def test_trial_zero_takes_the_spaces_fine_tuning_defaults_and_auto_needs_a_checkpoint(tmp_path):
    assert default_trial("transformer", "binary", "text", tune_features=False) == {
        "lr": 1e-4, "epochs": 6, "lora_r": 0, "class_weight": "auto"}
    assert "class_weight" not in default_trial("transformer", "regression", "text", False)
    plain = ExperimentConfig(data={"target_cols": ["y"], "modality": "text"})
    assert "transformer" not in auto_families("text", plain)
    enc = save_tiny_encoder(tmp_path / "enc", corpus=["a b c", "b c d"], modality="text")
    with_init = ExperimentConfig(data={"target_cols": ["y"], "modality": "text"},
                                 model={"init": str(enc)})
    assert "transformer" in auto_families("text", with_init)
    assert auto_families("text") == [f for f in auto_families("text", with_init)
                                     if f != "transformer"]


@pytest.mark.parametrize("left,expected", [
    (1000.0, 100),  # everything fits
    (20.0, 10 + 16),  # 20 s: 2 evaluations (4 s) leave 16 s = 16 more steps
    (0.5, 10),  # not one more step
])
def test_affordable_steps_count_the_evaluations_still_to_come(left, expected):
    # 10 of 100 planned steps done, 20 steps an epoch, 1 s a step, 2 s an evaluation
    assert affordable_steps(100, 10, 20, 1.0, 2.0, left) == expected


def test_the_linear_schedule_is_rebuilt_to_end_at_the_shortened_step():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = get_scheduler("linear", opt, num_warmup_steps=10, num_training_steps=100)
    for _ in range(12):
        opt.step()
        sched.step()
    assert _shorten_schedule(sched, 40)
    lrs = []
    for _ in range(28):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    assert lrs[-1] == pytest.approx(0.0, abs=1e-9) and lrs[0] > lrs[-2] > 0  # decays to 0 at 40
    other = torch.optim.lr_scheduler.StepLR(opt, 5)
    assert not _shorten_schedule(other, 40)  # another kind of schedule: left as it is


@pytest.mark.serial
def test_a_run_cut_by_slow_first_steps_gets_its_steps_back_when_they_speed_up(monkeypatch):
    from types import SimpleNamespace

    import scifm.training.trainer_deadline as td

    clock = [0.0]
    monkeypatch.setattr(td.time, "perf_counter", lambda: clock[0])
    cb = td.TrainerDeadline(eval_batches=0)
    state = SimpleNamespace(global_step=0, max_steps=200, num_train_epochs=1)
    control = SimpleNamespace(should_training_stop=False)
    sched = get_scheduler("linear", torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0),
                          num_warmup_steps=0, num_training_steps=200)
    with fit_deadline(time.time() + 100.0, keep_best=True):
        cb.on_train_begin(None, state, control)
        for step in range(1, 60):
            clock[0] += 2.0 if step <= td.PLAN_AFTER_STEPS else 0.2  # the longest batches first
            state.global_step = step
            cb.on_step_end(None, state, control, lr_scheduler=sched)
            if step == td.PLAN_AFTER_STEPS:  # 2 s a step: about 50 steps fit in 100 s
                assert 40 <= state.max_steps <= 60 and cb.shortened_to == state.max_steps
    assert state.max_steps == 200  # 0.2 s a step since: the planned steps fit again
    assert sched.lr_lambdas[0].keywords["num_training_steps"] == 200
    assert not control.should_training_stop


def _texts(n: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    words = ["binds", "blocks", "gene", "cell", "protein", "kinase", "tumour", "increases"]
    x = [" ".join(rng.choice(words, size=8)) for _ in range(n)]
    y = np.array([[float("binds" in t)] for t in x])
    return x, y


@pytest.mark.serial
def test_a_fine_tuning_is_shortened_to_its_deadline_and_keeps_a_model(tmp_path):
    x, y = _texts(320)
    enc = save_tiny_encoder(tmp_path / "enc", corpus=x, modality="text")
    cfg = ExperimentConfig(data={"target_cols": ["y"], "modality": "text"},
                           model={"init": str(enc), "max_length": 16},
                           train={"epochs": 200, "batch_size": 16, "patience": 1000})
    task = TaskSpec("binary", ["y"])
    ft = build_transformer(task, "text", cfg, tmp_path / "work")
    t0 = time.monotonic()
    with fit_deadline(time.time() + 8.0, keep_best=True):
        ft.fit(x[:256], y[:256], x[256:], y[256:])
    took = time.monotonic() - t0
    planned = 200 * 16  # 256 rows / 16 a batch x 200 epochs
    assert 8 <= ft.global_step_ < planned  # shortened, after the steps it timed
    assert took < 8.0 + 4.0  # the deadline held (the last evaluation and loading the best)
    pred = ft.predict(x[256:])
    assert pred.shape == (64, 1) and np.isfinite(pred).all()


@pytest.mark.serial
def test_a_plain_deadline_stops_a_fine_tuning_with_time_up(tmp_path):
    x, y = _texts(64)
    enc = save_tiny_encoder(tmp_path / "enc", corpus=x, modality="text")
    cfg = ExperimentConfig(data={"target_cols": ["y"], "modality": "text"},
                           model={"init": str(enc), "max_length": 16},
                           train={"epochs": 500, "batch_size": 8})
    ft = build_transformer(TaskSpec("binary", ["y"]), "text", cfg, tmp_path / "work")
    t0 = time.monotonic()
    with pytest.raises(TimeUp), fit_deadline(time.time() + 2.0):
        ft.fit(x, y, x[:16], y[:16])
    assert time.monotonic() - t0 < 10.0
