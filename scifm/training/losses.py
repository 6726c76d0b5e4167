"""Losses that skip missing labels (NaN), and the loss hook handed to ``transformers.Trainer``.

Labels arrive as float tensors where ``NaN`` marks a missing label (see :mod:`scifm.tasks`). Each
loss is the mean over the *observed* labels only; a batch without any observed label gives a zero
loss that still depends on the model outputs (so ``backward`` works).

The Trainer pops ``labels`` from the batch before calling the model when ``compute_loss_func`` is
set, so the model's built-in loss (which would choke on NaN) is never computed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from scifm.tasks import TaskSpec
from scifm.training.masking import IGNORE_INDEX

logger = logging.getLogger(__name__)

LossFunc = Callable[..., torch.Tensor]


def _zero_like(x: torch.Tensor) -> torch.Tensor:
    return x.sum() * 0.0


def _observed(labels: torch.Tensor) -> torch.Tensor | None:
    """Mask of the observed (non-NaN) labels; None when the batch has none."""
    mask = ~torch.isnan(labels)
    return mask if mask.any() else None


def masked_bce_with_logits(logits: torch.Tensor, labels: torch.Tensor,
                           pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy over the observed (non-NaN) labels.

    Parameters
    ----------
    logits, labels
        ``batch x n_tasks`` raw scores and labels in {0, 1} (NaN = missing).
    pos_weight
        ``n_tasks`` weights of the positive class (e.g. ``n_neg / n_pos``), or None.

    Returns
    -------
    torch.Tensor
        Scalar mean over observed entries.
    """
    logits = logits.float().reshape(labels.shape)
    mask = _observed(labels)
    if mask is None:
        return _zero_like(logits)
    weight = None
    if pos_weight is not None:
        weight = pos_weight.to(logits.device, logits.dtype).expand_as(logits)[mask]
    return F.binary_cross_entropy_with_logits(
        logits[mask], labels[mask].to(logits.dtype), pos_weight=weight
    )


def masked_mse(preds: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the observed (non-NaN) labels.

    Parameters
    ----------
    preds, labels
        ``batch x n_tasks``; NaN in ``labels`` = missing.
    """
    preds = preds.float().reshape(labels.shape)
    mask = _observed(labels)
    if mask is None:
        return _zero_like(preds)
    return F.mse_loss(preds[mask], labels[mask].to(preds.dtype))


def masked_cross_entropy(logits: torch.Tensor, labels: torch.Tensor,
                         weight: torch.Tensor | None = None) -> torch.Tensor:
    """Multiclass cross-entropy over rows whose class label is observed.

    With ``weight`` (``n_classes`` class weights) the mean is the weighted mean, as in
    :func:`torch.nn.functional.cross_entropy`.

    Parameters
    ----------
    logits, labels
        ``batch x n_classes`` raw scores; ``batch`` (or ``batch x 1``) float class indices, NaN
        = missing.
    """
    logits = logits.float()
    labels = labels.reshape(-1)
    mask = _observed(labels)
    if mask is None:
        return _zero_like(logits)
    if weight is not None:
        weight = weight.to(logits.device, logits.dtype)
    return F.cross_entropy(logits[mask], labels[mask].long(), weight=weight)


def balanced_class_weights(task: TaskSpec, y: np.ndarray) -> torch.Tensor | None:
    """Class weights inversely proportional to frequency in ``y`` (``n x n_tasks``, NaN = missing).

    Returns
    -------
    torch.Tensor or None
        ``binary``: ``n_tasks`` positive-class weights ``n_neg / n_pos`` (1 where a class is
        absent); ``multiclass``: ``n_classes`` weights ``n / (n_classes * n_c)`` (classes absent
        from ``y`` get weight 1); ``regression``: None.
    """
    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    if task.task_type == "binary":
        pos = np.nansum(y == 1, axis=0).astype(float)
        neg = np.nansum(y == 0, axis=0).astype(float)
        w = np.where((pos > 0) & (neg > 0), neg / np.maximum(pos, 1), 1.0)
        return torch.tensor(w, dtype=torch.float32)
    if task.task_type == "multiclass":
        obs = y[:, 0][~np.isnan(y[:, 0])].astype(int)
        k = len(task.classes)
        counts = np.bincount(obs, minlength=k).astype(float)
        w = np.where(counts > 0, len(obs) / (k * np.maximum(counts, 1)), 1.0)
        return torch.tensor(w, dtype=torch.float32)
    return None


RARE_SHARE = 0.5
"""``model.class_weight: auto`` weighs classes when one is rarer than this fraction of an even
share (binary: below 25 % of a task's labels; 4 classes: below 12.5 %)."""


def rarest_share(task: TaskSpec, y: np.ndarray) -> float | None:
    """The rarest class's share of the labelled rows relative to an even share (1.0: balanced;
    the minimum over tasks), or None for regression / no labels."""
    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    if task.task_type == "binary":
        shares = []
        for j in range(y.shape[1]):
            col = y[:, j][~np.isnan(y[:, j])]
            if len(col):
                shares.append(min(col.mean(), 1 - col.mean()) * 2)
        return min(shares) if shares else None
    if task.task_type == "multiclass":
        obs = y[:, 0][~np.isnan(y[:, 0])].astype(int)
        if not len(obs):
            return None
        k = len(task.classes)
        return float(np.bincount(obs, minlength=k).min() / len(obs) * k)
    return None


def class_weights_for(task: TaskSpec, y: np.ndarray, mode: str) -> torch.Tensor | None:
    """The loss's class weights under ``model.class_weight`` = ``mode``: ``balanced`` always,
    ``auto`` when a class is rare (:data:`RARE_SHARE`), ``none`` never."""
    if mode == "none" or task.task_type == "regression":
        return None
    if mode == "auto":
        share = rarest_share(task, y)
        if share is None or share >= RARE_SHARE:
            return None
        logger.info("class weights on (model.class_weight: auto): the rarest class has %.0f%% "
                    "of an even share of the training labels", 100 * share)
    return balanced_class_weights(task, y)


def balanced_token_weights(tags: Sequence[Sequence[str | None]],
                           labels: Sequence[str]) -> torch.Tensor:
    """Token class weights ``n / (n_labels * n_c)`` over the scored tags (``None`` skipped);
    labels absent from ``tags`` get weight 1. Shape ``n_labels``."""
    index = {name: i for i, name in enumerate(labels)}
    obs = np.asarray([index[t] for row in tags for t in row if t is not None], dtype=int)
    counts = np.bincount(obs, minlength=len(labels)).astype(float)
    w = np.where(counts > 0, len(obs) / (len(labels) * np.maximum(counts, 1)), 1.0)
    return torch.tensor(w, dtype=torch.float32)


def make_token_loss(class_weights: torch.Tensor) -> LossFunc:
    """``compute_loss_func`` for token classification with class weights.

    The weighted mean cross-entropy over positions whose label is not :data:`IGNORE_INDEX`
    (logits ``batch x seq x n_labels``, labels ``batch x seq``); like :func:`make_compute_loss`,
    a per-batch mean (set ``trainer.loss_is_scaled_for_ga = False``).
    """

    def compute_loss(
        outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None, **_: Any
    ) -> torch.Tensor:
        logits = _logits(outputs).float()
        labels = labels.to(logits.device).reshape(-1)
        if not (labels != IGNORE_INDEX).any():
            return _zero_like(logits)
        return F.cross_entropy(logits.reshape(labels.numel(), -1), labels,
                               weight=class_weights.to(logits.device, logits.dtype),
                               ignore_index=IGNORE_INDEX)

    return compute_loss


def _logits(outputs: Any) -> torch.Tensor:
    if isinstance(outputs, dict):
        return outputs["logits"]
    if isinstance(outputs, (tuple, list)):
        return outputs[0]
    return outputs.logits


def make_compute_loss(task: TaskSpec, class_weights: torch.Tensor | None = None) -> LossFunc:
    """The ``compute_loss_func`` for :class:`transformers.Trainer`.

    Parameters
    ----------
    task
        Picks the loss: masked BCE (binary), masked cross-entropy (multiclass) or masked MSE on
        standardised targets (regression).
    class_weights
        From :func:`balanced_class_weights`; ignored for regression.

    Returns
    -------
    Callable
        ``loss(outputs, labels, num_items_in_batch=None) -> scalar``. ``num_items_in_batch`` is
        ignored (the Trainer counts NaN labels as items); the loss is a per-batch mean, so set
        ``trainer.loss_is_scaled_for_ga = False`` for correct gradient accumulation.
    """

    def compute_loss(
        outputs: Any, labels: torch.Tensor, num_items_in_batch: Any = None, **_: Any
    ) -> torch.Tensor:
        logits = _logits(outputs)
        labels = labels.to(logits.device, torch.float32)
        if task.task_type == "binary":
            return masked_bce_with_logits(logits, labels, pos_weight=class_weights)
        if task.task_type == "multiclass":
            return masked_cross_entropy(logits, labels, weight=class_weights)
        return masked_mse(logits, labels)

    return compute_loss
