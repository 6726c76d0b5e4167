"""Training a given model further: a pruned model's recovery fine-tune, a student on a teacher's
soft targets.

Both go through the fine-tuning components (:func:`~scifm.training.args.training_arguments`,
:func:`~scifm.training.finetune.make_trainer`, :func:`~scifm.training.finetune.train`): the
``transformers.Trainer`` owns the loop; what differs is the model handed in (already built, not
from a preset or checkpoint) and the loss. The teacher's head (task, input preparation, target
scaling) and tokenizer are reused, so the result saves as a normal ``transformer`` model folder.

Soft targets travel in the labels: each training row's label vector is ``[y (n_tasks, NaN =
missing), teacher raw outputs (n_outputs)]``, so the standard collator and dataset carry them and
:func:`distillation_loss` splits them again. Validation rows carry ``y`` only (early stopping on
the task's metric).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import set_seed
from transformers.trainer_utils import SaveStrategy

from scifm.config.schema import ModelConfig, PeftConfig, TrainConfig
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec
from scifm.training.args import training_arguments
from scifm.training.data import EncodedDataset, encode_texts
from scifm.training.device import resolve_bf16
from scifm.training.finetune import FineTuned, hub_progress_off, make_trainer, train
from scifm.training.heads import SequenceHead
from scifm.training.losses import LossFunc
from scifm.training.peft import is_adapter

logger = logging.getLogger(__name__)

__all__ = ["ALPHA", "TEMPERATURE", "StudentFit", "distillation_loss", "plain_model",
           "teacher_head", "teacher_model_config", "teacher_size", "teacher_train_config"]

ALPHA = 0.5
"""Weight of the soft-target term; ``1 - ALPHA`` weighs the labels."""
TEMPERATURE = 2.0
"""Softening temperature of classification soft targets (the term is scaled by ``T**2``)."""


def plain_model(teacher: TransformerPredictor) -> nn.Module:
    """A trainable fp32 copy of the teacher's model, a PEFT adapter merged into its weights
    (``merge_and_unload``), every weight trainable: the teacher itself is left untouched."""
    model = copy.deepcopy(teacher.model_)
    if is_adapter(model):
        model = model.merge_and_unload()
    return model.float().requires_grad_(True).train()  # PEFT / freezing left weights frozen


def teacher_size(teacher: TransformerPredictor) -> int:
    """Parameters of the teacher's model (an adapter's base included)."""
    return int(teacher.n_parameters_ or teacher.model_.num_parameters())


def teacher_head(teacher: TransformerPredictor) -> SequenceHead:
    """The teacher's head: its task, input preparation and target scaling (not refitted)."""
    return SequenceHead(teacher.task, teacher.modality, teacher.dna_kmer_,
                        teacher.target_mean_, teacher.target_std_)


def teacher_model_config(teacher: TransformerPredictor) -> ModelConfig:
    """The teacher's ``model`` settings (``scifm.json``): its class weighting, dropout..."""
    saved = dict(teacher.settings.get("model") or {})
    return ModelConfig.model_validate({k: v for k, v in saved.items() if k != "init"})


def teacher_train_config(teacher: TransformerPredictor, **changes: Any) -> TrainConfig:
    """The teacher's ``train`` settings (``scifm.json``) with ``changes``; never resumed."""
    saved = dict(teacher.settings.get("train") or {})
    return TrainConfig.model_validate({**saved, "resume": False, **changes})


def _soft_term(task: TaskSpec, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Soft-target loss: KL on temperature-softened outputs (binary: per-task Bernoulli, i.e. BCE
    against ``sigmoid(t / T)``, KL up to a constant), scaled by ``T**2``; regression: MSE to the
    teacher's standardised outputs."""
    t = TEMPERATURE
    if task.task_type == "binary":
        return F.binary_cross_entropy_with_logits(student / t, torch.sigmoid(teacher / t)) * t * t
    if task.task_type == "multiclass":
        return F.kl_div(F.log_softmax(student / t, -1), F.log_softmax(teacher / t, -1),
                        log_target=True, reduction="batchmean") * t * t
    return F.mse_loss(student, teacher)


def distillation_loss(task: TaskSpec, hard: LossFunc, alpha: float = ALPHA) -> LossFunc:
    """``compute_loss_func``: ``alpha x`` soft-target term + ``(1 - alpha) x`` the task's
    NaN-masked label loss ``hard``.

    Labels of ``n_tasks`` columns (validation rows) get the label loss alone; wider ones are
    ``[y, teacher outputs]`` (see the module docstring). Rows without labels (an unlabelled
    corpus) count in the soft term only.
    """
    n_tasks = task.n_tasks

    def compute_loss(outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None,
                     **_: Any) -> torch.Tensor:
        logits = outputs["logits"].float()
        labels = labels.to(logits.device, torch.float32)
        if labels.shape[1] == n_tasks:
            return hard(outputs, labels)
        soft = _soft_term(task, logits, labels[:, n_tasks:])
        return alpha * soft + (1 - alpha) * hard(outputs, labels[:, :n_tasks])

    return compute_loss


@dataclass
class StudentFit:
    """Train a ready-made model on the teacher's rows (see the module docstring).

    Parameters
    ----------
    teacher
        Supplies the head (task, input preparation, scaling), tokenizer and maximum length.
    train_cfg
        Trainer settings (``max_steps`` for a recovery fine-tune, ``epochs`` otherwise).
    seed
        Seeds the Trainer (data order, dropout).
    out
        Checkpoint folder.
    """

    teacher: TransformerPredictor
    train_cfg: TrainConfig
    seed: int
    out: Path

    def fit(self, model: nn.Module, x: Sequence[Any], labels: np.ndarray, *,
            loss: LossFunc | None = None, x_val: Sequence[Any] | None = None,
            y_val: np.ndarray | None = None) -> FineTuned:
        """Train ``model`` on inputs ``x`` with float ``labels`` (``n x width``, already in the
        head's scale), stopping early on ``x_val`` / ``y_val`` when given; ``loss`` defaults to
        the teacher's task loss."""
        head, tok, tc = teacher_head(self.teacher), self.teacher.tokenizer_, self.train_cfg
        max_length = int(self.teacher.max_length_)
        with hub_progress_off():
            set_seed(self.seed)
            select = head.selection(y_val) if x_val is not None and len(x_val) else None
            args = training_arguments(self.out, tc, self.seed, resolve_bf16(tc.bf16),
                                      select=select)
            if select is None:
                args.save_strategy = SaveStrategy.NO  # nothing to pick between: keep the last
            train_ds = EncodedDataset(encode_texts(tok, head.corpus(x), max_length), labels)
            val_ds = head.dataset(tok, x_val, y_val, max_length) if select else None
            hard_y = np.asarray(labels)[:, :head.task.n_tasks]
            loss = loss or head.loss(teacher_model_config(self.teacher), hard_y)
            trainer = make_trainer(model, args, tok, head, train_ds, val_ds, train_cfg=tc,
                                   peft_cfg=PeftConfig(), loss=loss)
            return train(trainer, None, PeftConfig())

    def predictor(self, done: FineTuned) -> TransformerPredictor:
        """The trained model behind the teacher's adapter settings (``scifm.json``)."""
        settings = {**self.teacher.settings, "train": self.train_cfg.model_dump(mode="json"),
                    "peft": PeftConfig().model_dump(mode="json")}
        fitted = done.predictor(teacher_head(self.teacher), settings)
        fitted.n_parameters_ = int(done.model.num_parameters())
        return fitted
