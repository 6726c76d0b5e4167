"""Config sections of the transformer training loop: optimiser and speed (``train``),
parameter-efficient fine-tuning (``peft``) and masked-LM pretraining (``pretrain``).

Re-exported by :mod:`scifm.config.schema`, which assembles the whole experiment spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import field_validator, model_validator

from scifm.config.base import Strict as _Strict


class TrainConfig(_Strict):
    """Transformer training (handed to ``transformers.Trainer``)."""

    epochs: float = 30
    max_steps: int = -1
    """Stop after this many optimiser steps (overrides epochs when > 0). ``scifm pretrain``
    counts its streamed training in steps only: there ``-1`` means
    :data:`PRETRAIN_DEFAULT_STEPS` (see :func:`pretrain_max_steps`)."""
    lr: float = 5e-4
    batch_size: int = 32
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 5
    """Early-stopping patience in evaluations (epochs) without improvement of the val metric."""
    bf16: Literal["auto", "on", "off"] = "auto"
    """bf16 autocast: ``auto`` = on when the CPU/GPU supports bf16."""

    @field_validator("bf16", mode="before")
    @classmethod
    def _yaml_booleans(cls, v: object) -> object:
        """YAML reads ``on``/``off`` (unquoted) as booleans; accept them."""
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v
    grad_accum: int = 1
    gradient_checkpointing: bool = False
    num_workers: int | None = None
    """DataLoader worker processes; ``None`` = 0 on machines with <= 4 cores, else 2."""
    fsdp: str = ""
    """Passed to ``TrainingArguments.fsdp`` (GPU clusters), e.g. ``full_shard auto_wrap``."""
    fsdp_config: Path | None = None
    """JSON file passed to ``TrainingArguments.fsdp_config``."""
    deepspeed: Path | None = None
    """DeepSpeed JSON config passed to ``TrainingArguments.deepspeed`` (needs ``deepspeed``)."""
    resume: bool = False
    """Resume from the last checkpoint: an interrupted run's in ``OUT.partial/``, else one kept
    in ``OUT`` (copied); the finished run then replaces ``OUT``."""
    keep_checkpoints: bool = False
    """Keep Trainer's ``checkpoints/`` (optimizer state, for resuming) after a successful run."""

    @field_validator("lr")
    @classmethod
    def _positive_lr(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("lr must be > 0")
        return v

    @field_validator("batch_size", "grad_accum")
    @classmethod
    def _positive_int(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be >= 1")
        return v

    @field_validator("fsdp_config", "deepspeed")
    @classmethod
    def _existing_file(cls, v: Path | None) -> Path | None:
        if v is not None and not Path(v).is_file():
            raise ValueError(f"no such file: {v}")
        return v

    @field_validator("num_workers")
    @classmethod
    def _workers(cls, v: int | None) -> int | None:
        if v is not None and v < 0:
            raise ValueError("must be >= 0 (or null for auto)")
        return v


PeftMethod = Literal["none", "lora", "adalora", "ia3", "prompt_tuning"]


class PeftConfig(_Strict):
    """Parameter-efficient fine-tuning of the transformer (``peft`` library) and cheap freezing."""

    method: PeftMethod = "none"
    """``none`` (full fine-tuning), ``lora``, ``adalora``, ``ia3`` or ``prompt_tuning``."""
    r: int = 8
    """LoRA rank (AdaLoRA: the target average rank; it starts from ``1.5 * r``)."""
    alpha: int = 16
    """LoRA scaling numerator (``lora_alpha``)."""
    dropout: float = 0.05
    """Dropout on the LoRA / AdaLoRA branch."""
    target_modules: list[str] | None = None
    """Module names to adapt; None = the ``peft`` default for the architecture (BERT: query and
    value for LoRA; key, value and the feed-forward output for IA3)."""
    num_virtual_tokens: int = 20
    """Prompt tuning: number of learned virtual tokens prepended to every input."""
    merge: bool = False
    """Merge the adapter into the weights when saving (lora, adalora, ia3): ``model/`` is then a
    plain Hugging Face model. Otherwise ``model/`` holds the adapter (with the task head) and
    ``model/base/`` the frozen base model."""
    freeze_layers: int = 0
    """With ``method: none``: freeze the embeddings and the first N encoder layers."""
    linear_probe: bool = False
    """With ``method: none``: freeze the whole encoder and train only the task head."""

    @model_validator(mode="after")
    def _freezing_without_adapter(self) -> PeftConfig:
        if self.method != "none" and (self.freeze_layers or self.linear_probe):
            raise ValueError("freeze_layers / linear_probe only apply with method: none "
                             "(an adapter method already freezes the base model)")
        if self.r < 1 or self.num_virtual_tokens < 1 or self.freeze_layers < 0:
            raise ValueError("r and num_virtual_tokens must be >= 1, freeze_layers >= 0")
        return self


PRETRAIN_DEFAULT_STEPS = 1000
"""Optimiser steps of ``scifm pretrain`` when ``train.max_steps`` is not set (``-1``)."""


def pretrain_max_steps(train: TrainConfig) -> int:
    """Optimiser steps of masked-LM pretraining: ``train.max_steps``, or
    :data:`PRETRAIN_DEFAULT_STEPS` when it is not set (a streamed corpus has no length, so
    pretraining is counted in steps, never epochs)."""
    return train.max_steps if train.max_steps > 0 else PRETRAIN_DEFAULT_STEPS


class PretrainConfig(_Strict):
    """Masked-language-model pretraining (``scifm pretrain``): what only pretraining has.

    One key per concept: the optimiser and loop settings come from ``train`` (max_steps, lr,
    batch_size, weight_decay, warmup_ratio, bf16, grad_accum, gradient_checkpointing,
    num_workers, fsdp, deepspeed, resume, keep_checkpoints), the backbone from ``model`` (size,
    init, max_length, dna_kmer, text_vocab_size) and the corpus from ``data`` (path, format,
    modality, input_col and the validation options)."""
    mask_prob: float = 0.15
    """Fraction of tokens selected for masking (80% [MASK], 10% random, 10% unchanged)."""
    mask_span: int | None = None
    """Mask runs of this many consecutive tokens; None = ``model.dna_kmer`` for overlapping DNA
    k-mers (a lone masked k-mer is given away by its neighbours), else 1."""
    eval_steps: int = 200
    """Evaluate on the held-out items (and save a resumable checkpoint) every N steps."""
    holdout_fraction: float = 0.05
    """Fraction of corpus items held out, chosen by a hash of the item (stable while
    streaming)."""
    max_eval_items: int = 2000
    """At most this many held-out items are evaluated (the first ones in the file)."""
    tokenizer_sample: int = 100_000
    """Items (the first training items) used to train a new tokenizer."""
    shuffle_buffer: int = 10_000
    """Size of the streaming shuffle buffer."""

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, v: object) -> object:
        """``pretrain.max_steps`` was a second key for ``train.max_steps``: say where it went."""
        if isinstance(v, dict) and "max_steps" in v:
            raise ValueError("pretrain.max_steps is now train.max_steps (one key for the "
                             "optimiser steps of every recipe; scifm pretrain's default stays "
                             f"{PRETRAIN_DEFAULT_STEPS})")
        return v

    @field_validator("mask_prob", "holdout_fraction")
    @classmethod
    def _fraction(cls, v: float) -> float:
        if not 0.0 < v < 1.0:
            raise ValueError("must be strictly between 0 and 1")
        return v

    @field_validator("eval_steps", "max_eval_items", "tokenizer_sample",
                     "shuffle_buffer", "mask_span")
    @classmethod
    def _positive(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("must be >= 1")
        return v
