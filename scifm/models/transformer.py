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
from scifm.models.hf_folder import HFAdapter
from scifm.models.token import TokenPredictor
from scifm.tasks import TaskSpec
from scifm.training.data import encode_texts

logger = logging.getLogger(__name__)

__all__ = ["TransformerPredictor", "load_token_model", "load_transformer",
           "predictions_from_logits"]


def predictions_from_logits(task: TaskSpec, logits: np.ndarray, target_mean: np.ndarray | None,
                            target_std: np.ndarray | None) -> np.ndarray:
    """A sequence-level model's outputs in the task's terms, ``n x n_outputs`` (float64).

    Binary: sigmoid probabilities; multiclass: softmax over the classes; regression: the
    standardised outputs put back in target units (``logits * target_std + target_mean``, when
    the targets were standardised). Shared by every runtime of such a model (PyTorch, ONNX).
    """
    z = np.asarray(logits, dtype=np.float64)
    if task.task_type == "binary":
        return 1.0 / (1.0 + np.exp(-z))
    if task.task_type == "multiclass":
        z = np.exp(z - z.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True)
    if target_mean is not None:
        z = z * target_std + target_mean
    return z


class TransformerPredictor(HFAdapter):
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
    target_mean, target_std
        Regression: the training targets' mean and standard deviation (``n_tasks``); the model
        predicts standardised values.
    **kw
        ``max_length``, ``settings``, ``peft_base``, ``n_parameters``,
        ``n_trainable_parameters``, ``bf16`` (whether training used bf16 autocast; inference is
        fp32), ``inference_dtype`` (``bfloat16``: weights and inference in bf16, the bf16 variant
        of ``scifm compress``): see :class:`~scifm.models.hf_folder.HFAdapter`.
    """

    family = "transformer"
    head = "sequence"

    def __init__(
        self, task: TaskSpec, modality: str, model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase, *, dna_kmer: int = 1,
        target_mean: np.ndarray | None = None, target_std: np.ndarray | None = None, **kw: Any,
    ) -> None:
        super().__init__(modality, model, tokenizer, **kw)
        self.task = task
        self.dna_kmer_ = dna_kmer
        self.target_mean_ = target_mean
        self.target_std_ = target_std

    # ---------------------------------------------------------------- inference
    def _run(self, x: Sequence[str], fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
             width: int) -> np.ndarray:
        out = np.zeros((len(x), width), dtype=np.float32)
        if len(x) == 0:
            return out
        ids = encode_texts(self.tokenizer_, prepare_inputs(self.modality, x, self.dna_kmer_),
                           self.max_length_)
        # Inference runs in fp32 even when training used bf16 autocast: bf16 keeps ~3 significant
        # digits, so the nearly equal logits of a weakly trained model tie and a ranking metric
        # (ROC-AUC) collapses to 0.5 (seen on ClinTox). Only a model saved with inference_dtype
        # bfloat16 (scifm compress's bf16 variant, whose measured metric change shows the cost)
        # runs in its bf16 weights.
        with torch.inference_mode():
            for idx, batch in self.batches(ids):
                out[idx] = fn(batch).float().cpu().numpy()
        return out
    def predict_logits(self, x: Sequence[str]) -> np.ndarray:
        """Raw outputs, ``n x n_outputs`` (standardised scale for regression)."""
        return self._run(x, lambda b: self.model_(**b).logits, self.task.n_outputs)

    def predict(self, x: Sequence[str]) -> np.ndarray:
        """Predictions, ``n x n_outputs``: probabilities (classification) or target units."""
        return predictions_from_logits(self.task, self.predict_logits(x), self.target_mean_,
                                       self.target_std_)

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
        scaling = None
        if self.target_mean_ is not None:
            scaling = {"mean": self.target_mean_.tolist(), "std": self.target_std_.tolist()}
        self.save_folder(path, task=self.task.to_dict(), target_scaling=scaling,
                         dna_kmer=self.dna_kmer_)

    @classmethod
    def load(cls, path: Path) -> TransformerPredictor:
        """Rebuild a fitted predictor from a folder written by :meth:`save`."""
        meta, kw = cls.read_folder(path)
        scaling = meta.get("target_scaling")
        return cls(
            TaskSpec.from_dict(meta["task"]), dna_kmer=int(meta.get("dna_kmer") or 1),
            target_mean=np.asarray(scaling["mean"], dtype=np.float64) if scaling else None,
            target_std=np.asarray(scaling["std"], dtype=np.float64) if scaling else None, **kw)


def load_transformer(path: Path) -> TransformerPredictor:
    """The ``transformer`` family's loader: a fine-tuned sequence-level model folder."""
    return TransformerPredictor.load(path)


def load_token_model(path: Path) -> TokenPredictor:
    """The ``token`` family's loader: a fine-tuned token-classification model folder."""
    return TokenPredictor.load(path)
