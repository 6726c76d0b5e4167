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
from scifm.models.base import MODEL_META
from scifm.models.hf_folder import load_hf_folder, read_meta, save_hf_folder
from scifm.training.data import length_sorted_batches
from scifm.training.device import bf16_supported
from scifm.training.peft import BaseSnapshot, is_adapter
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

FAMILY = "token"
"""``family`` in ``model/scifm.json`` of a token-classification model."""
Words = Sequence[Sequence[str]]


class TokenPredictor:
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
    max_length
        Tokens per input.
    settings
        ``model``, ``train``, ``peft`` sections and ``seed`` of the training run, as written to
        ``scifm.json`` (``train.batch_size`` sets the inference batch size).
    bf16
        Predict under bf16 autocast.
    """

    family = FAMILY

    def __init__(
        self, kind: TokenKind, modality: str, model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase, labels: Sequence[str], *, fill_label: str = "O",
        max_length: int = 256, settings: dict[str, Any] | None = None,
        peft_base: BaseSnapshot | None = None, n_parameters: int = 0,
        n_trainable_parameters: int = 0, bf16: bool = False,
    ) -> None:
        self.kind = kind
        self.modality = modality
        self.model_ = model
        self.tokenizer_ = tokenizer
        self.labels_ = list(labels)
        self.fill_label_ = fill_label
        self.max_length_ = max_length
        self.settings = settings or {}
        self.peft_base_ = peft_base
        self.n_parameters_ = n_parameters
        self.n_trainable_parameters_ = n_trainable_parameters
        self.bf16_ = bf16
        self.history_: list[dict[str, Any]] = []

    def predict(self, x: Words) -> list[list[str]]:
        """Tags, one list per input with one tag per word / residue.

        Words or residues cut off by ``max_length`` get the fill label (``O`` for NER, the most
        frequent training label for residues); a warning gives how many.
        """
        encoded = encode_words(self.tokenizer_, x, self.kind, self.max_length_)
        out = [[self.fill_label_] * len(w) for w in x]
        device = next(self.model_.parameters()).device
        batch_size = 2 * int(self.settings.get("train", {}).get("batch_size", 32))
        self.model_.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                    enabled=self.bf16_):
            for idx, batch in length_sorted_batches(
                    self.tokenizer_, [e.input_ids for e in encoded], batch_size, device):
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
        path = Path(path)
        save_hf_folder(self.model_, self.tokenizer_, path, self.peft_base_)
        s = self.settings
        atomic_write_json(path / MODEL_META, {
            "family": self.family, "task": "token_classification", "kind": self.kind,
            "modality": self.modality, "labels": self.labels_, "fill_label": self.fill_label_,
            "max_length": self.max_length_, "model": s.get("model", {}),
            "train": s.get("train", {}), "seed": s.get("seed", 0),
            "n_parameters": self.n_parameters_,
            "n_trainable_parameters": self.n_trainable_parameters_,
            "peft": {**s.get("peft", {}), "adapter": is_adapter(self.model_)},
        })

    @classmethod
    def load(cls, path: Path) -> TokenPredictor:
        """Rebuild a fitted predictor from a folder written by :meth:`save`."""
        path = Path(path)
        meta = read_meta(path, FAMILY, "token")
        model, tokenizer, base = load_hf_folder(path, "token")
        tokenizer.model_max_length = int(meta["max_length"])
        settings = {k: meta.get(k) or {} for k in ("model", "train", "peft")}
        settings["peft"] = {k: v for k, v in settings["peft"].items() if k != "adapter"}
        settings["seed"] = int(meta.get("seed", 0))
        return cls(
            meta["kind"], meta["modality"], model, tokenizer, meta["labels"],
            fill_label=meta["fill_label"], max_length=int(meta["max_length"]), settings=settings,
            peft_base=base, n_parameters=int(meta.get("n_parameters") or model.num_parameters()),
            n_trainable_parameters=int(meta.get("n_trainable_parameters") or 0),
            bf16=settings["train"].get("bf16", "auto") != "off" and bf16_supported(),
        )
