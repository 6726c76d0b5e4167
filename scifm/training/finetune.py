"""The fine-tuning steps: tokenizer -> backbone -> PEFT -> Trainer -> best model.

``transformers.Trainer`` owns the loop (and the processes under ``torchrun``); each step here is a
small function, the same for every task, and the task-specific parts (labels, head, loss,
validation metric) come from a head (:mod:`scifm.training.heads`). :func:`fine_tune` runs them in
order; ``scifm finetune`` (:mod:`scifm.recipes.finetune`) calls it between its data and
evaluation steps, and :class:`FineTuner` calls it behind the
:class:`~scifm.models.base.Predictor` protocol, so that ``scifm train --model transformer`` and
the family registry (:func:`build_transformer`) fine-tune in exactly the same way. The result is
a :class:`~scifm.models.transformer.TransformerPredictor` (sequence tasks) or a
:class:`~scifm.models.token.TokenPredictor` (token tasks).

Checkpoints go to ``WORK_DIR/checkpoints``: with ``train.resume`` the run continues from the last
one, otherwise an earlier run's checkpoints there are removed first. In a recipe ``WORK_DIR`` is the
run's staging folder ``OUT.partial`` (or ``OUT.partial/families/<family>``; :mod:`scifm.staging`),
which a failed or interrupted run leaves in place with its checkpoints for ``--resume``.
"""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset
from transformers import (
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    ProgressCallback,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from scifm.config.privacy import DPConfig
from scifm.config.schema import ExperimentConfig, ModelConfig, PeftConfig, TrainConfig
from scifm.evaluation.token_metrics import TokenKind
from scifm.models.backbones import HeadKind, checkpoint_max_length
from scifm.models.token import TokenPredictor
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec
from scifm.training.args import trainer_history, training_arguments
from scifm.training.callbacks import EpochLogProgress
from scifm.training.device import resolve_bf16
from scifm.training.distributed import is_main_process
from scifm.training.heads import SequenceHead, TokenHead
from scifm.training.peft import (
    BaseSnapshot,
    apply_peft,
    finalize,
    keeps_adapter,
    parameter_counts,
    peft_callbacks,
    prompt_capped_length,
)
from scifm.training.tokenizer import run_dna_kmer, training_tokenizer
from scifm.training.trainer_deadline import TrainerDeadline
from scifm.utils.deadline import seconds_left

logger = logging.getLogger(__name__)

Head = SequenceHead | TokenHead
Predictor = TransformerPredictor | TokenPredictor

__all__ = ["FineTuned", "FineTuner", "build_transformer", "fine_tune", "fit_max_length",
           "hub_progress_off", "make_trainer", "peft_model", "planned_steps", "resume_point",
           "run_settings", "train"]


@contextmanager
def hub_progress_off() -> Iterator[None]:
    """No Hugging Face progress bars ("Loading weights", "Writing model shards" at every
    checkpoint) while fine-tuning; the Trainer's own progress bar stays."""
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.enable_progress_bar()


def resume_point(out: Path, resume: bool) -> str | None:
    """The checkpoint in ``out`` to continue from (``train.resume``), else None.

    A run that does not resume never mixes its checkpoints with an earlier run's (rotation,
    resume): the main process removes the ``checkpoint-*`` folders found in ``out``.
    """
    last = get_last_checkpoint(str(out)) if resume and out.is_dir() else None
    if last is None and out.is_dir() and is_main_process():
        stale = sorted(out.glob("checkpoint-*"))
        if stale:
            logger.info("removing %d checkpoints of an earlier run in %s", len(stale), out)
            for ckpt in stale:
                shutil.rmtree(ckpt, ignore_errors=True)
    return last


def planned_steps(tc: TrainConfig, n_train: int) -> int:
    """Optimiser steps the run is planned for (``max_steps`` or epochs x batches)."""
    if tc.max_steps > 0:
        return tc.max_steps
    per_epoch = math.ceil(math.ceil(n_train / tc.batch_size) / tc.grad_accum)
    return max(1, per_epoch * math.ceil(tc.epochs))


def fit_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase,
                   model_cfg: ModelConfig, peft_cfg: PeftConfig) -> int:
    """Tokens per input: ``model.max_length`` capped by the position table (less the prompt
    tokens of prompt tuning); also set as the tokenizer's ``model_max_length``."""
    max_length = prompt_capped_length(
        model.config, checkpoint_max_length(model.config, model_cfg.max_length), peft_cfg)
    tokenizer.model_max_length = max_length
    return max_length


def peft_model(model: PreTrainedModel, peft_cfg: PeftConfig, total_steps: int,
               head: HeadKind) -> tuple[nn.Module, BaseSnapshot | None]:
    """Apply ``peft`` (adapter or freezing); returns the model to train and, when an adapter will
    be saved, a snapshot of the untouched base model (saved beside the adapter)."""
    base = BaseSnapshot.take(model) if keeps_adapter(peft_cfg) else None
    return apply_peft(model, peft_cfg, total_steps, head), base


def make_trainer(
    model: nn.Module, args: TrainingArguments, tokenizer: PreTrainedTokenizerBase, head: Head,
    train_ds: Dataset, val_ds: Dataset | None, *, train_cfg: TrainConfig, peft_cfg: PeftConfig,
    loss: Any = None, dp: DPConfig | None = None,
) -> Trainer:
    """The :class:`~transformers.Trainer`: the head's collator, loss and validation metric, early
    stopping (``train.patience``) when there is validation data, the PEFT method's callbacks and
    one readable log line per epoch, the run fitted to a time budget when one is set
    (:class:`~scifm.training.trainer_deadline.TrainerDeadline`); with ``dp.epsilon`` set, the
    differentially private :class:`~scifm.privacy.dp_trainer.DPTrainer` (Opacus DP-SGD inside
    the same loop)."""
    callbacks: list[Any] = [EarlyStoppingCallback(train_cfg.patience)] if val_ds is not None else []
    if seconds_left() is not None:  # inside a time budget (scifm auto): fit the run to it
        callbacks.append(TrainerDeadline(
            0 if val_ds is None else math.ceil(len(val_ds) / train_cfg.batch_size)))
    trainer_cls: Any = Trainer
    if dp is not None and dp.epsilon is not None:
        from scifm.privacy.dp import DPSettings
        from scifm.privacy.dp_trainer import DPTrainer

        trainer_cls = partial(DPTrainer, dp=DPSettings(dp.epsilon, dp.delta, dp.max_grad_norm))
    trainer = trainer_cls(
        model=model, args=args, data_collator=head.collator(tokenizer), train_dataset=train_ds,
        eval_dataset=val_ds, processing_class=tokenizer, compute_loss_func=loss,
        compute_metrics=head.metrics() if val_ds is not None else None,
        preprocess_logits_for_metrics=head.preprocess_logits,
        callbacks=callbacks + peft_callbacks(peft_cfg),
    )
    if loss is not None:
        trainer.loss_is_scaled_for_ga = False  # our losses are per-batch means
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(EpochLogProgress)
    return trainer


@dataclass
class FineTuned:
    """The best model of a fine-tuning run and what the run did."""

    model: nn.Module
    """Best (or last) model, PEFT adapter merged when ``peft.merge``; eval mode."""
    tokenizer: PreTrainedTokenizerBase
    """Its tokenizer (``model_max_length`` = tokens per input)."""
    base: BaseSnapshot | None
    """The untouched base model of a PEFT adapter (saved beside it)."""
    n_parameters: int
    n_trainable_parameters: int
    history: list[dict[str, Any]] = field(default_factory=list)
    """One row per epoch: ``epoch``, ``train_loss``, ``val_loss``, ``val_<metric>``."""
    global_step: int = 0
    world_size: int = 1
    """Training processes."""
    bf16: bool = False
    """Trained under bf16 autocast."""
    resumed_from: str | None = None
    """The checkpoint the run continued from (``train.resume``), else None."""
    privacy: dict[str, Any] | None = None
    """The privacy accountant's record of a differentially private run (``privacy.dp``)."""

    def predictor(self, head: Head, settings: dict[str, Any]) -> Predictor:
        """The fitted model behind its adapter (:class:`TransformerPredictor` or
        :class:`~scifm.models.token.TokenPredictor`), ``settings`` recorded in ``scifm.json``."""
        fitted = head.predictor(
            self.model, self.tokenizer, int(self.tokenizer.model_max_length), settings=settings,
            peft_base=self.base, n_parameters=self.n_parameters,
            n_trainable_parameters=self.n_trainable_parameters, bf16=self.bf16)
        fitted.history_ = self.history
        fitted.privacy_ = self.privacy  # metrics.json "privacy" (scifm.models.fitting)
        return fitted


def train(trainer: Trainer, resume_from: str | None, peft_cfg: PeftConfig,
          base: BaseSnapshot | None = None) -> FineTuned:
    """Run the Trainer (from ``resume_from`` when given) and return the best model."""
    trainer.train(resume_from_checkpoint=resume_from)
    n_trainable, n_total = parameter_counts(trainer.model)
    done = FineTuned(finalize(trainer.model, peft_cfg).eval(), trainer.processing_class, base,
                     n_total, n_trainable, trainer_history(trainer.state.log_history),
                     int(trainer.state.global_step), int(trainer.args.world_size),
                     bool(trainer.args.bf16), privacy=getattr(trainer, "privacy_", None))
    logger.info("trained %d steps on %d process(es); best checkpoint %s", done.global_step,
                done.world_size, trainer.state.best_model_checkpoint)
    return done


def run_settings(model_cfg: ModelConfig, train_cfg: TrainConfig, peft_cfg: PeftConfig,
                 seed: int) -> dict[str, Any]:
    """The settings a fitted model records in ``scifm.json``."""
    return {"model": model_cfg.model_dump(mode="json"), "train": train_cfg.model_dump(mode="json"),
            "peft": peft_cfg.model_dump(mode="json"), "seed": seed}


def fine_tune(head: Head, modality: str, x_train: Sequence[Any], y_train: Any,
              x_val: Sequence[Any] | None, y_val: Any, *, model_cfg: ModelConfig,
              train_cfg: TrainConfig, peft_cfg: PeftConfig, seed: int, out: Path,
              dp: DPConfig | None = None) -> FineTuned:
    """The fine-tuning steps, the same for every head and every caller: tokenizer -> backbone ->
    PEFT -> Trainer -> best model.

    Parameters
    ----------
    head
        What differs per kind of task: labels, output layer, loss, validation metric.
    modality
        Input modality (tokenizer and input preparation).
    x_train, y_train, x_val, y_val
        Training and validation rows (``x_val`` / ``y_val`` None: no validation, no early
        stopping, the last epoch is kept).
    model_cfg, train_cfg, peft_cfg, seed
        Backbone, Trainer and PEFT settings; the seed of initialisation, data order and dropout.
    out
        Checkpoint folder (``train.resume`` continues from its last checkpoint).
    dp
        ``privacy.dp``: with ``epsilon`` set, DP-SGD (Opacus) with its accountant.
    """
    mc, tc, pc = model_cfg, train_cfg, peft_cfg
    with hub_progress_off():
        set_seed(seed)
        last = resume_point(out, tc.resume)
        select = head.selection(y_val)
        args = training_arguments(out, tc, seed, resolve_bf16(tc.bf16), select=select)
        # 3. Tokenizer: the resumed run's, the checkpoint's, or trained on the training inputs.
        tokenizer = training_tokenizer(modality, head.corpus(x_train), mc, args, last)
        # 4. Backbone: a fresh preset or model.init, with this task's head.
        model = head.backbone().load(mc, len(tokenizer), tokenizer.pad_token_id)
        max_length = fit_max_length(model, tokenizer, mc, pc)
        # 5. PEFT: an adapter (LoRA, ...), frozen layers, or full fine-tuning.
        model, base = peft_model(model, pc, planned_steps(tc, len(x_train)), head.kind)
        # 6. Trainer owns the loop (and the processes, when launched distributed).
        val_ds = head.dataset(tokenizer, x_val, y_val, max_length) if select else None
        trainer = make_trainer(model, args, tokenizer, head,
                               head.dataset(tokenizer, x_train, y_train, max_length), val_ds,
                               train_cfg=tc, peft_cfg=pc, loss=head.loss(mc, y_train), dp=dp)
        # 7. The best epoch on validation (PEFT adapter merged when peft.merge).
        done = train(trainer, last, pc, base)
    done.resumed_from = last
    return done


class FineTuner:
    """Fine-tunes an encoder behind the :class:`~scifm.models.base.Predictor` protocol.

    ``fit`` runs the fine-tuning steps of this module and keeps the result in
    :attr:`predictor_`; ``predict`` / ``save`` / ``embed`` go to it. With a :class:`TaskSpec` this
    is the ``transformer`` family (``scifm train --model transformer``, :func:`build_transformer`);
    with a token kind (``ner`` / ``residue``) it labels every word / residue (inputs are lists of
    words, ``y`` lists of tags; ``family`` ``token``).

    Parameters
    ----------
    task
        What is predicted: a :class:`TaskSpec` (one prediction per input) or a token kind.
    modality
        Input modality.
    model_cfg, train_cfg, peft_cfg
        Backbone, Trainer and parameter-efficient fine-tuning settings.
    seed
        Seeds model initialisation, data order and dropout.
    work_dir
        Holds ``checkpoints/`` (needed for ``train.resume``; a recipe passes its staging folder
        ``OUT.partial``); a temporary folder when None.
    """

    def __init__(self, task: TaskSpec | TokenKind, modality: str, model_cfg: ModelConfig,
                 train_cfg: TrainConfig, seed: int = 0, work_dir: Path | None = None,
                 peft_cfg: PeftConfig | None = None, dp: DPConfig | None = None) -> None:
        self.task = task
        self.modality = modality
        self.model_cfg = model_cfg
        self.train_cfg = train_cfg
        self.seed = seed
        self.work_dir = work_dir
        self.peft_cfg = peft_cfg if peft_cfg is not None else PeftConfig()
        self.dp = dp
        self.privacy_: dict[str, Any] | None = None
        self.predictor_: Any = None
        self.history_: list[dict[str, Any]] = []
        self.n_parameters_ = 0
        self.n_trainable_parameters_ = 0
        self.global_step_ = 0
        self.resumed_from_: str | None = None

    @property
    def family(self) -> str:
        """``transformer``, or ``token`` for a token kind."""
        return "token" if isinstance(self.task, str) else "transformer"

    def fit(self, x_train: Sequence[Any], y_train: Any, x_val: Sequence[Any] | None = None,
            y_val: Any = None) -> FineTuner:
        """Fine-tune on the training rows; keep the best epoch on validation and stop early.

        ``y_*`` are ``n x n_tasks`` floats, NaN = missing (see :mod:`scifm.tasks`), or lists of
        tags (``None`` = not scored) for a token kind.
        """
        tmp = tempfile.TemporaryDirectory(prefix="scifm-") if self.work_dir is None else None
        out = Path(tmp.name if tmp is not None else self.work_dir) / "checkpoints"
        if x_val is None or y_val is None or len(x_val) == 0:
            x_val, y_val = None, None
        try:
            head = self._head(y_train, y_val)
            done = fine_tune(head, self.modality, x_train, y_train, x_val, y_val,
                             model_cfg=self.model_cfg, train_cfg=self.train_cfg,
                             peft_cfg=self.peft_cfg, seed=self.seed, out=out, dp=self.dp)
        finally:
            if tmp is not None:
                tmp.cleanup()
        self.predictor_ = done.predictor(head, run_settings(self.model_cfg, self.train_cfg,
                                                            self.peft_cfg, self.seed))
        self.privacy_ = done.privacy
        self.history_, self.resumed_from_ = done.history, done.resumed_from
        self.n_parameters_ = done.n_parameters
        self.n_trainable_parameters_ = done.n_trainable_parameters
        self.global_step_ = done.global_step
        return self

    def _head(self, y_train: Any, y_val: Any) -> Head:
        if isinstance(self.task, str):
            return TokenHead.fit(self.task, self.modality, y_train, y_val)  # type: ignore[arg-type]
        return SequenceHead.fit(self.task, self.modality, run_dna_kmer(self.model_cfg), y_train)

    def _fitted(self) -> Any:
        if self.predictor_ is None:
            raise RuntimeError(f"the {self.family} model is not fitted; call fit() first")
        return self.predictor_

    def predict(self, x: Sequence[Any]) -> Any:
        """Predictions: ``n x n_outputs`` (see :meth:`TransformerPredictor.predict`), or one list
        of tags per input (token kinds)."""
        return self._fitted().predict(x)

    def predict_logits(self, x: Sequence[Any]) -> np.ndarray:
        """Raw outputs, ``n x n_outputs`` (standardised scale for regression)."""
        return self._fitted().predict_logits(x)

    def embed(self, x: Sequence[Any]) -> np.ndarray:
        """Mean-pooled last hidden states, ``n x hidden_size``."""
        return self._fitted().embed(x)

    def save(self, path: Path) -> None:
        """Write the fitted model folder (Hugging Face files + ``scifm.json``)."""
        self._fitted().save(path)


def build_transformer(task: TaskSpec, modality: str, cfg: ExperimentConfig,
                      work_dir: Path) -> FineTuner:
    """The ``transformer`` family's builder: an unfitted :class:`FineTuner` for ``task``.

    Reads ``cfg.model``, ``cfg.train``, ``cfg.peft``, ``cfg.privacy.dp`` and ``cfg.seed``, with
    ``params.transformer`` (what ``scifm auto`` searches) applied over them when given.
    """
    model_cfg, train_cfg, peft_cfg = cfg.model, cfg.train, cfg.peft
    if "transformer" in cfg.params:
        train_cfg, peft_cfg, model_cfg = cfg.params["transformer"].sections(
            train_cfg, peft_cfg, model_cfg)
    return FineTuner(task, modality, model_cfg, train_cfg, seed=cfg.seed, work_dir=work_dir,
                     peft_cfg=peft_cfg, dp=cfg.privacy.dp)
