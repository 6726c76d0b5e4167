"""The transformer family's fitted model: load / predict / embed / save a fine-tuned encoder.

Fine-tuning itself is :mod:`scifm.training.finetune` (``transformers.Trainer`` owns the loop);
what it produces, and what :func:`load_transformer` reads back from a run's ``model/`` folder, is
a :class:`TransformerPredictor`: a Hugging Face folder (``config.json``, ``model.safetensors``,
``tokenizer.json``; or a PEFT adapter plus ``base/``) and ``scifm.json`` (task, modality, target
scaling, DNA k-mer size, maximum length and the settings it was trained with).
Token-classification models are :class:`scifm.models.token.TokenPredictor`
(:func:`load_token_model`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from scifm.featurizers.tokenizers import prepare_inputs
from scifm.models.base import MODEL_META
from scifm.models.hf_folder import load_hf_folder, read_meta, save_hf_folder
from scifm.models.token import TokenPredictor
from scifm.tasks import TaskSpec
from scifm.training.data import encode_texts, length_sorted_batches
from scifm.training.device import bf16_supported
from scifm.training.peft import BaseSnapshot, is_adapter
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

__all__ = ["TransformerPredictor", "load_token_model", "load_transformer"]


class TransformerPredictor:
    """A fine-tuned sequence-level encoder: predictions, embeddings, saving.

    Parameters
    ----------
    task
        Task type, targets and classes (see :mod:`scifm.tasks`).
    modality
        Input modality (how inputs are prepared for the tokenizer).
    model
        The fine-tuned model (``batch x seq`` ids -> ``batch x n_outputs`` logits), or a PEFT
        adapter model.
    tokenizer
        Its tokenizer.
    dna_kmer
        DNA k-mer size the inputs are prepared with.
    max_length
        Tokens per input (longer inputs are truncated).
    target_mean, target_std
        Regression: the training targets' mean and standard deviation (``n_tasks``); the model
        predicts standardised values.
    settings
        ``model``, ``train``, ``peft`` sections and ``seed`` the model was trained with, as
        written to ``scifm.json`` (``train.batch_size`` sets the inference batch size).
    peft_base
        The untouched base model of a PEFT adapter (saved beside it).
    """

    family = "transformer"

    def __init__(
        self, task: TaskSpec, modality: str, model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase, *, dna_kmer: int = 1, max_length: int = 256,
        target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None,
        settings: dict[str, Any] | None = None, peft_base: BaseSnapshot | None = None,
        n_parameters: int = 0, n_trainable_parameters: int = 0, bf16: bool = False,
    ) -> None:
        self.task = task
        self.modality = modality
        self.model_ = model
        self.tokenizer_ = tokenizer
        self.dna_kmer_ = dna_kmer
        self.max_length_ = max_length
        self.target_mean_ = target_mean
        self.target_std_ = target_std
        self.settings = settings or {}
        self.peft_base_ = peft_base
        self.n_parameters_ = n_parameters
        self.n_trainable_parameters_ = n_trainable_parameters
        self.bf16_ = bf16
        """Whether training used bf16 autocast (inference is always fp32)."""
        self.history_: list[dict[str, Any]] = []

    # ---------------------------------------------------------------- inference
    def _run(self, x: Sequence[str], fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
             width: int) -> np.ndarray:
        out = np.zeros((len(x), width), dtype=np.float32)
        if len(x) == 0:
            return out
        ids = encode_texts(self.tokenizer_, prepare_inputs(self.modality, x, self.dna_kmer_),
                           self.max_length_)
        batch_size = 2 * int(self.settings.get("train", {}).get("batch_size", 32))
        device = next(self.model_.parameters()).device
        self.model_.eval()
        # Inference runs in fp32 even when training used bf16 autocast: bf16 keeps ~3 significant
        # digits, so the nearly equal logits of a weakly trained model tie and a ranking metric
        # (ROC-AUC) collapses to 0.5 (seen on ClinTox).
        with torch.inference_mode():
            for idx, batch in length_sorted_batches(self.tokenizer_, ids, batch_size, device):
                out[idx] = fn(batch).float().cpu().numpy()
        return out

    def predict_logits(self, x: Sequence[str]) -> np.ndarray:
        """Raw outputs, ``n x n_outputs`` (standardised scale for regression)."""
        return self._run(x, lambda b: self.model_(**b).logits, self.task.n_outputs)

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """Predictions, ``n x n_outputs``: probabilities (classification) or target units."""
        z = self.predict_logits(x).astype(np.float64)
        if self.task.task_type == "binary":
            return 1.0 / (1.0 + np.exp(-z))
        if self.task.task_type == "multiclass":
            z = np.exp(z - z.max(axis=1, keepdims=True))
            return z / z.sum(axis=1, keepdims=True)
        if self.target_mean_ is not None:
            z = z * self.target_std_ + self.target_mean_
        return z

    def embed(self, x: Sequence[str]) -> np.ndarray:
        """Mean-pooled last hidden state over non-padding tokens, ``n x hidden_size``."""
        def pool(b: dict[str, torch.Tensor]) -> torch.Tensor:
            hidden = self.model_(**b, output_hidden_states=True).hidden_states[-1].float()
            mask = b["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

        return self._run(x, pool, int(self.model_.config.hidden_size))

    # ---------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """Write a Hugging Face folder (safetensors, config, tokenizer) plus ``scifm.json``."""
        path = Path(path)
        save_hf_folder(self.model_, self.tokenizer_, path, self.peft_base_)
        scaling = None
        if self.target_mean_ is not None:
            scaling = {"mean": self.target_mean_.tolist(), "std": self.target_std_.tolist()}
        s = self.settings
        atomic_write_json(path / MODEL_META, {
            "family": self.family, "modality": self.modality, "task": self.task.to_dict(),
            "target_scaling": scaling, "dna_kmer": self.dna_kmer_, "max_length": self.max_length_,
            "model": s.get("model", {}), "train": s.get("train", {}), "seed": s.get("seed", 0),
            "n_parameters": self.n_parameters_,
            "n_trainable_parameters": self.n_trainable_parameters_,
            "peft": {**s.get("peft", {}), "adapter": is_adapter(self.model_)},
        })

    @classmethod
    def load(cls, path: Path) -> TransformerPredictor:
        """Rebuild a fitted predictor from a folder written by :meth:`save`."""
        path = Path(path)
        meta = read_meta(path, cls.family, "transformer")
        model, tokenizer, base = load_hf_folder(path, "sequence")
        scaling = meta.get("target_scaling")
        max_length = int(meta.get("max_length") or (meta.get("model") or {}).get("max_length")
                         or 256)
        tokenizer.model_max_length = max_length
        settings = {k: meta.get(k) or {} for k in ("model", "train", "peft")}
        settings["peft"] = {k: v for k, v in settings["peft"].items() if k != "adapter"}
        settings["seed"] = int(meta.get("seed", 0))
        return cls(
            TaskSpec.from_dict(meta["task"]), meta["modality"], model, tokenizer,
            dna_kmer=int(meta.get("dna_kmer") or 1), max_length=max_length,
            target_mean=np.asarray(scaling["mean"], dtype=np.float64) if scaling else None,
            target_std=np.asarray(scaling["std"], dtype=np.float64) if scaling else None,
            settings=settings, peft_base=base,
            n_parameters=int(meta.get("n_parameters") or model.num_parameters()),
            n_trainable_parameters=int(meta.get("n_trainable_parameters") or 0),
            bf16=settings["train"].get("bf16", "auto") != "off" and bf16_supported(),
        )


def load_transformer(path: Path) -> TransformerPredictor:
    """The ``transformer`` family's loader: a fine-tuned sequence-level model folder."""
    return TransformerPredictor.load(path)


def load_token_model(path: Path) -> TokenPredictor:
    """The ``token`` family's loader: a fine-tuned token-classification model folder."""
    return TokenPredictor.load(path)
