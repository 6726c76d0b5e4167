"""The fitted token-classification model (``task: token_classification``): one label per word or
residue.

Fine-tuning is :mod:`scifm.training.finetune` with a :class:`~scifm.training.heads.TokenHead`
(``scifm finetune``); what it produces, and what :func:`scifm.models.transformer.load_token_model`
reads back, is a :class:`TokenPredictor`: a Hugging Face folder
(:class:`~transformers.AutoModelForTokenClassification`, safetensors; or a PEFT adapter plus
``base/``) and ``scifm.json`` (``family: token``, ``task: token_classification``, the kind, the
label list and the fill label).

Shapes: inputs are ``n`` lists of words (``ner``) or residues (``residue``: ``list(sequence)``);
:meth:`TokenPredictor.predict` returns ``n`` lists of tags, one per word / residue.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from scifm.evaluation.token_metrics import TokenKind
from scifm.featurizers.token_alignment import EncodedWords, encode_words
from scifm.models.hf_folder import HFAdapter

logger = logging.getLogger(__name__)

FAMILY = "token"
"""``family`` in ``model/scifm.json`` of a token-classification model."""
Words = Sequence[Sequence[str]]


class TokenPredictor(HFAdapter):
    """A fine-tuned encoder that labels every word (``ner``) or residue (``residue``).

    Parameters
    ----------
    kind
        ``ner`` (words, sub-word tokenizer) or ``residue`` (one token per residue).
    modality
        Input modality (``text`` for words; ``protein`` or ``dna`` for residues).
    model, tokenizer
        The fine-tuned model (``batch x seq`` ids -> ``batch x seq x n_labels`` logits; or a
        PEFT adapter model) and its tokenizer.
    labels
        Label names; index = output of the head.
    fill_label
        Tag of words / residues beyond ``max_length``.
    **kw
        ``max_length``, ``settings``, ``peft_base``, ``n_parameters``,
        ``n_trainable_parameters``, ``bf16`` (predict under bf16 autocast):
        see :class:`~scifm.models.hf_folder.HFAdapter`.
    """

    family = FAMILY
    head = "token"

    def __init__(
        self, kind: TokenKind, modality: str, model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase, labels: Sequence[str], *, fill_label: str = "O",
        **kw: Any,
    ) -> None:
        super().__init__(modality, model, tokenizer, **kw)
        self.kind = kind
        self.labels_ = list(labels)
        self.fill_label_ = fill_label

    def predict(self, x: Words) -> list[list[str]]:
        """Tags, one list per input with one tag per word / residue.

        Words or residues cut off by ``max_length`` get the fill label (``O`` for NER, the most
        frequent training label for residues); a warning gives how many.
        """
        encoded = encode_words(self.tokenizer_, x, self.kind, self.max_length_)
        out = [[self.fill_label_] * len(w) for w in x]
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16,
                                                    enabled=self.bf16_):
            for idx, batch in self.batches([e.input_ids for e in encoded]):
                best = self.model_(**batch).logits.argmax(-1).cpu().numpy()
                for row, i in enumerate(idx):
                    self._decode(encoded[i], best[row], out[i])
        cut = sum(len(w) - e.n_words_covered for w, e in zip(x, encoded, strict=True))
        if cut:
            logger.warning("%d words/residues beyond max_length=%d got the fill label %r",
                           cut, self.max_length_, self.fill_label_)
        return out

    def _decode(self, enc: EncodedWords, best: np.ndarray, tags: list[str]) -> None:
        for pos, word in enumerate(enc.word_at):
            if word >= 0:
                tags[word] = self.labels_[int(best[pos])]

    def save(self, path: Path) -> None:
        """Write a Hugging Face folder (safetensors, config, tokenizer) plus ``scifm.json``."""
        self.save_folder(path, task="token_classification", kind=self.kind, labels=self.labels_,
                         fill_label=self.fill_label_)

    @classmethod
    def load(cls, path: Path) -> TokenPredictor:
        """Rebuild a fitted predictor from a folder written by :meth:`save`."""
        meta, kw = cls.read_folder(path)
        return cls(meta["kind"], labels=meta["labels"], fill_label=meta["fill_label"], **kw)
