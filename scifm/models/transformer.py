"""The transformer family: a BERT-style encoder fine-tuned with ``transformers.Trainer``.

``transformers.Trainer`` owns the loop. This module supplies the pieces: tokenised data
(:class:`EncodedDataset`), dynamic padding with float labels (:class:`FloatLabelCollator`), the
NaN-masked loss (:func:`scifm.training.make_compute_loss`), the validation metric
(:func:`task_metrics`) and early stopping. A fitted model is saved as a standard Hugging Face folder
(``config.json``, ``model.safetensors``, ``tokenizer.json``) plus ``scifm.json``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score, roc_auc_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    EarlyStoppingCallback,
    EvalPrediction,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    ProgressCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from scifm.config.schema import ModelConfig, PeftConfig, TrainConfig
from scifm.errors import RunDirError
from scifm.featurizers.tokenizers import build_tokenizer, checkpoint_dna_kmer, prepare_inputs
from scifm.models.backbones import checkpoint_max_length, load_backbone
from scifm.models.base import MODEL_META
from scifm.tasks import TaskSpec
from scifm.training.args import speed_args, trainer_history
from scifm.training.callbacks import EpochLogProgress
from scifm.training.data import EncodedDataset, FloatLabelCollator
from scifm.training.device import accelerator, bf16_supported, resolve_bf16
from scifm.training.losses import balanced_class_weights, make_compute_loss
from scifm.training.peft import (
    BASE_DIR,
    BaseSnapshot,
    apply_peft,
    finalize,
    is_adapter,
    is_adapter_dir,
    keeps_adapter,
    load_adapter_model,
    parameter_counts,
    peft_callbacks,
    prompt_capped_length,
    save_adapter_model,
)
from scifm.utils.io import atomic_write_json

logger = logging.getLogger(__name__)

TASK_METRIC: dict[str, tuple[str, bool]] = {
    "binary": ("roc_auc", True),
    "multiclass": ("f1_macro", True),
    "regression": ("rmse", False),
}
"""Validation metric per task type: (name, greater_is_better); it selects the best checkpoint."""
_TIE_BREAK = 1e-4


def task_metrics(
    task: TaskSpec, logits: np.ndarray, labels: np.ndarray,
    mean: np.ndarray | None = None, std: np.ndarray | None = None,
) -> dict[str, float]:
    """The validation metric of :data:`TASK_METRIC` on observed labels (NaN if undefined).

    Parameters
    ----------
    logits
        ``n x n_outputs`` raw model outputs.
    labels
        ``n x n_tasks`` (standardised for regression), NaN = missing.
    mean, std
        Regression target scaling; RMSE is reported in target units (mean over tasks).
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64).reshape(len(logits), -1)
    if task.task_type == "binary":
        aucs = []
        for j in range(labels.shape[1]):
            m = ~np.isnan(labels[:, j])
            if len(np.unique(labels[m, j])) == 2:
                aucs.append(roc_auc_score(labels[m, j], logits[m, j]))
        return {"roc_auc": float(np.mean(aucs)) if aucs else float("nan")}
    if task.task_type == "multiclass":
        m = ~np.isnan(labels[:, 0])
        f1 = f1_score(labels[m, 0].astype(int), logits[m].argmax(1), average="macro") if m.any() \
            else float("nan")
        return {"f1_macro": float(f1)}
    if mean is not None and std is not None:
        logits, labels = logits * std + mean, labels * std + mean
    rmses = [np.sqrt(np.mean((logits[m, j] - labels[m, j]) ** 2))
             for j in range(labels.shape[1]) if (m := ~np.isnan(labels[:, j])).any()]
    return {"rmse": float(np.mean(rmses)) if rmses else float("nan")}


class TransformerPredictor:
    """Fine-tunes a BERT-style encoder (fresh preset or ``model.init`` checkpoint) on one task.

    Parameters
    ----------
    task
        Task type, targets and classes (see :mod:`scifm.tasks`).
    modality
        ``smiles``, ``protein``, ``dna`` or ``text``.
    model_cfg, train_cfg
        :class:`~scifm.config.schema.ModelConfig` and :class:`~scifm.config.schema.TrainConfig`.
    seed
        Seeds model initialisation, data order and dropout.
    work_dir
        Holds ``checkpoints/`` (needed for ``train.resume``); a temporary folder when None.
    peft_cfg
        Parameter-efficient fine-tuning / freezing (:mod:`scifm.training.peft`); None = full
        fine-tuning.
    """

    family = "transformer"

    def __init__(
        self, task: TaskSpec, modality: str, model_cfg: ModelConfig, train_cfg: TrainConfig,
        seed: int = 0, work_dir: Path | None = None, peft_cfg: PeftConfig | None = None,
    ) -> None:
        self.task = task
        self.modality = modality
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.seed = seed
        self.work_dir = Path(work_dir) if work_dir is not None else None
        self.peft_cfg = peft_cfg if peft_cfg is not None else PeftConfig()
        self.n_trainable_parameters_: int = 0
        self.peft_base_: BaseSnapshot | None = None
        self.history_: list[dict[str, Any]] = []
        self.n_parameters_: int = 0
        self.target_mean_: np.ndarray | None = None
        self.target_std_: np.ndarray | None = None
        self.dna_kmer_: int = model_cfg.dna_kmer
        self.max_length_: int = model_cfg.max_length
        self.bf16_: bool = False
        self.resumed_from_: str | None = None
        self.global_step_: int = 0
        self.model_: PreTrainedModel | None = None
        self.tokenizer_: PreTrainedTokenizerBase | None = None

    # ------------------------------------------------------------------ training
    def _labels(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if y.shape[1] != self.task.n_tasks:
            raise ValueError(f"y has {y.shape[1]} columns, the task has {self.task.n_tasks}")
        if self.target_mean_ is not None:
            y = (y - self.target_mean_) / self.target_std_
        return y.astype(np.float32)

    def _fit_scaling(self, y: np.ndarray) -> None:
        y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        if self.task.task_type != "regression":
            self.target_mean_ = self.target_std_ = None
            return
        with np.errstate(all="ignore"):
            mean, std = np.nanmean(y, axis=0), np.nanstd(y, axis=0)
        self.target_mean_ = np.where(np.isfinite(mean), mean, 0.0)
        self.target_std_ = np.where(np.isfinite(std) & (std > 0), std, 1.0)

    def _encode(self, x: Sequence[str]) -> list[list[int]]:
        texts = prepare_inputs(self.modality, x, self.dna_kmer_)
        enc = self.tokenizer_(texts, truncation=True, max_length=self.max_length_,
                              return_token_type_ids=False, return_attention_mask=False)
        return enc["input_ids"]

    def _training_args(
        self, out: Path, has_val: bool, metric: str, greater: bool
    ) -> TrainingArguments:
        tc = self.train_cfg
        return TrainingArguments(
            output_dir=str(out), num_train_epochs=tc.epochs, max_steps=tc.max_steps,
            learning_rate=tc.lr, per_device_train_batch_size=tc.batch_size,
            per_device_eval_batch_size=tc.batch_size, weight_decay=tc.weight_decay,
            eval_strategy="epoch" if has_val else "no", save_strategy="epoch",
            logging_strategy="epoch", load_best_model_at_end=has_val,
            metric_for_best_model=metric if has_val else None,
            greater_is_better=greater if has_val else None, save_total_limit=2,
            seed=self.seed, data_seed=self.seed, report_to="none", disable_tqdm=False,
            label_names=["labels"], include_for_metrics=["loss"] if has_val else [],
            **speed_args(tc, self.bf16_, group_by_length=True),
        )

    def fit(
        self, x_train: Sequence[str], y_train: np.ndarray,
        x_val: Sequence[str] | None = None, y_val: np.ndarray | None = None,
    ) -> TransformerPredictor:
        """Fine-tune on ``x_train``/``y_train``; early-stop on the validation metric if val given.

        ``y_*`` are ``n x n_tasks`` floats, NaN = missing (see :mod:`scifm.tasks`).
        """
        tmp = None
        if self.work_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="scifm-")
        work_dir = Path(tmp.name) if tmp is not None else self.work_dir
        hf_logging.disable_progress_bar()  # no "Writing model shards" bar at every checkpoint
        try:
            self._fit(work_dir / "checkpoints", x_train, y_train, x_val, y_val)
        finally:
            hf_logging.enable_progress_bar()
            if tmp is not None:
                tmp.cleanup()
        return self

    def _fit(
        self, out: Path, x_train: Sequence[str], y_train: np.ndarray,
        x_val: Sequence[str] | None, y_val: np.ndarray | None,
    ) -> None:
        set_seed(self.seed)
        last = get_last_checkpoint(str(out)) if self.train_cfg.resume and out.is_dir() else None
        self.resumed_from_ = last
        if last is None and out.is_dir():
            stale = sorted(out.glob("checkpoint-*"))
            if stale:  # never mix a new run's checkpoints with an old run's (rotation, resume)
                logger.info("removing %d checkpoints of an earlier run in %s", len(stale), out)
                for ckpt in stale:
                    shutil.rmtree(ckpt, ignore_errors=True)
        init = self.model_cfg.init
        init_kmer = checkpoint_dna_kmer(Path(init)) if init else None
        self.dna_kmer_ = init_kmer or self.model_cfg.dna_kmer
        if last is not None:
            logger.info("resuming from %s", last)
            self.tokenizer_ = AutoTokenizer.from_pretrained(last)
        else:
            corpus = prepare_inputs(self.modality, x_train, self.dna_kmer_)
            self.tokenizer_ = build_tokenizer(self.modality, corpus, self.model_cfg)
        self._fit_scaling(y_train)
        weights = (balanced_class_weights(self.task, y_train)
                   if self.model_cfg.class_weight == "balanced" else None)
        model = load_backbone(self.task, self.model_cfg, vocab_size=len(self.tokenizer_),
                              pad_token_id=self.tokenizer_.pad_token_id)
        self.max_length_ = prompt_capped_length(
            model.config, checkpoint_max_length(model.config, self.model_cfg.max_length),
            self.peft_cfg)
        self.tokenizer_.model_max_length = self.max_length_
        if keeps_adapter(self.peft_cfg):  # the saved adapter needs the untouched base
            self.peft_base_ = BaseSnapshot.take(model)
        model = apply_peft(model, self.peft_cfg, self._planned_steps(len(x_train)))
        self.bf16_ = resolve_bf16(self.train_cfg.bf16)

        train_ds = EncodedDataset(self._encode(x_train), self._labels(y_train))
        has_val = x_val is not None and y_val is not None and len(x_val) > 0
        val_ds = EncodedDataset(self._encode(x_val), self._labels(y_val)) if has_val else None
        metric, greater = TASK_METRIC[self.task.task_type]
        probe = np.zeros((len(x_val), self.task.n_outputs)) if has_val else None
        if has_val and not np.isfinite(task_metrics(self.task, probe, val_ds.labels)[metric]):
            logger.warning("%s undefined on the validation set; selecting on val loss", metric)
            metric, greater = "loss", False

        select = "selection" if metric != "loss" else "loss"
        callbacks = [EarlyStoppingCallback(self.train_cfg.patience)] if has_val else []
        callbacks += peft_callbacks(self.peft_cfg)
        trainer = Trainer(
            model=model, args=self._training_args(out, has_val, select, greater),
            data_collator=FloatLabelCollator(self.tokenizer_), train_dataset=train_ds,
            eval_dataset=val_ds, processing_class=self.tokenizer_,
            compute_loss_func=make_compute_loss(self.task, weights),
            compute_metrics=self._metric_fn(metric, greater) if has_val else None,
            callbacks=callbacks,
        )
        trainer.loss_is_scaled_for_ga = False  # our loss is a per-batch mean
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(EpochLogProgress)
        trainer.train(resume_from_checkpoint=last)
        self.n_trainable_parameters_, self.n_parameters_ = parameter_counts(trainer.model)
        self.model_ = finalize(trainer.model, self.peft_cfg).eval()
        self.history_ = trainer_history(trainer.state.log_history)
        self.global_step_ = int(trainer.state.global_step)
        logger.info("trained %d steps; best checkpoint %s", self.global_step_,
                    trainer.state.best_model_checkpoint)

    def _planned_steps(self, n_train: int) -> int:
        """Optimiser steps the run is planned for (``max_steps`` or epochs x batches)."""
        tc = self.train_cfg
        if tc.max_steps > 0:
            return tc.max_steps
        per_epoch = math.ceil(math.ceil(n_train / tc.batch_size) / tc.grad_accum)
        return max(1, per_epoch * math.ceil(tc.epochs))

    def _metric_fn(
        self, metric: str, greater: bool
    ) -> Callable[[EvalPrediction], dict[str, float]]:
        """``compute_metrics`` for the Trainer: the task metric plus ``selection``.

        ``selection`` is the task metric with a tiny val-loss tie-break (1e-4 x loss), so that on
        small validation sets where e.g. ROC-AUC saturates at 1.0 a later, better-calibrated epoch
        still counts as an improvement. It selects the best checkpoint and drives early stopping.
        """
        def compute(pred: EvalPrediction) -> dict[str, float]:
            logits = pred.predictions[0] if isinstance(pred.predictions, tuple) \
                else pred.predictions
            out = task_metrics(self.task, logits, pred.label_ids, self.target_mean_,
                               self.target_std_)
            if metric in out:
                loss = float(np.mean(pred.losses)) if pred.losses is not None else 0.0
                tie = _TIE_BREAK * min(loss, 10.0)
                out["selection"] = out[metric] - tie if greater else out[metric] + tie
            return out
        return compute

    # ---------------------------------------------------------------- inference
    def _check_fitted(self) -> None:
        if self.model_ is None or self.tokenizer_ is None:
            raise RuntimeError("TransformerPredictor is not fitted; call fit() or load() first")

    def _batches(self, x: Sequence[str]) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """Batches of inputs sorted by length: (row indices, padded tensors on the model device)."""
        self._check_fitted()
        ids = self._encode(x)
        order = np.argsort([len(i) for i in ids], kind="stable")
        device = next(self.model_.parameters()).device
        size = max(1, 2 * self.train_cfg.batch_size)
        for start in range(0, len(order), size):
            idx = order[start:start + size]
            batch = self.tokenizer_.pad(
                {"input_ids": [ids[i] for i in idx]}, return_tensors="pt",
                return_attention_mask=True,
            )
            yield idx, {k: v.to(device) for k, v in batch.items()
                        if k in ("input_ids", "attention_mask")}

    def _run(self, x: Sequence[str], fn: Callable[[dict[str, torch.Tensor]], torch.Tensor],
             width: int) -> np.ndarray:
        out = np.zeros((len(x), width), dtype=np.float32)
        if len(x) == 0:
            return out
        self.model_.eval()
        # Inference runs in fp32 even when training used bf16 autocast: bf16 keeps ~3 significant
        # digits, so the nearly equal logits of a weakly trained model tie and a ranking metric
        # (ROC-AUC) collapses to 0.5 (seen on ClinTox).
        with torch.inference_mode():
            for idx, batch in self._batches(x):
                out[idx] = fn(batch).float().cpu().numpy()
        return out

    def predict_logits(self, x: Sequence[str]) -> np.ndarray:
        """Raw outputs, ``n x n_outputs`` (standardised scale for regression)."""
        self._check_fitted()
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
        self._check_fitted()

        def pool(b: dict[str, torch.Tensor]) -> torch.Tensor:
            hidden = self.model_(**b, output_hidden_states=True).hidden_states[-1].float()
            mask = b["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

        return self._run(x, pool, int(self.model_.config.hidden_size))

    # ---------------------------------------------------------------- persistence
    def save(self, path: Path) -> None:
        """Write a Hugging Face folder (safetensors, config, tokenizer) plus ``scifm.json``."""
        self._check_fitted()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        hf_logging.disable_progress_bar()  # no "Writing model shards" bar for one small file
        try:
            if is_adapter(self.model_):
                save_adapter_model(self.model_, path, self.peft_base_)
            else:
                self.model_.save_pretrained(str(path))
        finally:
            hf_logging.enable_progress_bar()
        self.tokenizer_.save_pretrained(str(path))
        scaling = None
        if self.target_mean_ is not None:
            scaling = {"mean": self.target_mean_.tolist(), "std": self.target_std_.tolist()}
        atomic_write_json(path / MODEL_META, {
            "family": self.family, "modality": self.modality, "task": self.task.to_dict(),
            "target_scaling": scaling, "dna_kmer": self.dna_kmer_, "max_length": self.max_length_,
            "model": self.model_cfg.model_dump(mode="json"),
            "train": self.train_cfg.model_dump(mode="json"), "seed": self.seed,
            "n_parameters": self.n_parameters_,
            "n_trainable_parameters": self.n_trainable_parameters_,
            "peft": {**self.peft_cfg.model_dump(mode="json"), "adapter": is_adapter(self.model_)},
        })

    @classmethod
    def load(cls, path: Path) -> TransformerPredictor:
        """Rebuild a fitted predictor from a folder written by :meth:`save`."""
        path = Path(path)
        meta_file = path / MODEL_META
        has_weights = (path / "config.json").is_file() or is_adapter_dir(path)
        if not meta_file.is_file() or not has_weights:
            raise RunDirError(f"{path} is not a saved transformer model (no {MODEL_META} or "
                              "config.json)")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("family") != cls.family:
            raise RunDirError(f"{path} holds a {meta.get('family')!r} model, not a transformer")
        peft_meta = {k: v for k, v in (meta.get("peft") or {}).items() if k != "adapter"}
        obj = cls(
            task=TaskSpec.from_dict(meta["task"]), modality=meta["modality"],
            model_cfg=ModelConfig.model_validate(meta["model"]),
            train_cfg=TrainConfig.model_validate(meta["train"]), seed=int(meta.get("seed", 0)),
            peft_cfg=PeftConfig.model_validate(peft_meta),
        )
        obj.tokenizer_ = AutoTokenizer.from_pretrained(str(path))
        if is_adapter_dir(path):
            obj.model_ = load_adapter_model(path)
            obj.peft_base_ = BaseSnapshot(path / BASE_DIR)
        else:
            obj.model_ = AutoModelForSequenceClassification.from_pretrained(str(path))
        obj.model_.to(accelerator()).eval()
        scaling = meta.get("target_scaling")
        if scaling:
            obj.target_mean_ = np.asarray(scaling["mean"], dtype=np.float64)
            obj.target_std_ = np.asarray(scaling["std"], dtype=np.float64)
        obj.dna_kmer_ = int(meta.get("dna_kmer") or 1)
        obj.max_length_ = int(meta.get("max_length") or obj.model_cfg.max_length)
        obj.tokenizer_.model_max_length = obj.max_length_
        obj.bf16_ = obj.train_cfg.bf16 != "off" and bf16_supported()
        obj.n_parameters_ = int(meta.get("n_parameters") or obj.model_.num_parameters())
        obj.n_trainable_parameters_ = int(meta.get("n_trainable_parameters") or 0)
        return obj
