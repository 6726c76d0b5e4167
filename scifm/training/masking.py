"""Masked-language-model pieces for ``transformers.Trainer``: collator, fixed eval masks, metrics.

Training batches are masked dynamically (a new mask at every step) by
:class:`~transformers.DataCollatorForLanguageModeling`. Held-out examples are masked *once* with
a fixed seed (:func:`premask`), so every evaluation of a run, and every run on the same corpus,
scores the same masked positions. :class:`MlmCollator` routes each batch: examples that already
carry ``labels`` are only padded.

Overlapping DNA k-mers need span masking (:class:`SpanMaskingCollator`, DNABERT's scheme): a lone
masked 3-mer is spelled out by its two neighbours, so token-level masking teaches nothing; masking
``k`` consecutive tokens hides at least one nucleotide completely.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import (
    DataCollatorForLanguageModeling,
    DataCollatorForTokenClassification,
    EvalPrediction,
    PreTrainedTokenizerBase,
)

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
"""Label of positions that are not scored (not masked, or padding)."""


@dataclass
class SpanMaskingCollator(DataCollatorForLanguageModeling):
    """:class:`~transformers.DataCollatorForLanguageModeling` that masks runs of ``span``
    consecutive tokens (``span=1``: the parent's token masking). Span starts are drawn with
    probability ``mlm_probability / span``, so about ``mlm_probability`` of the tokens are
    selected; selected tokens are replaced 80% by ``[MASK]``, 10% by a random token, 10% kept."""

    span: int = 1

    def torch_mask_tokens(self, inputs: Any, special_tokens_mask: Any | None = None,
                          offset_mapping: Any | None = None) -> tuple[Any, Any]:
        if self.span <= 1:
            return super().torch_mask_tokens(inputs, special_tokens_mask, offset_mapping)
        labels = inputs.clone()
        if special_tokens_mask is None:
            special_tokens_mask = [self.tokenizer.get_special_tokens_mask(
                row, already_has_special_tokens=True) for row in labels.tolist()]
        special = torch.as_tensor(special_tokens_mask, dtype=torch.bool)
        prob = torch.full(labels.shape, self.mlm_probability / self.span).masked_fill(special, 0.0)
        starts = torch.bernoulli(prob, generator=self.generator).bool()
        masked = starts.clone()
        for shift in range(1, self.span):
            masked[:, shift:] |= starts[:, :-shift]
        masked &= ~special
        labels[~masked] = IGNORE_INDEX
        draw = torch.rand(labels.shape, generator=self.generator)
        inputs[masked & (draw < 0.8)] = self.tokenizer.mask_token_id
        swap = masked & (draw >= 0.8) & (draw < 0.9)
        random_ids = torch.randint(len(self.tokenizer), labels.shape, dtype=torch.long,
                                   generator=self.generator)
        inputs[swap] = random_ids[swap]
        return inputs, labels


@dataclass
class MlmCollator:
    """Dynamic masking for unlabeled examples, padding only for pre-masked ones.

    Returns ``input_ids``, ``attention_mask`` and ``labels`` (all ``batch x longest``; labels are
    ``-100`` except at masked positions).
    """

    tokenizer: PreTrainedTokenizerBase
    mask_prob: float = 0.15
    seed: int | None = None
    span: int = 1
    """Mask runs of this many consecutive tokens (DNA k-mers: ``k``)."""
    _mlm: DataCollatorForLanguageModeling = field(init=False, repr=False)
    _pad: DataCollatorForTokenClassification = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._mlm = SpanMaskingCollator(self.tokenizer, mlm=True, mlm_probability=self.mask_prob,
                                        seed=self.seed, span=self.span)
        self._pad = DataCollatorForTokenClassification(self.tokenizer,
                                                       label_pad_token_id=IGNORE_INDEX)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        if features and "labels" in features[0]:
            return self._pad(features)
        return self._mlm(features)


def premask(examples: Sequence[dict[str, list[int]]], tokenizer: PreTrainedTokenizerBase,
            mask_prob: float, seed: int, span: int = 1) -> list[dict[str, list[int]]]:
    """Mask each example once, reproducibly; every example gets at least one masked token.

    Parameters
    ----------
    examples
        ``{"input_ids": [...]}`` with special tokens.
    mask_prob
        As in training (80% ``[MASK]``, 10% random token, 10% unchanged).
    seed
        Fixes the masks.
    span
        Mask runs of this many consecutive tokens (see :class:`SpanMaskingCollator`).

    Returns
    -------
    list[dict[str, list[int]]]
        ``{"input_ids", "labels"}`` per example, ``labels`` ``-100`` where not masked.
    """
    collator = SpanMaskingCollator(tokenizer, mlm=True, mlm_probability=mask_prob, seed=seed,
                                   span=span)
    rng = np.random.default_rng(seed)
    special = set(tokenizer.all_special_ids)
    out = []
    for ex in examples:
        batch = collator([{"input_ids": list(ex["input_ids"])}])
        ids, labels = batch["input_ids"][0].tolist(), batch["labels"][0].tolist()
        if all(label == IGNORE_INDEX for label in labels):
            candidates = [i for i, t in enumerate(ex["input_ids"]) if t not in special]
            if candidates:
                pos = int(rng.choice(candidates))
                labels[pos] = ex["input_ids"][pos]
                ids[pos] = tokenizer.mask_token_id
        out.append({"input_ids": ids, "labels": labels})
    return out


def argmax_logits(logits: torch.Tensor | tuple, labels: torch.Tensor) -> torch.Tensor:
    """``preprocess_logits_for_metrics``: keep the predicted token ids, not the vocabulary logits.

    ``batch x seq x vocab`` -> ``batch x seq``; the Trainer then accumulates ids only.
    """
    if isinstance(logits, tuple):
        logits = logits[0]
    return logits.argmax(dim=-1)


def mlm_accuracy(pred: EvalPrediction) -> dict[str, float]:
    """``compute_metrics``: fraction of masked positions whose token is predicted exactly."""
    preds = np.asarray(pred.predictions)
    labels = np.asarray(pred.label_ids)
    scored = labels != IGNORE_INDEX
    n = int(scored.sum())
    acc = float((preds[scored] == labels[scored]).mean()) if n else float("nan")
    return {"mlm_accuracy": acc, "n_masked": float(n)}
