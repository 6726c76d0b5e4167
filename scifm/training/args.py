"""Glue between scifm's config and ``transformers.Trainer``: arguments and its log history."""

from __future__ import annotations

import os
from typing import Any

from transformers import TrainingArguments

from scifm.config.schema import TrainConfig
from scifm.training.device import accelerator

_NOT_HISTORY = ("runtime", "per_second", "selection")


def version_args(tc: TrainConfig, group_by_length: bool = False) -> dict[str, Any]:
    """TrainingArguments renamed in transformers 5 (warmup ratio, activation checkpointing,
    length-grouped sampling)."""
    fields = TrainingArguments.__dataclass_fields__
    kw: dict[str, Any] = {}
    if "warmup_ratio" in fields:  # transformers 4.x
        kw["warmup_ratio"] = tc.warmup_ratio
    else:  # 5.x: a float < 1 in warmup_steps is a ratio of the total steps
        kw["warmup_steps"] = min(tc.warmup_ratio, 0.999)
    ckpt = "activation_checkpointing" if "activation_checkpointing" in fields \
        else "gradient_checkpointing"
    kw[ckpt] = tc.gradient_checkpointing
    if group_by_length:
        if "group_by_length" in fields:  # 4.x; 5.x names the sampler instead
            kw["group_by_length"] = True
        else:
            kw["train_sampling_strategy"] = "group_by_length"
    return kw


def dataloader_workers(setting: int | None) -> int:
    """``train.num_workers``; ``None`` (auto) = 0 on machines with 4 cores or fewer (a worker
    process would take a core from the model's threads), else 2."""
    if setting is not None:
        return setting
    return 2 if (os.cpu_count() or 1) > 4 else 0


def speed_args(tc: TrainConfig, bf16: bool, group_by_length: bool = False) -> dict[str, Any]:
    """The throughput and memory settings every scifm Trainer gets (``bench/throughput.py``
    measures them against a plain Trainer): bf16 autocast, length-grouped batches (the collators
    pad to the longest item in the batch, so grouping cuts padding), dataloader workers, pinned
    memory on CUDA, gradient accumulation and activation checkpointing; FSDP / DeepSpeed configs
    are passed through for multi-GPU runs (``train.fsdp``, ``train.fsdp_config``,
    ``train.deepspeed``)."""
    cuda = accelerator() == "cuda"
    kw = {"bf16": bf16, "use_cpu": not cuda, "dataloader_pin_memory": cuda,
          "dataloader_num_workers": dataloader_workers(tc.num_workers),
          "gradient_accumulation_steps": tc.grad_accum,
          **version_args(tc, group_by_length=group_by_length)}
    if tc.fsdp:
        kw["fsdp"] = tc.fsdp
    if tc.fsdp_config is not None:
        kw["fsdp_config"] = str(tc.fsdp_config)
    if tc.deepspeed is not None:
        kw["deepspeed"] = str(tc.deepspeed)
    return kw


def trainer_history(log_history: list[dict[str, Any]],
                    by: str = "epoch") -> list[dict[str, Any]]:
    """Rows ``{<by>, train_loss, val_loss, val_<metric>}`` from the Trainer log, one per epoch
    (``by="epoch"``) or per logged optimiser step (``by="step"``)."""
    rows: dict[float, dict[str, Any]] = {}
    for entry in log_history:
        if by not in entry or "train_runtime" in entry:
            continue
        e = round(float(entry[by]), 4)
        row = rows.setdefault(e, {by: int(round(e)) if abs(e - round(e)) < 1e-3 else e})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        for key, value in entry.items():
            if key.startswith("eval_") and not key.endswith(_NOT_HISTORY):
                row["val_" + key[len("eval_"):]] = float(value)
    return [rows[e] for e in sorted(rows)]
