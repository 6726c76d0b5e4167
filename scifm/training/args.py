"""Glue between scifm's config and ``transformers.Trainer``: arguments and its log history.

:func:`training_arguments` is the one place a :class:`~transformers.TrainingArguments` is built,
for fine-tuning (sequence and token heads: evaluate, save and log once per epoch, keep the best
epoch) and for masked-LM pretraining (every ``eval_steps`` optimiser steps).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from scifm.config.schema import TrainConfig
from scifm.training.device import accelerator

_NOT_HISTORY = ("runtime", "per_second", "selection")


@dataclass(frozen=True)
class Selection:
    """How the Trainer keeps the best checkpoint and stops early on the validation set."""

    metric: str
    """``metric_for_best_model`` (without the ``eval_`` prefix)."""
    greater_is_better: bool
    """Direction of :attr:`metric`."""
    needs_loss: bool = False
    """``compute_metrics`` reads the per-item validation losses (tie-break on the loss)."""


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


def training_arguments(
    out: Path, tc: TrainConfig, seed: int, bf16: bool, *, select: Selection | None = None,
    eval_steps: int | None = None, max_steps: int | None = None, group_by_length: bool = True,
    **extra: Any,
) -> TrainingArguments:
    """The Trainer settings of every scifm recipe.

    Parameters
    ----------
    out
        Checkpoint folder (``output_dir``).
    tc
        ``train`` section: epochs, max_steps, lr, batch size, weight decay and the speed settings
        of :func:`speed_args`.
    seed
        Seeds the Trainer (``seed``) and the data order (``data_seed``).
    bf16
        bf16 autocast (resolved, see :func:`scifm.training.device.resolve_bf16`).
    select
        Fine-tuning with validation data: evaluate every epoch, keep the best epoch by this
        metric (``load_best_model_at_end``); None: no validation.
    eval_steps
        Streamed pretraining: evaluate, save and log every ``eval_steps`` optimiser steps
        (instead of every epoch) on the held-out set, keeping the last checkpoints.
    max_steps
        Optimiser steps, overriding ``tc.max_steps`` (pretraining counts steps only).
    group_by_length
        Length-grouped batches (off for a streamed dataset).
    **extra
        Further :class:`~transformers.TrainingArguments` fields.
    """
    if eval_steps:
        schedule: dict[str, Any] = {
            "eval_strategy": "steps", "eval_steps": eval_steps, "save_strategy": "steps",
            "save_steps": eval_steps, "logging_strategy": "steps", "logging_steps": eval_steps}
    else:
        schedule = {"eval_strategy": "epoch" if select else "no", "save_strategy": "epoch",
                    "logging_strategy": "epoch"}
    if select is not None:
        schedule.update(load_best_model_at_end=True, metric_for_best_model=select.metric,
                        greater_is_better=select.greater_is_better,
                        include_for_metrics=["loss"] if select.needs_loss else [])
    return TrainingArguments(
        output_dir=str(out), num_train_epochs=tc.epochs,
        max_steps=tc.max_steps if max_steps is None else max_steps, learning_rate=tc.lr,
        per_device_train_batch_size=tc.batch_size, per_device_eval_batch_size=tc.batch_size,
        weight_decay=tc.weight_decay, save_total_limit=2, seed=seed, data_seed=seed,
        report_to="none", disable_tqdm=False, label_names=["labels"], **schedule,
        **speed_args(tc, bf16, group_by_length=group_by_length), **extra,
    )
