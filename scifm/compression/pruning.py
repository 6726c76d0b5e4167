"""Pruned variants of a transformer run: structured (attention heads + FFN neurons) and magnitude.

* ``pruned-structured-50``: in every layer the half of the attention heads and the half of the
  FFN neurons with the lowest L1 norm of their output-projection weights are cut out of the
  weight matrices (:mod:`scifm.compression.prune_structure`: data-free importance, the L1
  criterion, not Michel et al.'s gradient-based head importance). The model really shrinks, so
  it is faster on CPU. ``transformers`` 5 has no ``prune_heads`` any more: the cut heads are
  recorded in ``config.pruned_heads`` and :mod:`scifm.models.safeload` cuts them again on load;
  the FFN width is plain ``config.intermediate_size``.
* ``pruned-magnitude-50``: :func:`torch.nn.utils.prune.global_unstructured` (L1) zeroes half of
  the base model's ``Linear`` weights (encoder and pooler; the task head is kept dense); the
  mask stays on through the recovery fine-tune and is made permanent afterwards
  (:func:`torch.nn.utils.prune.remove`). The weights are still stored densely, so this variant
  is neither smaller nor faster by itself.

Each pruned model then gets a short recovery fine-tune on the run's training rows
(``job.options.recovery_steps`` optimiser steps, :class:`~scifm.training.distillation.StudentFit`:
the scifm ``transformers.Trainer`` set-up, the teacher's settings, no early stopping). A PEFT
adapter is merged into its base model first, so every variant is a plain ``transformer`` folder.
"""

from __future__ import annotations

import logging
import shutil
from typing import Any

from torch import nn
from torch.nn.utils import prune

from scifm.compression.base import CompressJob, Variant
from scifm.compression.prune_structure import (
    encoder_layers,
    head_importance,
    lowest,
    present_heads,
    prune_ffn,
    prune_heads,
)
from scifm.errors import ConfigError
from scifm.models.transformer import TransformerPredictor
from scifm.training.distillation import (
    StudentFit,
    plain_model,
    teacher_head,
    teacher_size,
    teacher_train_config,
)
from scifm.training.finetune import FineTuned

logger = logging.getLogger(__name__)

__all__ = ["MAGNITUDE_AMOUNT", "STRUCTURED_FRACTION", "make_pruned_variants", "sparsity"]

STRUCTURED_FRACTION = 0.5
"""Share of attention heads and of FFN neurons cut from every layer."""
MAGNITUDE_AMOUNT = 0.5
"""Share of the encoder's Linear weights zeroed (globally, smallest |w| first)."""


def transformer_teacher(job: CompressJob) -> TransformerPredictor:
    """The run's model, which must be a sequence-level transformer.

    Raises
    ------
    ConfigError
        The run's model is not a ``transformer`` family model.
    """
    if not isinstance(job.teacher, TransformerPredictor):
        raise ConfigError(f"pruning and distillation need a transformer run; this model is a "
                          f"{job.meta.get('family')!r} model")
    return job.teacher


def sparsity(model: nn.Module) -> float:
    """Share of exact zeros in the weights of the encoder's ``Linear`` layers."""
    weights = [m.weight for m in model.base_model.modules() if isinstance(m, nn.Linear)]
    return float(sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights))


def _recover(fit: StudentFit, model: nn.Module, job: CompressJob) -> FineTuned:
    """The recovery fine-tune (skipped with ``recovery_steps`` 0)."""
    train = job.rows["train"]
    if job.options.recovery_steps <= 0:
        n = int(model.num_parameters())
        return FineTuned(model.eval(), fit.teacher.tokenizer_, None, n, n)
    return fit.fit(model, train.inputs, teacher_head(fit.teacher).labels(train.y))


def _save(fit: StudentFit, done: FineTuned, job: CompressJob, name: str, description: str,
          details: dict[str, Any]) -> Variant:
    folder = job.work / name
    fit.predictor(done).save(folder)
    teacher_n = teacher_size(fit.teacher)
    details = {**details, "n_parameters": int(done.model.num_parameters()),
               "teacher_n_parameters": teacher_n, "recovery_steps": done.global_step}
    logger.info("%s: %d of the teacher's %d parameters, %d recovery steps", name,
                details["n_parameters"], teacher_n, done.global_step)
    return Variant(name, folder, description, details)


def structured_variant(job: CompressJob, fit: StudentFit,
                       fraction: float = STRUCTURED_FRACTION) -> Variant:
    """Cut ``fraction`` of the heads and FFN neurons of every layer, then recover."""
    model = plain_model(fit.teacher)
    encoder_layers(model)  # a clear error for a non-BERT-like architecture
    scores = head_importance(model)
    n_heads = scores.shape[1]
    n_cut = min(n_heads - 1, int(round(fraction * n_heads)))
    present = present_heads(model)  # original head numbers (an already pruned teacher)
    prune_heads(model, {i: [present[i][j] for j in lowest(s, n_cut)]
                        for i, s in enumerate(scores)})
    width = int(model.config.intermediate_size)
    keep = max(1, width - int(round(fraction * width)))
    prune_ffn(model, keep)
    done = _recover(fit, model, job)
    pct = int(round(100 * fraction))
    return _save(fit, done, job, f"pruned-structured-{pct}",
                 f"{n_cut} of {n_heads} attention heads and {width - keep} of {width} FFN "
                 f"neurons cut per layer (L1 of output projections), "
                 f"{job.options.recovery_steps}-step recovery fine-tune",
                 {"heads_per_layer": n_heads - n_cut, "teacher_heads_per_layer": n_heads,
                  "intermediate_size": keep, "teacher_intermediate_size": width,
                  "importance": "L1 norm of output-projection weights"})


def magnitude_variant(job: CompressJob, fit: StudentFit,
                      amount: float = MAGNITUDE_AMOUNT) -> Variant:
    """Zero ``amount`` of the encoder's Linear weights (global L1), recover with the mask on."""
    model = plain_model(fit.teacher)
    params = [(m, "weight") for m in model.base_model.modules() if isinstance(m, nn.Linear)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    done = _recover(fit, model, job)
    for module, name in params:
        prune.remove(module, name)
    share = sparsity(done.model)
    pct = int(round(100 * amount))
    return _save(fit, done, job, f"pruned-magnitude-{pct}",
                 f"{pct}% of the encoder's Linear weights zeroed (global L1, dense storage), "
                 f"{job.options.recovery_steps}-step recovery fine-tune with the mask kept",
                 {"sparsity": share, "amount": amount})


def make_pruned_variants(job: CompressJob) -> list[Variant]:
    """``pruned-structured-50`` and ``pruned-magnitude-50`` (see the module docstring).

    Raises
    ------
    ConfigError
        The run's model is not a transformer, or not a BERT-like encoder.
    """
    teacher = transformer_teacher(job)
    out = job.work / "checkpoints-prune"
    fit = StudentFit(teacher, teacher_train_config(teacher, max_steps=job.options.recovery_steps),
                     job.options.seed, out)
    try:
        made = [structured_variant(job, fit), magnitude_variant(job, fit)]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return made
