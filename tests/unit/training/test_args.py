"""The Trainer arguments every scifm recipe shares (speed, memory, scale-out pass-through)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from transformers import TrainingArguments

from scifm.config.schema import TrainConfig
from scifm.training import args as targs


def test_speed_args_build_valid_training_arguments(tmp_path) -> None:
    tc = TrainConfig(grad_accum=4, gradient_checkpointing=True, num_workers=1)
    kw = targs.speed_args(tc, bf16=False, group_by_length=True)
    ta = TrainingArguments(output_dir=str(tmp_path), report_to="none", **kw)
    assert ta.gradient_accumulation_steps == 4
    assert ta.dataloader_num_workers == 1
    checkpointing = getattr(ta, "activation_checkpointing", None) or getattr(
        ta, "gradient_checkpointing", None)
    assert checkpointing is True
    grouped = getattr(ta, "group_by_length", None) or (
        getattr(ta, "train_sampling_strategy", None) == "group_by_length")
    assert grouped
    assert "fsdp" not in kw and "deepspeed" not in kw  # nothing passed when unset


def test_length_grouping_is_off_unless_asked(tmp_path) -> None:
    kw = targs.speed_args(TrainConfig(), bf16=False)
    ta = TrainingArguments(output_dir=str(tmp_path), report_to="none", **kw)
    assert not getattr(ta, "group_by_length", False)
    assert getattr(ta, "train_sampling_strategy", "random") != "group_by_length"


@pytest.mark.parametrize(("cores", "expected"), [(2, 0), (4, 0), (16, 2)])
def test_auto_dataloader_workers_leave_small_machines_alone(monkeypatch, cores, expected):
    monkeypatch.setattr(targs.os, "cpu_count", lambda: cores)
    assert targs.dataloader_workers(None) == expected
    assert targs.dataloader_workers(3) == 3  # an explicit setting wins


def test_fsdp_and_deepspeed_configs_pass_through(tmp_path) -> None:
    ds = tmp_path / "ds.json"
    ds.write_text('{"zero_optimization": {"stage": 2}}')
    fsdp = tmp_path / "fsdp.json"
    fsdp.write_text("{}")
    tc = TrainConfig(fsdp="full_shard auto_wrap", fsdp_config=fsdp, deepspeed=ds)
    kw = targs.speed_args(tc, bf16=False)
    assert kw["fsdp"] == "full_shard auto_wrap"
    assert kw["fsdp_config"] == str(fsdp) and kw["deepspeed"] == str(ds)


def test_missing_deepspeed_config_is_a_config_error(tmp_path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        TrainConfig(deepspeed=tmp_path / "absent.json")
    with pytest.raises(ValidationError, match=">= 0"):
        TrainConfig(num_workers=-1)
