"""Encoder backbones with a head: fresh BERT size presets, or any local Hugging Face checkpoint.

One loader for every transformer in scifm. A :class:`Backbone` names the head that sits on the
encoder (``sequence``: one output vector per input; ``token``: one per token; ``mlm``: the
masked-language-model decoder) and its labels; it builds the model either from a size preset
(:meth:`Backbone.from_config`, a fresh :class:`~transformers.BertConfig`) or from a local checkpoint
folder (:meth:`Backbone.from_checkpoint`: BERT, RoBERTa/ChemBERTa, ESM, another scifm run's
``model/`` folder, ...). Fine-tuning from ``model.init`` re-creates the head when the number of
outputs differs (``ignore_mismatched_sizes``); weights are read from safetensors only, from a
folder :func:`~scifm.models.safeload.check_model_folder` accepts (no pickle file, manifest intact).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from transformers import (
    AutoConfig,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    BertForTokenClassification,
    PretrainedConfig,
    PreTrainedModel,
)

from scifm.config.schema import ModelConfig
from scifm.errors import ConfigError, RunDirError
from scifm.models.safeload import LOAD_ERRORS, check_model_folder, first_line, load_hf_model
from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)

SizePreset = Literal["tiny", "small", "base"]
HeadKind = Literal["sequence", "token", "mlm"]

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

_AUTO = {"sequence": AutoModelForSequenceClassification,
         "token": AutoModelForTokenClassification, "mlm": AutoModelForMaskedLM}
_FRESH = {"sequence": BertForSequenceClassification, "token": BertForTokenClassification,
          "mlm": BertForMaskedLM}
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
    """Return ``init`` if it is a folder holding a Hugging Face ``config.json``, with no
    pickle-based file and every file as its manifest lists it
    (:func:`~scifm.models.safeload.check_model_folder`; checked once per process).

    Raises
    ------
    ConfigError
        One line naming the folder, when there is no checkpoint there.
    RunDirError
        One line naming a pickle-based, missing, added or damaged file.
    """
    init = Path(init).expanduser()
    if not (init / "config.json").is_file():
        raise ConfigError(f"model.init: no Hugging Face checkpoint (config.json) in {init}")
    check_model_folder(init)
    return init


def checkpoint_max_length(config: PretrainedConfig, max_length: int) -> int:
    """Usable tokens per input for a checkpoint: ``max_length`` capped by its position table.

    Two positions are held back because RoBERTa-style models (ChemBERTa, ESM) offset positions by
    the padding index.
    """
    n_pos = getattr(config, "max_position_embeddings", None)
    return min(max_length, n_pos - 2) if n_pos else max_length


@dataclass(frozen=True)
class Backbone:
    """An encoder with a head: which head, and the label fields of its config.

    Build one with :meth:`sequence`, :meth:`token` or :meth:`mlm`, then make the model from a size
    preset (:meth:`from_config`), a checkpoint folder (:meth:`from_checkpoint`) or whichever of
    the two ``model_cfg`` asks for (:meth:`load`).
    """

    head: HeadKind
    """``sequence`` (``batch x n_outputs`` logits), ``token`` (``batch x seq x n_labels``) or
    ``mlm`` (``batch x seq x vocab``)."""
    labels: dict[str, Any] = field(default_factory=dict)
    """Config fields of the head (``num_labels``, ``id2label``, ``label2id``, ``problem_type``);
    empty: keep the checkpoint's head as it is."""

    @classmethod
    def sequence(cls, task: TaskSpec) -> Backbone:
        """Sequence classification / regression with ``task.n_outputs`` outputs."""
        id2label, label2id = label_maps(task)
        return cls("sequence", {"num_labels": task.n_outputs,
                                "problem_type": PROBLEM_TYPES[task.task_type],
                                "id2label": id2label, "label2id": label2id})

    @classmethod
    def token(cls, labels: Sequence[str]) -> Backbone:
        """Token classification with one output per label name."""
        id2label = dict(enumerate(labels))
        return cls("token", {"num_labels": len(labels), "id2label": id2label,
                             "label2id": {v: k for k, v in id2label.items()}})

    @classmethod
    def mlm(cls) -> Backbone:
        """A masked-language model (the checkpoint's own decoder)."""
        return cls("mlm")

    def from_config(self, model_cfg: ModelConfig, vocab_size: int,
                    pad_token_id: int = 0) -> PreTrainedModel:
        """A fresh BERT of size ``model_cfg.size`` (seed torch first: weights are random)."""
        config = build_backbone_config(model_cfg.size, vocab_size, model_cfg,
                                       pad_token_id=pad_token_id, **self.labels)
        model = _FRESH[self.head](config)
        logger.info("fresh BERT %s model, size %s: %d parameters", self.head, model_cfg.size,
                    model.num_parameters())
        return model

    def from_checkpoint(self, path: Path, dropout: float | None = None) -> PreTrainedModel:
        """The model saved in ``path`` (local files, safetensors only).

        With :attr:`labels`, the head is configured anew (re-created when its shape differs);
        ``dropout`` overrides the checkpoint's dropout probabilities.

        Raises
        ------
        RunDirError
            One line naming the file when ``config.json`` or the weights are missing or damaged
            (or the weights are only in a pickle-based format).
        """
        path = Path(path)
        kw: dict[str, Any] = {}
        if self.labels or dropout is not None:
            try:
                config = AutoConfig.from_pretrained(str(path), local_files_only=True,
                                                    **self.labels)
            except LOAD_ERRORS as err:
                raise RunDirError(f"cannot read {path / 'config.json'}: {first_line(err)}") \
                    from None
            for attr in _DROPOUT_ATTRS if dropout is not None else ():
                if hasattr(config, attr):
                    setattr(config, attr, dropout)
            kw.update(config=config, ignore_mismatched_sizes=bool(self.labels))
        return load_hf_model(_AUTO[self.head], path, **kw)

    def load(self, model_cfg: ModelConfig, vocab_size: int | None = None,
             pad_token_id: int = 0) -> PreTrainedModel:
        """The model to train: ``model_cfg.init`` with this head, else a fresh preset.

        Parameters
        ----------
        model_cfg
            ``init`` (local checkpoint folder) or ``size`` for a fresh encoder; ``dropout``
            (fine-tuning heads; a continued masked-LM keeps its checkpoint's settings).
        vocab_size
            Tokenizer vocabulary size: required for a fresh encoder; a masked-LM checkpoint's
            embeddings grow to it when it is larger.
        pad_token_id
            Id of the padding token (fresh encoder).

        Raises
        ------
        ConfigError
            One line when ``model.init`` holds no loadable checkpoint.
        """
        if model_cfg.init is None:
            if vocab_size is None:
                raise ValueError("vocab_size is required for a fresh encoder")
            return self.from_config(model_cfg, vocab_size, pad_token_id)
        init = check_checkpoint(Path(model_cfg.init))
        dropout = None if self.head == "mlm" else model_cfg.dropout
        try:
            model = self.from_checkpoint(init, dropout)
        except RunDirError as err:
            raise ConfigError(f"model.init: {err}") from None
        if self.head == "mlm" and vocab_size and \
                vocab_size > model.get_input_embeddings().num_embeddings:
            model.resize_token_embeddings(vocab_size)
        logger.info("loaded %s from %s: %d parameters", type(model).__name__, init,
                    model.num_parameters())
        return model
