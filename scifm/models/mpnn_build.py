"""Chemprop's side of the ``mpnn`` family: build, train and run one D-MPNN (chemprop v2 API).

Imported only when an ``mpnn`` model is built or loaded (it imports ``chemprop`` and
``lightning``). A model is rebuilt from its *architecture*, a JSON dict (:func:`architecture`),
so a saved model is that dict plus a safetensors ``state_dict``: Chemprop's own checkpoints
(``torch.save`` of the hyper-parameters, i.e. pickle) are never written nor read.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from chemprop import data as cdata
from chemprop import featurizers, models, nn
from lightning import pytorch as pl
from lightning.pytorch.callbacks import EarlyStopping

from scifm.models.mpnn_budget import MPNN_MIN_EPOCHS
from scifm.models.params import MPNNParams
from scifm.tasks import TaskSpec
from scifm.utils import progress
from scifm.utils.deadline import (
    TimeUp,
    check_deadline,
    deadline_passed,
    keeps_best,
    seconds_left,
)

logger = logging.getLogger(__name__)

__all__ = ["architecture", "build_model", "make_dataset", "predict_model", "seed_everything",
           "torch_threads", "train_model"]

MIN_EPOCHS = MPNN_MIN_EPOCHS
"""A fit under a keep-best deadline in whose time fewer epochs fit is given up after its first
epoch (:class:`~scifm.utils.deadline.TimeUp`; why: :mod:`scifm.models.mpnn_budget`)."""

_AGGREGATIONS = {"norm": nn.NormAggregation, "mean": nn.MeanAggregation, "sum": nn.SumAggregation}
_HEADS = {"regression": nn.RegressionFFN, "binary": nn.BinaryClassificationFFN,
          "multiclass": nn.MulticlassClassificationFFN}


def architecture(params: MPNNParams, task: TaskSpec, n_descriptors: int) -> dict[str, Any]:
    """Everything needed to rebuild the exact modules (a JSON dict)."""
    d_v, d_e = featurizers.SimpleMoleculeMolGraphFeaturizer().shape
    return {"featurizer": "SimpleMoleculeMolGraphFeaturizer", "d_v": int(d_v), "d_e": int(d_e),
            "depth": params.depth, "hidden": params.hidden, "dropout": params.dropout,
            "aggregation": params.aggregation, "batch_norm": params.batch_norm,
            "ffn_layers": params.ffn_layers, "ffn_hidden": params.ffn_hidden,
            "task_type": task.task_type, "n_tasks": task.n_tasks,
            "n_classes": len(task.classes) if task.task_type == "multiclass" else 0,
            "n_descriptors": int(n_descriptors), "warmup_epochs": params.warmup_epochs,
            "max_lr": params.lr}


def _head(arch: dict[str, Any], scaling: dict[str, list[float]] | None) -> nn.Predictor:
    kw: dict[str, Any] = {"input_dim": arch["hidden"] + arch["n_descriptors"],
                          "hidden_dim": arch["ffn_hidden"], "n_layers": arch["ffn_layers"],
                          "dropout": arch["dropout"]}
    if arch["task_type"] == "multiclass":
        return nn.MulticlassClassificationFFN(n_classes=arch["n_classes"], n_tasks=1, **kw)
    if arch["task_type"] == "regression":
        mean = scaling["mean"] if scaling else [0.0] * arch["n_tasks"]
        std = scaling["std"] if scaling else [1.0] * arch["n_tasks"]
        kw["output_transform"] = nn.UnscaleTransform(mean, std)
    return _HEADS[arch["task_type"]](n_tasks=arch["n_tasks"], **kw)


def build_model(arch: dict[str, Any], scaling: dict[str, list[float]] | None = None,
                descriptors: dict[str, list[float]] | None = None) -> models.MPNN:
    """A fresh D-MPNN of architecture ``arch``; regression outputs are unscaled with
    ``scaling`` (``mean``, ``std``), extra descriptors standardised with ``descriptors``."""
    mp = nn.BondMessagePassing(d_v=arch["d_v"], d_e=arch["d_e"], d_h=arch["hidden"],
                               depth=arch["depth"], dropout=arch["dropout"])
    agg = _AGGREGATIONS[arch["aggregation"]]()
    x_d = None
    if arch["n_descriptors"]:
        d = descriptors or {"mean": [0.0] * arch["n_descriptors"],
                            "std": [1.0] * arch["n_descriptors"]}
        x_d = nn.ScaleTransform(d["mean"], d["std"])
    lr = float(arch["max_lr"])
    return models.MPNN(mp, agg, _head(arch, scaling), batch_norm=arch["batch_norm"],
                       warmup_epochs=arch["warmup_epochs"], init_lr=lr / 10, max_lr=lr,
                       final_lr=lr / 10, X_d_transform=x_d)


def make_dataset(smiles: Sequence[str], y: np.ndarray | None,
                 x_d: np.ndarray | None = None) -> cdata.MoleculeDataset:
    """A Chemprop dataset (targets NaN where missing: Chemprop masks them in the loss)."""
    points = [cdata.MoleculeDatapoint.from_smi(
        smi, y=None if y is None else np.asarray(y[i], dtype=np.float32),
        x_d=None if x_d is None else np.asarray(x_d[i], dtype=np.float32))
        for i, smi in enumerate(smiles)]
    dset = cdata.MoleculeDataset(points, featurizers.SimpleMoleculeMolGraphFeaturizer())
    dset.cache = True
    return dset


class _Epochs(pl.Callback):
    """Per-epoch history and bar, and the best state on val (restored at the end)."""

    def __init__(self, bar: progress.Bar, has_val: bool) -> None:
        self.bar, self.has_val = bar, has_val
        self.history: list[dict[str, Any]] = []
        self.best_loss, self.best_state = math.inf, None

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        logged = trainer.callback_metrics
        row: dict[str, Any] = {"epoch": trainer.current_epoch + 1}
        for key, name in (("train_loss_epoch", "train_loss"), ("val_loss", "val_loss")):
            if key in logged:
                row[name] = round(float(logged[key]), 6)
        self.history.append(row)
        logger.debug("mpnn epoch %d: %s", row["epoch"], row)
        self.bar.advance()
        loss = row.get("val_loss", math.inf) if self.has_val else -row["epoch"]
        if loss < self.best_loss:
            self.best_loss = loss
            self.best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}


class _Deadline(pl.Callback):
    """Raise :class:`~scifm.utils.deadline.TimeUp` after any training batch that ends past the
    deadline of :func:`~scifm.utils.deadline.fit_deadline` (none set: never). Lightning runs its
    teardown and re-raises the exception out of ``trainer.fit``.

    Where the deadline keeps the best (:func:`~scifm.utils.deadline.keeps_best`) and an epoch is
    done, training ends instead (its best epoch kept), and after the first epoch the epochs and
    the learning-rate decay are shortened to what the time left affords (:func:`_fit_schedule`),
    so the decay still ends at ``final_lr``."""

    def __init__(self, epochs: _Epochs) -> None:
        self.epochs = epochs
        self.t0 = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        if keeps_best() and self.epochs.best_state is not None:
            if deadline_passed() and not trainer.should_stop:
                logger.info("mpnn: time budget spent in epoch %d; the best epoch is kept",
                            trainer.current_epoch + 1)
                trainer.should_stop = True
            return
        check_deadline(f"mpnn epoch {trainer.current_epoch + 1}, batch {batch_idx + 1}")

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        left = seconds_left()
        if trainer.current_epoch == 0 and keeps_best() and left is not None:
            _fit_schedule(trainer, module, time.perf_counter() - self.t0, left)


def _fit_schedule(trainer: pl.Trainer, module: models.MPNN, epoch_s: float,
                  left: float) -> None:
    """After the first epoch (``epoch_s`` seconds, validation included): when the ``left``
    seconds afford fewer epochs than ``max_epochs``, train that many and decay the learning
    rate to ``final_lr`` over them (Chemprop's Noam-like schedule, rebuilt for the new length)."""
    from chemprop.schedulers import build_NoamLike_LRSched

    fits = 1 + int(max(0.0, left) / max(epoch_s, 1e-6))
    warmup = int(module.warmup_epochs)
    if fits >= int(trainer.max_epochs or 0):
        return
    if fits < MIN_EPOCHS:
        raise TimeUp(f"mpnn: only {fits} epochs of {epoch_s:.1f} s fit in the {left:.0f} s "
                     f"left (fewer than {MIN_EPOCHS}); given up")
    epochs = max(fits, warmup + 1)
    steps = int(trainer.num_training_batches)
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=module.init_lr)
    noam = build_NoamLike_LRSched(dummy, warmup * steps, (epochs - warmup) * steps,
                                  module.init_lr, module.max_lr, module.final_lr)
    trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0] = noam.lr_lambdas[0]
    logger.info("mpnn: %.1f s per epoch; %d of %d epochs fit in the %.0f s left, learning-rate "
                "decay shortened to match", epoch_s, epochs, trainer.max_epochs, left)
    trainer.fit_loop.max_epochs = epochs


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """``torch.set_num_threads(n)`` for the block (``n <= 0``: unchanged)."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """No Lightning banner, tips or 'few workers' warnings (scifm logs its own progress)."""
    names = ("lightning.pytorch", "lightning.fabric", "chemprop")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (a member's initial weights, dropout, batch order)."""
    pl.seed_everything(seed, workers=True, verbose=False)


def train_model(model: models.MPNN, train: cdata.MoleculeDataset,
                val: cdata.MoleculeDataset | None, params: MPNNParams, seed: int,
                label: str) -> list[dict[str, Any]]:
    """Train ``model`` in place on CPU (early stopping on ``val`` when given, its best epoch
    kept); returns the per-epoch history. Inside :func:`~scifm.utils.deadline.fit_deadline`
    the deadline is checked after every training batch (:class:`_Deadline`)."""
    seed_everything(seed)
    loader = cdata.build_dataloader(train, batch_size=params.batch_size, seed=seed)
    val_loader = (cdata.build_dataloader(val, batch_size=params.batch_size, shuffle=False,
                                         drop_last=False) if val is not None else None)
    with progress.track(label, params.epochs, unit="epochs", level=logging.DEBUG) as bar:
        epochs = _Epochs(bar, val is not None)
        callbacks: list[pl.Callback] = [epochs]
        if seconds_left() is not None:
            callbacks.append(_Deadline(epochs))
        if val is not None:
            callbacks.append(EarlyStopping("val_loss", patience=params.patience, mode="min"))
        with _quiet_lightning(), torch_threads(params.threads):
            trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=params.epochs,
                                 logger=False, enable_checkpointing=False,
                                 enable_progress_bar=False, enable_model_summary=False,
                                 num_sanity_val_steps=0, callbacks=callbacks)
            trainer.fit(model, loader, val_loader)
    if epochs.best_state is not None:
        model.load_state_dict(epochs.best_state)
    model.eval()
    return epochs.history


def predict_model(model: models.MPNN, dset: cdata.MoleculeDataset, task: TaskSpec,
                  batch_size: int, threads: int = 0) -> np.ndarray:
    """Predictions ``n x task.n_outputs``: probabilities or target units (unscaled)."""
    loader = cdata.build_dataloader(dset, batch_size=batch_size, shuffle=False, drop_last=False)
    model.eval()
    out = []
    with torch.inference_mode(), torch_threads(threads):
        for batch in loader:
            pred = model(batch.bmg, batch.V_d, batch.X_d)
            out.append(pred.reshape(len(pred), -1).double().cpu().numpy())
    if not out:
        return np.empty((0, task.n_outputs))
    return np.concatenate(out).reshape(len(dset), task.n_outputs)
