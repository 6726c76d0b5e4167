"""Encoder backbones: fresh BERT size presets, or any local Hugging Face checkpoint.

A fresh encoder is a :class:`~transformers.BertForSequenceClassification` built from a size
preset. With ``model.init`` the encoder is loaded from a local checkpoint folder (BERT,
RoBERTa/ChemBERTa, ESM, another scifm run's ``model/`` folder, ...) through
:class:`~transformers.AutoModelForSequenceClassification`; its classification head is re-created
when the number of outputs differs (``ignore_mismatched_sizes``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
)

from scifm.config.schema import ModelConfig
from scifm.errors import ConfigError
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

SizePreset = Literal["tiny", "small", "base"]

SIZE_PRESETS: dict[str, dict[str, int]] = {
    "tiny": {
        "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 2,
        "intermediate_size": 128,
    },
    "small": {
        "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 4,
        "intermediate_size": 1024,
    },
    "base": {
        "num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
        "intermediate_size": 3072,
    },
}
"""Shapes of the fresh BERT encoders (``base`` = BERT-base)."""

PROBLEM_TYPES: dict[str, str] = {
    "regression": "regression",
    "binary": "multi_label_classification",
    "multiclass": "single_label_classification",
}
"""Hugging Face ``problem_type`` per scifm task type (metadata only: scifm computes the loss)."""

_DROPOUT_ATTRS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout")


def label_maps(task: TaskSpec) -> tuple[dict[int, str], dict[str, int]]:
    """``id2label`` / ``label2id`` for the model config: class names (multiclass), else targets."""
    names = task.classes if task.task_type == "multiclass" else task.target_cols
    id2label = {i: str(name) for i, name in enumerate(names)}
    return id2label, {name: i for i, name in id2label.items()}


def build_backbone_config(
    size: SizePreset, vocab_size: int, model_cfg: ModelConfig, **overrides: Any
) -> BertConfig:
    """Config of a fresh BERT encoder.

    Parameters
    ----------
    size
        ``tiny``, ``small`` or ``base`` (see :data:`SIZE_PRESETS`).
    vocab_size
        Size of the tokenizer's vocabulary.
    model_cfg
        ``max_length`` (``max_position_embeddings = max_length + 2``) and ``dropout``.
    **overrides
        Further :class:`~transformers.BertConfig` fields (``num_labels``, ``pad_token_id``, ...).
    """
    if size not in SIZE_PRESETS:
        raise ConfigError(f"model.size: {size!r} is not one of {', '.join(SIZE_PRESETS)}")
    kwargs: dict[str, Any] = {
        **SIZE_PRESETS[size],
        "vocab_size": vocab_size,
        "max_position_embeddings": model_cfg.max_length + 2,
        "hidden_dropout_prob": model_cfg.dropout,
        "attention_probs_dropout_prob": model_cfg.dropout,
        "pad_token_id": 0,
    }
    kwargs.update(overrides)
    return BertConfig(**kwargs)


def check_checkpoint(init: Path) -> Path:
    """Return ``init`` if it is a folder holding a Hugging Face ``config.json``.

    Raises
    ------
    ConfigError
        One line naming the folder, when there is no checkpoint there.
    """
    init = Path(init).expanduser()
    if not (init / "config.json").is_file():
        raise ConfigError(f"model.init: no Hugging Face checkpoint (config.json) in {init}")
    return init


def checkpoint_max_length(config: PretrainedConfig, max_length: int) -> int:
    """Usable tokens per input for a checkpoint: ``max_length`` capped by its position table.

    Two positions are held back because RoBERTa-style models (ChemBERTa, ESM) offset positions by
    the padding index.
    """
    n_pos = getattr(config, "max_position_embeddings", None)
    return min(max_length, n_pos - 2) if n_pos else max_length


def load_backbone(
    task: TaskSpec,
    model_cfg: ModelConfig,
    vocab_size: int | None = None,
    pad_token_id: int = 0,
) -> PreTrainedModel:
    """A sequence-classification model with ``task.n_outputs`` outputs.

    Parameters
    ----------
    task
        Gives ``num_labels``, ``problem_type`` and the label names.
    model_cfg
        ``init`` (local checkpoint folder) or ``size`` for a fresh encoder; ``dropout``.
    vocab_size
        Tokenizer vocabulary size; required for a fresh encoder.
    pad_token_id
        Id of the padding token (fresh encoder).

    Returns
    -------
    PreTrainedModel
        Maps ``input_ids`` (``batch x seq``) to ``logits`` (``batch x task.n_outputs``).
        Seed torch *before* calling this: a fresh encoder and a new head are randomly initialised.
    """
    id2label, label2id = label_maps(task)
    common = {
        "num_labels": task.n_outputs,
        "problem_type": PROBLEM_TYPES[task.task_type],
        "id2label": id2label,
        "label2id": label2id,
    }
    if model_cfg.init is None:
        if vocab_size is None:
            raise ValueError("vocab_size is required for a fresh encoder")
        config = build_backbone_config(
            model_cfg.size, vocab_size, model_cfg, pad_token_id=pad_token_id, **common
        )
        model = BertForSequenceClassification(config)
        logger.info("fresh BERT encoder, size %s: %d parameters", model_cfg.size,
                    model.num_parameters())
        return model

    init = check_checkpoint(Path(model_cfg.init))
    try:
        config = AutoConfig.from_pretrained(str(init), local_files_only=True, **common)
        for attr in _DROPOUT_ATTRS:
            if hasattr(config, attr):
                setattr(config, attr, model_cfg.dropout)
        model = AutoModelForSequenceClassification.from_pretrained(
            str(init), config=config, ignore_mismatched_sizes=True, local_files_only=True
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"model.init: cannot load the checkpoint in {init}: {msg}") from err
    logger.info("loaded %s from %s: %d parameters", type(model).__name__, init,
                model.num_parameters())
    return model


def load_mlm_backbone(
    model_cfg: ModelConfig, vocab_size: int, pad_token_id: int = 0
) -> PreTrainedModel:
    """A masked-language model: a fresh BERT from the size preset, or ``model.init`` continued.

    Parameters
    ----------
    model_cfg
        ``init`` (local checkpoint folder: domain-adaptive pretraining) or ``size``; ``dropout``
        and ``max_length`` for a fresh encoder.
    vocab_size
        Tokenizer vocabulary size; a checkpoint's embeddings are resized when it is larger.
    pad_token_id
        Id of the padding token (fresh encoder).

    Returns
    -------
    PreTrainedModel
        Maps ``input_ids`` (``batch x seq``) to token ``logits`` (``batch x seq x vocab``).
    """
    if model_cfg.init is None:
        config = build_backbone_config(model_cfg.size, vocab_size, model_cfg,
                                       pad_token_id=pad_token_id)
        model = BertForMaskedLM(config)
        logger.info("fresh BERT masked-LM, size %s: %d parameters", model_cfg.size,
                    model.num_parameters())
        return model
    init = check_checkpoint(Path(model_cfg.init))
    try:
        model = AutoModelForMaskedLM.from_pretrained(str(init), local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"model.init: cannot load the checkpoint in {init}: {msg}") from err
    if vocab_size > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(vocab_size)
    logger.info("continuing %s from %s: %d parameters", type(model).__name__, init,
                model.num_parameters())
    return model
