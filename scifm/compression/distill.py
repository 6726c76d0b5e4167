"""Distilled variants of a transformer run: a smaller student trained on the teacher's soft
targets.

The student (``job.options.student``):

* ``small``: the teacher with every other encoder layer (layers 0, 2, 4, ... initialised from
  the teacher's, as DistilBERT did), same embeddings, tokenizer and task head;
* ``tiny`` / ``base``: a fresh encoder of that ``model.size`` preset
  (:data:`scifm.models.backbones.SIZE_PRESETS`) on the teacher's config (vocabulary, positions,
  tokenizer), randomly initialised from the seed.

With ``small``, a ``distilled-tiny`` student is trained as well when it has under half the
teacher's parameters (cheap next to the teacher). The soft targets are the teacher's raw
outputs on the training rows plus, when ``job.options.corpus`` is given, on an unlabelled corpus
(validated like the run's inputs; invalid lines are counted and logged). The loss
(:func:`scifm.training.distillation.distillation_loss`) mixes KL on temperature-softened outputs
(MSE to the standardised outputs for regression) with the label loss; the Trainer stops early
on the validation rows and keeps the best epoch. A PEFT teacher is merged first.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from transformers import set_seed

from scifm.compression.base import CompressJob, Variant
from scifm.compression.prune_structure import drop_layers, encoder_layers
from scifm.compression.pruning import transformer_teacher
from scifm.config.schema import DataConfig, TrainConfig
from scifm.data.io import read_table, require_columns
from scifm.data.validate import validate_inputs
from scifm.errors import ConfigError, DataError
from scifm.models.backbones import SIZE_PRESETS
from scifm.models.transformer import TransformerPredictor
from scifm.training.distillation import (
    StudentFit,
    distillation_loss,
    plain_model,
    teacher_head,
    teacher_model_config,
    teacher_size,
    teacher_train_config,
)

logger = logging.getLogger(__name__)

__all__ = ["build_student", "corpus_inputs", "make_distilled_variants", "soft_targets"]

FRESH_LR = TrainConfig().lr
"""Least learning rate of a freshly initialised student (scifm's default ``train.lr``)."""
LINE_SUFFIXES = (".txt", ".smi", ".smiles", ".lst")
"""Corpus files read as one input per line (else a table with the run's input column)."""


def build_student(teacher: TransformerPredictor, size: str, seed: int) -> nn.Module | None:
    """The untrained student of ``size`` (see the module docstring); None when it would not be
    smaller than the teacher."""
    model = plain_model(teacher)
    n_teacher = int(model.num_parameters())
    if size == "small":
        n_layers = len(encoder_layers(model))
        keep = list(range(0, n_layers, 2))
        if len(keep) == n_layers:
            return None
        drop_layers(model, keep)
        return model
    fields = {**model.config.to_dict(), **SIZE_PRESETS[size]}
    fields.pop("pruned_heads", None)
    config = model.config.__class__.from_dict(fields)
    set_seed(seed)
    student = type(model)(config)
    return student if student.num_parameters() < n_teacher else None


def corpus_inputs(path: Path, meta: dict[str, Any]) -> tuple[list[str], int]:
    """The valid canonical inputs of an unlabelled corpus and how many lines were rejected.

    ``path`` holds one input per line (``.txt``, ``.smi``, ...) or is a table (CSV, Parquet,
    ...) with the run's input column; inputs are validated as the run's were.

    Raises
    ------
    DataError
        Unreadable file, no input column, or no valid input at all.
    """
    path = Path(path)
    data = dict(meta.get("data") or {})
    cfg = DataConfig.model_validate({k: v for k, v in data.items() if k != "path"}
                                    | {"modality": meta["modality"]})
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    if name.endswith(LINE_SUFFIXES):
        import gzip

        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as fh:
            raw: list[Any] = [line.strip() for line in fh if line.strip()]
    else:
        df = read_table(path)
        col = cfg.input_col if isinstance(cfg.input_col, str) else cfg.input_col[0]
        col = col or meta["modality"]
        require_columns(df, [col], path)
        raw = df[col].tolist()
    canonical, reasons = validate_inputs(raw, meta["modality"], cfg)
    good = [c for c in canonical if c is not None]
    rejected = len(raw) - len(good)
    if rejected:
        logger.warning("distillation corpus %s: %d of %d inputs are invalid and not used "
                       "(first reason: %s)", path.name, rejected, len(raw),
                       next(r for r in reasons if r is not None))
    if not good:
        raise DataError(f"distillation corpus {path}: no valid {meta['modality']} input")
    return good, rejected


def soft_targets(job: CompressJob, teacher: TransformerPredictor) -> tuple[list[Any], np.ndarray,
                                                                         dict[str, int]]:
    """Inputs (train rows, then corpus), their ``[y, teacher outputs]`` labels and counts."""
    train = job.rows["train"]
    corpus, rejected = corpus_inputs(job.options.corpus, job.meta) if job.options.corpus \
        else ([], 0)
    x = list(train.inputs) + corpus
    y = np.vstack([teacher_head(teacher).labels(train.y),
                   np.full((len(corpus), teacher.task.n_tasks), np.nan, dtype=np.float32)])
    labels = np.hstack([y, teacher.predict_logits(x)]).astype(np.float32)
    return x, labels, {"n_train_rows": len(train), "n_corpus_rows": len(corpus),
                       "n_corpus_rejected": rejected}


def _student_config(teacher: TransformerPredictor, size: str, job: CompressJob) -> TrainConfig:
    """The teacher's Trainer settings for ``distill_epochs``; a fresh (randomly initialised)
    student learns at no less than scifm's default rate (a fine-tune's rate is too low)."""
    tc = teacher_train_config(teacher, epochs=job.options.distill_epochs, max_steps=-1)
    if size != "small" and tc.lr < FRESH_LR:
        tc = tc.model_copy(update={"lr": FRESH_LR})
    return tc


def _validation(job: CompressJob) -> dict[str, Any]:
    val = job.rows.get("val")
    if val is None or not len(val):
        return {}
    return {"x_val": val.inputs, "y_val": val.y}


def _sizes(job: CompressJob) -> list[str]:
    size = job.options.student
    if size not in SIZE_PRESETS:
        raise ConfigError(f"student size {size!r} is not one of {', '.join(SIZE_PRESETS)}")
    return [size, "tiny"] if size == "small" else [size]


def make_distilled_variants(job: CompressJob) -> list[Variant]:
    """``distilled-<student>`` (and ``distilled-tiny`` when cheap; see the module docstring).

    Raises
    ------
    ConfigError
        Not a transformer run, an unknown student size, or a student no smaller than the
        teacher.
    """
    teacher = transformer_teacher(job)
    x, labels, counts = soft_targets(job, teacher)
    loss = distillation_loss(teacher.task, teacher_head(teacher).loss(
        teacher_model_config(teacher), labels[:, :teacher.task.n_tasks]))
    n_teacher, out, made = teacher_size(teacher), job.work / "checkpoints-distill", []
    try:
        for size in _sizes(job):
            student = build_student(teacher, size, job.options.seed)
            if student is None or (size != job.options.student
                                   and 2 * student.num_parameters() >= n_teacher):
                logger.info("distillation: no %s student (not smaller than the teacher)", size)
                continue
            fit = StudentFit(teacher, _student_config(teacher, size, job), job.options.seed, out)
            done = fit.fit(student, x, labels, loss=loss, **_validation(job))
            folder = job.work / f"distilled-{size}"
            fit.predictor(done).save(folder)
            made.append(Variant(
                f"distilled-{size}", folder,
                f"{size} student ({done.model.config.num_hidden_layers} layers, hidden "
                f"{done.model.config.hidden_size}) on the teacher's soft targets",
                {**counts, "student": size, "n_parameters": int(done.model.num_parameters()),
                 "teacher_n_parameters": n_teacher, "steps": done.global_step,
                 "history": done.history}))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    if not made:
        raise ConfigError(f"distillation: a {job.options.student} student would not be smaller "
                          "than the teacher")
    return made
