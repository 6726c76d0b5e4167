"""Token classification (``task: token_classification``): one label per word or residue.

``transformers.Trainer`` owns the loop; this module supplies the model
(:class:`~transformers.AutoModelForTokenClassification`: a fresh BERT from a size preset or any
local ``model.init`` checkpoint), the label alignment (:mod:`scifm.featurizers.token_alignment`),
:class:`~transformers.DataCollatorForTokenClassification` and the validation metric that selects
the checkpoint and drives early stopping (entity F1 for ``ner``, Q3 for ``residue``). A fitted
model is saved as a Hugging Face folder (safetensors) plus ``scifm.json`` (``task:
token_classification``, the label list and the kind).

Shapes: inputs are ``n`` lists of words (``ner``) or residues (``residue``: ``list(sequence)``);
labels are ``n`` lists of tags of the same lengths, ``None`` = not trained on / not scored.
:meth:`TokenPredictor.predict` returns ``n`` lists of tags, one per word / residue.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from transformers import (
    AutoConfig,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertForTokenClassification,
    DataCollatorForTokenClassification,
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    ProgressCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.utils import logging as hf_logging

from scifm.config.schema import ModelConfig, TrainConfig
from scifm.errors import ConfigError, RunDirError
from scifm.evaluation.token_metrics import TokenKind, primary_token_metric, token_scores
from scifm.featurizers.token_alignment import (
    IGNORE_INDEX,
    EncodedWords,
    align_labels,
    encode_words,
)
from scifm.featurizers.tokenizers import build_tokenizer, load_checkpoint_tokenizer
from scifm.models.backbones import build_backbone_config, check_checkpoint, checkpoint_max_length
from scifm.models.base import MODEL_META
from scifm.training.args import speed_args, trainer_history
from scifm.training.callbacks import EpochLogProgress
from scifm.training.device import accelerator, bf16_supported, resolve_bf16
from scifm.training.masking import argmax_logits
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

FAMILY = "token"
"""``family`` in ``model/scifm.json`` of a token-classification model."""
Words = Sequence[Sequence[str]]
Tags = Sequence[Sequence[str | None]]


def label_list(tags: Tags, kind: TokenKind) -> list[str]:
    """Sorted label names seen in ``tags`` (``O`` first for NER)."""
    seen = {t for row in tags for t in row if t is not None}
    if kind == "ner":
        seen.add("O")
        return ["O"] + sorted(seen - {"O"})
    return sorted(seen)


class _Examples(Dataset):
    def __init__(self, items: list[dict[str, list[int]]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def load_token_backbone(model_cfg: ModelConfig, labels: list[str], vocab_size: int,
                        pad_token_id: int = 0) -> PreTrainedModel:
    """A token-classification model with ``len(labels)`` outputs per token.

    A fresh BERT from ``model_cfg.size``, or ``model_cfg.init`` with a new head
    (``ignore_mismatched_sizes``). Maps ``input_ids`` (``batch x seq``) to ``logits``
    (``batch x seq x n_labels``).
    """
    id2label = dict(enumerate(labels))
    common = {"num_labels": len(labels), "id2label": id2label,
              "label2id": {v: k for k, v in id2label.items()}}
    if model_cfg.init is None:
        config = build_backbone_config(model_cfg.size, vocab_size, model_cfg,
                                       pad_token_id=pad_token_id, **common)
        return BertForTokenClassification(config)
    init = check_checkpoint(Path(model_cfg.init))
    try:
        config = AutoConfig.from_pretrained(str(init), local_files_only=True, **common)
        return AutoModelForTokenClassification.from_pretrained(
            str(init), config=config, ignore_mismatched_sizes=True, local_files_only=True)
    except (OSError, ValueError, KeyError, TypeError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"model.init: cannot load the checkpoint in {init}: {msg}") from err


class TokenPredictor:
    """Fine-tunes an encoder to label every word (``ner``) or residue (``residue``).

    Parameters
    ----------
    kind
        ``ner`` (words, sub-word tokenizer, entity F1) or ``residue`` (one token per residue,
        Q3).
    modality
        ``text`` or ``protein`` (``dna`` works like protein).
    model_cfg, train_cfg
        Backbone (``size`` / ``init``, ``max_length``) and Trainer settings.
    seed
        Seeds initialisation, data order and dropout.
    work_dir
        Holds ``checkpoints/``; a temporary folder when None.
    """

    family = FAMILY

    def __init__(self, kind: TokenKind, modality: str, model_cfg: ModelConfig,
                 train_cfg: TrainConfig, seed: int = 0, work_dir: Path | None = None) -> None:
        self.kind = kind
        self.modality = modality
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.seed = seed
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.labels_: list[str] = []
        self.fill_label_: str = "O"
        self.max_length_: int = model_cfg.max_length
        self.bf16_: bool = False
        self.history_: list[dict[str, Any]] = []
        self.n_parameters_: int = 0
        self.global_step_: int = 0
        self.world_size_: int = 1
        self.model_: PreTrainedModel | None = None
        self.tokenizer_: PreTrainedTokenizerBase | None = None

    # ------------------------------------------------------------------ training
    def _tokenizer(self, words: Words, args: TrainingArguments) -> PreTrainedTokenizerBase:
        """The checkpoint's tokenizer, or one trained on ``words`` by the main process.

        A trained WordPiece vocabulary is not reproducible across processes, so with several
        processes the main one trains and saves it and the others load that copy.
        """
        if self.model_cfg.init is not None:
            return load_checkpoint_tokenizer(Path(self.model_cfg.init), self.model_cfg.max_length)
        shared = Path(args.output_dir) / "tokenizer"
        with args.main_process_first(desc="tokenizer"):
            if args.world_size > 1 and not args.process_index == 0:
                return AutoTokenizer.from_pretrained(str(shared))
            sep = " " if self.kind == "ner" else ""
            tok = build_tokenizer(self.modality, [sep.join(w) for w in words], self.model_cfg)
            if args.world_size > 1:
                tok.save_pretrained(str(shared))
            return tok

    def _dataset(self, words: Words, tags: Tags) -> _Examples:
        label2id = {name: i for i, name in enumerate(self.labels_)}
        encoded = encode_words(self.tokenizer_, words, self.kind, self.max_length_)
        return _Examples([{"input_ids": e.input_ids, "labels": align_labels(e, t, label2id)}
                          for e, t in zip(encoded, tags, strict=True)])

    def fit(self, x_train: Words, y_train: Tags, x_val: Words | None = None,
            y_val: Tags | None = None) -> TokenPredictor:
        """Fine-tune; with validation data, keep the best epoch by entity F1 / Q3 and stop early."""
        tmp = tempfile.TemporaryDirectory(prefix="scifm-") if self.work_dir is None else None
        work_dir = Path(tmp.name) if tmp is not None else self.work_dir
        hf_logging.disable_progress_bar()
        try:
            self._fit(work_dir / "checkpoints", x_train, y_train, x_val, y_val)
        finally:
            hf_logging.enable_progress_bar()
            if tmp is not None:
                tmp.cleanup()
        return self

    def _fit(self, out: Path, x_train: Words, y_train: Tags, x_val: Words | None,
             y_val: Tags | None) -> None:
        set_seed(self.seed)
        self.labels_ = label_list(list(y_train) + list(y_val or []), self.kind)
        counts = Counter(t for row in y_train for t in row if t is not None)
        self.fill_label_ = "O" if self.kind == "ner" else counts.most_common(1)[0][0]
        self.bf16_ = resolve_bf16(self.train_cfg.bf16)
        has_val = bool(x_val) and y_val is not None
        args = self._training_args(out, has_val)
        self.tokenizer_ = self._tokenizer(x_train, args)
        model = load_token_backbone(self.model_cfg, self.labels_, len(self.tokenizer_),
                                    self.tokenizer_.pad_token_id or 0)
        self.max_length_ = checkpoint_max_length(model.config, self.model_cfg.max_length)
        self.tokenizer_.model_max_length = self.max_length_
        tc = self.train_cfg
        trainer = Trainer(
            model=model, args=args, train_dataset=self._dataset(x_train, y_train),
            eval_dataset=self._dataset(x_val, y_val) if has_val else None,
            data_collator=DataCollatorForTokenClassification(
                self.tokenizer_, label_pad_token_id=IGNORE_INDEX),
            processing_class=self.tokenizer_,
            compute_metrics=self._metric_fn() if has_val else None,
            preprocess_logits_for_metrics=argmax_logits,
            callbacks=[EarlyStoppingCallback(tc.patience)] if has_val else [],
        )
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(EpochLogProgress)
        trainer.train()
        self.world_size_ = int(args.world_size)
        self.model_ = trainer.model.eval()
        self.n_parameters_ = int(self.model_.num_parameters())
        self.global_step_ = int(trainer.state.global_step)
        self.history_ = trainer_history(trainer.state.log_history)
        logger.info("trained %d steps on %d process(es); best checkpoint %s", self.global_step_,
                    self.world_size_, trainer.state.best_model_checkpoint)

    def _training_args(self, out: Path, has_val: bool) -> TrainingArguments:
        """Trainer settings; selection and early stopping on entity F1 / Q3 when val is given."""
        metric = primary_token_metric(self.kind)
        tc = self.train_cfg
        return TrainingArguments(
            output_dir=str(out), num_train_epochs=tc.epochs, max_steps=tc.max_steps,
            learning_rate=tc.lr, per_device_train_batch_size=tc.batch_size,
            per_device_eval_batch_size=tc.batch_size, weight_decay=tc.weight_decay,
            eval_strategy="epoch" if has_val else "no", save_strategy="epoch" if has_val
            else "no", logging_strategy="epoch", load_best_model_at_end=has_val,
            metric_for_best_model=metric if has_val else None,
            greater_is_better=True if has_val else None, save_total_limit=2, seed=self.seed,
            data_seed=self.seed, report_to="none", label_names=["labels"],
            **speed_args(tc, self.bf16_, group_by_length=True),
        )

    def _metric_fn(self) -> Callable[[EvalPrediction], dict[str, float]]:
        """``compute_metrics``: entity P/R/F1 or Q3 over the labelled (first) tokens."""
        def compute(pred: EvalPrediction) -> dict[str, float]:
            preds, labels = np.asarray(pred.predictions), np.asarray(pred.label_ids)
            y_true, y_pred = [], []
            for p, t in zip(preds, labels, strict=True):
                keep = t != IGNORE_INDEX
                y_true.append([self.labels_[i] for i in t[keep]])
                y_pred.append([self.labels_[i] for i in p[keep]])
            return token_scores(self.kind, y_true, y_pred)
        return compute

    # ---------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if self.model_ is None or self.tokenizer_ is None:
            raise RuntimeError("TokenPredictor is not fitted; call fit() or load() first")

    def predict(self, x: Words) -> list[list[str]]:
        """Tags, one list per input with one tag per word / residue.

        Words or residues cut off by ``max_length`` get the fill label (``O`` for NER, the most
        frequent training label for residues); a warning gives how many.
        """
        self._check_fitted()
        encoded = encode_words(self.tokenizer_, x, self.kind, self.max_length_)
        out = [[self.fill_label_] * len(w) for w in x]
        device = next(self.model_.parameters()).device
        order = np.argsort([len(e.input_ids) for e in encoded], kind="stable")
        size = max(1, 2 * self.train_cfg.batch_size)
        self.model_.eval()
        with torch.inference_mode(), torch.autocast(device.type, dtype=torch.bfloat16,
                                                    enabled=self.bf16_):
            for start in range(0, len(order), size):
                idx = order[start:start + size]
                batch = self.tokenizer_.pad({"input_ids": [encoded[i].input_ids for i in idx]},
                                            return_tensors="pt", return_attention_mask=True)
                batch = {k: v.to(device) for k, v in batch.items()
                         if k in ("input_ids", "attention_mask")}
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

    # ---------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """Write a Hugging Face folder (safetensors, config, tokenizer) plus ``scifm.json``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.model_.save_pretrained(str(path))
        self.tokenizer_.save_pretrained(str(path))
        atomic_write_json(path / MODEL_META, {
            "family": self.family, "task": "token_classification", "kind": self.kind,
            "modality": self.modality, "labels": self.labels_, "fill_label": self.fill_label_,
            "max_length": self.max_length_, "model": self.model_cfg.model_dump(mode="json"),
            "train": self.train_cfg.model_dump(mode="json"), "seed": self.seed,
            "n_parameters": self.n_parameters_,
        })

    @classmethod
    def load(cls, path: Path) -> TokenPredictor:
        """Rebuild a fitted predictor from a folder written by :meth:`save`."""
        path = Path(path)
        meta_file = path / MODEL_META
        if not meta_file.is_file() or not (path / "config.json").is_file():
            raise RunDirError(f"{path} is not a saved token model (no {MODEL_META} or "
                              "config.json)")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("family") != FAMILY:
            raise RunDirError(f"{path} holds a {meta.get('family')!r} model, not a token model")
        obj = cls(meta["kind"], meta["modality"], ModelConfig.model_validate(meta["model"]),
                  TrainConfig.model_validate(meta["train"]), seed=int(meta.get("seed", 0)))
        obj.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        obj.model_ = AutoModelForTokenClassification.from_pretrained(str(path))
        obj.model_.to(accelerator()).eval()
        obj.labels_ = list(meta["labels"])
        obj.fill_label_ = meta["fill_label"]
        obj.max_length_ = int(meta["max_length"])
        obj.tokenizer_.model_max_length = obj.max_length_
        obj.bf16_ = obj.train_cfg.bf16 != "off" and bf16_supported()
        obj.n_parameters_ = int(meta.get("n_parameters") or obj.model_.num_parameters())
        return obj


