"""What a fine-tuning run learns: labels, head, loss and validation metric, per kind of task.

The fine-tuning steps (:mod:`scifm.training.finetune`) are the same for every task; the parts that
differ are supplied by a head:

* :class:`SequenceHead` — one prediction per input (``regression``, ``binary``, ``multiclass``):
  standardised float labels with NaN = missing, the NaN-masked loss
  (:func:`~scifm.training.losses.make_compute_loss`), the task's primary validation metric from
  :mod:`scifm.evaluation.metrics` with a tiny validation-loss tie-break;
* :class:`TokenHead` — one label per word (``ner``) or residue (``residue``): the label list,
  labels aligned to the first sub-token (:mod:`scifm.featurizers.token_alignment`), the model's
  cross-entropy (or a class-weighted one) and entity F1 / Q3 from
  :mod:`scifm.evaluation.token_metrics`.

Shapes: sequence inputs are ``n`` strings with ``y`` of ``n x n_tasks`` (see :mod:`scifm.tasks`);
token inputs are ``n`` lists of words / residues with ``n`` lists of tags (``None`` = not scored).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch.utils.data import Dataset
from transformers import DataCollatorForTokenClassification, EvalPrediction, PreTrainedTokenizerBase

from scifm.config.schema import ModelConfig
from scifm.evaluation.metrics import compute_metrics, primary_metric
from scifm.evaluation.token_metrics import TokenKind, primary_token_metric, token_scores
from scifm.featurizers.token_alignment import IGNORE_INDEX, align_labels, encode_words
from scifm.featurizers.tokenizers import prepare_inputs
from scifm.models.backbones import Backbone
from scifm.models.token import TokenPredictor
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec
from scifm.training.args import Selection
from scifm.training.data import EncodedDataset, FloatLabelCollator, ListDataset, encode_texts
from scifm.training.losses import (
    LossFunc,
    balanced_token_weights,
    class_weights_for,
    make_compute_loss,
    make_token_loss,
)
from scifm.training.masking import argmax_logits

logger = logging.getLogger(__name__)

TIE_BREAK = 1e-4
"""Weight of the validation loss in the ``selection`` metric of sequence tasks."""
MetricFn = Callable[[EvalPrediction], dict[str, float]]
Words = Sequence[Sequence[str]]
Tags = Sequence[Sequence[str | None]]


def validation_score(task: TaskSpec, logits: np.ndarray, labels: np.ndarray,
                     mean: np.ndarray | None = None, std: np.ndarray | None = None) -> float:
    """The task's primary metric (:func:`~scifm.evaluation.metrics.primary_metric`) on raw outputs.

    ``logits`` is ``n x n_outputs``; ``labels`` ``n x n_tasks`` (NaN = missing), standardised
    for regression with ``mean`` / ``std``, in which case both are put back in target units.
    ROC-AUC and macro F1 depend only on the ranking / argmax of the logits, so no sigmoid or
    softmax is needed. NaN when undefined.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64).reshape(len(logits), -1)
    if mean is not None and std is not None:
        logits, labels = logits * std + mean, labels * std + mean
    return compute_metrics(task, labels, logits)[primary_metric(task)[0]]


@dataclass
class SequenceHead:
    """One output vector per input (see the module docstring)."""

    task: TaskSpec
    modality: str
    dna_kmer: int = 1
    """DNA k-mer size the inputs are prepared with."""
    target_mean: np.ndarray | None = None
    """Regression: per-target mean of the training labels (labels are standardised)."""
    target_std: np.ndarray | None = None
    kind = "sequence"

    @classmethod
    def fit(cls, task: TaskSpec, modality: str, dna_kmer: int, y: np.ndarray) -> SequenceHead:
        """The head for ``task``, with regression scaling learned from ``y`` (``n x n_tasks``)."""
        head = cls(task, modality, dna_kmer)
        if task.task_type == "regression":
            y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
            with np.errstate(all="ignore"):
                mean, std = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
            head.target_mean = np.where(np.isfinite(mean), mean, 0.0)
            head.target_std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        return head

    def corpus(self, x: Sequence[str]) -> list[str]:
        """Inputs as the tokenizer reads them."""
        return prepare_inputs(self.modality, x, self.dna_kmer)

    def labels(self, y: np.ndarray) -> np.ndarray:
        """``n x n_tasks`` float32 labels (standardised for regression)."""
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if y.shape[1] != self.task.n_tasks:
            raise ValueError(f"y has {y.shape[1]} columns, the task has {self.task.n_tasks}")
        if self.target_mean is not None:
            y = (y - self.target_mean) / self.target_std
        return y.astype(np.float32)

    def backbone(self) -> Backbone:
        return Backbone.sequence(self.task)

    def dataset(self, tokenizer: PreTrainedTokenizerBase, x: Sequence[str], y: np.ndarray,
                max_length: int) -> Dataset:
        return EncodedDataset(encode_texts(tokenizer, self.corpus(x), max_length),
                              self.labels(y))

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        return FloatLabelCollator(tokenizer)

    def selection(self, y_val: np.ndarray | None) -> Selection | None:
        """Select on the primary metric with a loss tie-break, or on the loss where the metric is
        undefined on the validation set (e.g. a single class); None without validation data."""
        if y_val is None or len(y_val) == 0:
            return None
        metric, greater = primary_metric(self.task)
        probe = np.zeros((len(y_val), self.task.n_outputs))
        if not np.isfinite(validation_score(self.task, probe, self.labels(y_val))):
            logger.warning("%s undefined on the validation set; selecting on val loss", metric)
            return Selection("loss", False, needs_loss=True)
        return Selection("selection", greater, needs_loss=True)

    def loss(self, model_cfg: ModelConfig, y_train: np.ndarray) -> LossFunc:
        """The NaN-masked loss, class-weighted as ``model.class_weight`` says
        (:func:`~scifm.training.losses.class_weights_for`: ``auto`` when a class is rare)."""
        weights = class_weights_for(self.task, y_train, model_cfg.class_weight)
        return make_compute_loss(self.task, weights)

    def metrics(self) -> MetricFn:
        """``compute_metrics``: the primary metric (target units) plus ``selection``.

        ``selection`` is the metric with a tiny validation-loss tie-break (1e-4 x loss), so that on
        small validation sets where e.g. ROC-AUC saturates at 1.0 a later, better-calibrated epoch
        still counts as an improvement. It selects the best checkpoint and drives early stopping.
        """
        name, greater = primary_metric(self.task)

        def compute(pred: EvalPrediction) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) \
                else pred.predictions
            out = {name: validation_score(self.task, logits, pred.label_ids, self.target_mean,
                                          self.target_std)}
            loss = float(np.mean(pred.losses)) if pred.losses is not None else 0.0
            tie = TIE_BREAK * min(loss, 10.0)
            out["selection"] = out[name] - tie if greater else out[name] + tie
            return out
        return compute

    preprocess_logits = None
    """No reduction of the logits before ``compute_metrics``."""

    def predictor(self, model: Any, tokenizer: PreTrainedTokenizerBase, max_length: int,
                  **kw: Any) -> TransformerPredictor:
        """The fitted model's adapter (``kw``: settings, counts, PEFT base, bf16)."""
        return TransformerPredictor(self.task, self.modality, model, tokenizer,
                                    dna_kmer=self.dna_kmer, max_length=max_length,
                                    target_mean=self.target_mean, target_std=self.target_std, **kw)


def label_list(tags: Tags, kind: TokenKind) -> list[str]:
    """Sorted label names seen in ``tags`` (``O`` first for NER)."""
    seen = {t for row in tags for t in row if t is not None}
    if kind == "ner":
        seen.add("O")
        return ["O"] + sorted(seen - {"O"})
    return sorted(seen)


@dataclass
class TokenHead:
    """One label per word / residue (see the module docstring)."""

    token_kind: TokenKind
    """``ner`` (words, sub-word tokenizer, entity F1) or ``residue`` (one token per residue,
    Q3)."""
    modality: str
    labels: list[str]
    """Label names; index = output of the head."""
    fill_label: str = "O"
    """Tag of words / residues cut off by ``max_length`` (``O``, or the most frequent residue
    label)."""
    kind = "token"

    @classmethod
    def fit(cls, token_kind: TokenKind, modality: str, y_train: Tags,
            y_val: Tags | None = None) -> TokenHead:
        """The label list of the training and validation tags and the fill label."""
        labels = label_list(list(y_train) + list(y_val or []), token_kind)
        counts = Counter(t for row in y_train for t in row if t is not None)
        fill = "O" if token_kind == "ner" else counts.most_common(1)[0][0]
        return cls(token_kind, modality, labels, fill)

    def corpus(self, words: Words) -> list[str]:
        """Inputs as one string each (words space-joined, residues concatenated)."""
        sep = " " if self.token_kind == "ner" else ""
        return [sep.join(w) for w in words]

    def backbone(self) -> Backbone:
        return Backbone.token(self.labels)

    def dataset(self, tokenizer: PreTrainedTokenizerBase, words: Words, tags: Tags,
                max_length: int) -> Dataset:
        label2id = {name: i for i, name in enumerate(self.labels)}
        encoded = encode_words(tokenizer, words, self.token_kind, max_length)
        return ListDataset([{"input_ids": e.input_ids, "labels": align_labels(e, t, label2id)}
                            for e, t in zip(encoded, tags, strict=True)])

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Any:
        return DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX)

    def selection(self, y_val: Tags | None) -> Selection | None:
        """Select on entity F1 (``ner``) or Q3 (``residue``); None without validation data."""
        if not y_val:
            return None
        return Selection(primary_token_metric(self.token_kind), True)

    def loss(self, model_cfg: ModelConfig, y_train: Tags) -> LossFunc | None:
        """Class-weighted cross-entropy with ``model.class_weight: balanced``, else None (the
        model's own cross-entropy)."""
        if model_cfg.class_weight != "balanced":
            return None
        return make_token_loss(balanced_token_weights(y_train, self.labels))

    def metrics(self) -> MetricFn:
        """``compute_metrics``: entity P/R/F1 or Q3 over the labelled (first) tokens."""
        def compute(pred: EvalPrediction) -> dict[str, float]:
            preds, labels = np.asarray(pred.predictions), np.asarray(pred.label_ids)
            y_true, y_pred = [], []
            for p, t in zip(preds, labels, strict=True):
                keep = t != IGNORE_INDEX
                y_true.append([self.labels[i] for i in t[keep]])
                y_pred.append([self.labels[i] for i in p[keep]])
            return token_scores(self.token_kind, y_true, y_pred)
        return compute

    preprocess_logits = staticmethod(argmax_logits)
    """Keep the predicted label ids, not the logits, between evaluation batches."""

    def predictor(self, model: Any, tokenizer: PreTrainedTokenizerBase, max_length: int,
                  **kw: Any) -> TokenPredictor:
        """The fitted model's adapter (``kw``: settings, counts, PEFT base, bf16)."""
        return TokenPredictor(self.token_kind, self.modality, model, tokenizer, self.labels,
                              fill_label=self.fill_label, max_length=max_length, **kw)
