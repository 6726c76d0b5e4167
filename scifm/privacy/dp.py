"""Differentially private training of a linear model on a feature matrix (Opacus DP-SGD).

:class:`DPLinearModel` is the estimator of the ``dplinear`` family (on numeric features:
``fit(X, y, X_val, y_val)``, ``predict(X)``): one ``torch.nn.Linear`` layer, i.e. logistic
regression per task (binary, several tasks allowed), softmax regression (multiclass) or least
squares (regression, targets standardised). Missing labels (NaN) are masked out of the loss.

With a target ``epsilon`` it is trained by DP-SGD: Opacus'
``PrivacyEngine.make_private_with_epsilon`` picks the noise multiplier that spends at most
``(epsilon, delta)`` over ``epochs`` passes of Poisson-sampled batches (expected size
``batch_size``), clips each row's gradient to ``max_grad_norm`` and adds Gaussian noise; the
accountant's spent epsilon is recorded in :attr:`DPLinearModel.privacy_`. Without ``epsilon``
it is trained plainly (shuffled mini-batches, same loss and optimizer) and ``privacy_`` is None.

What the guarantee covers: the weights learned from the training rows. Row-wise ``l2``
normalisation is data-independent, so it is covered; ``standard`` scaling (training means and
deviations), a regression model's target scaling and any fitted featurizer (e.g. a TF-IDF
vocabulary) are computed from the training rows without noise and are *not* covered.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from scifm.models.params import DPLinearParams
from scifm.utils.deadline import check_deadline

logger = logging.getLogger(__name__)

__all__ = ["ACCOUNTANT", "DPLinearModel", "DPSettings", "per_row_loss"]

ACCOUNTANT = "prv"
"""Opacus' privacy accountant used for the noise calibration and the spent epsilon (PRV:
privacy random variables, Gopi et al. 2021; Opacus' default)."""


@dataclass(frozen=True)
class DPSettings:
    """The ``privacy.dp`` values a DP fit uses (mirrors :class:`scifm.config.privacy.DPConfig`)."""

    epsilon: float | None = None
    """Target epsilon; None: no differential privacy (plain training)."""
    delta: float = 1e-5
    """Target delta."""
    max_grad_norm: float = 1.0
    """Per-row gradient clipping norm."""


def per_row_loss(task_type: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Loss of each row, missing labels (NaN) left out.

    Parameters
    ----------
    task_type
        ``binary`` (``out``, ``y``: ``B x T`` logits / 0-1 labels), ``multiclass`` (``out``:
        ``B x C`` logits, ``y``: ``B x 1`` class ids) or ``regression`` (``B x T``).

    Returns
    -------
    torch.Tensor
        Shape ``B``: summed over the row's labelled tasks.
    """
    mask = ~torch.isnan(y)
    filled = torch.where(mask, y, torch.zeros_like(y))
    if task_type == "multiclass":
        loss = nn.functional.cross_entropy(out, filled[:, 0].long(), reduction="none")
        return loss * mask[:, 0]
    if task_type == "binary":
        loss = nn.functional.binary_cross_entropy_with_logits(out, filled, reduction="none")
    else:
        loss = (out - filled) ** 2 / 2
    return (loss * mask).sum(dim=1)


def _dense(X: Any) -> np.ndarray:
    """``X`` as a dense float32 array, NaN (a missing feature) as 0."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    return np.nan_to_num(X.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


class DPLinearModel:
    """A linear model on numeric features, trained by DP-SGD (Opacus) or plainly.

    Parameters
    ----------
    task_type
        ``regression``, ``binary`` or ``multiclass``.
    n_outputs
        Outputs of the layer: tasks (regression, binary) or classes (multiclass).
    params
        ``params.dplinear`` (:class:`~scifm.models.params.DPLinearParams`).
    dp
        ``privacy.dp`` (:class:`DPSettings`); ``epsilon=None``: plain training.
    random_state
        Seeds the batch sampling and the DP noise.
    """

    def __init__(self, task_type: str, n_outputs: int, params: DPLinearParams,
                 dp: DPSettings | None = None, random_state: int = 0) -> None:
        self.task_type = task_type
        self.n_outputs = n_outputs
        self.params = params
        self.dp = dp or DPSettings()
        self.random_state = random_state
        self.linear_: nn.Linear | None = None
        self.scaling_: dict[str, list[float]] = {}
        self.privacy_: dict[str, Any] | None = None
        self.history_: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ preprocessing
    def _features(self, X: Any, fit: bool = False) -> torch.Tensor:
        """Dense, NaN-free features, normalised as ``params.normalize`` says (``N x d``)."""
        X = _dense(X)
        if self.params.normalize == "l2":
            X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        elif self.params.normalize == "standard":
            if fit:
                std = X.std(axis=0)
                self.scaling_.update(x_mean=X.mean(axis=0).tolist(),
                                     x_std=np.where(std > 0, std, 1.0).tolist())
            X = (X - np.asarray(self.scaling_["x_mean"], np.float32)) / np.asarray(
                self.scaling_["x_std"], np.float32)
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))

    def _targets(self, y: np.ndarray, fit: bool = False) -> torch.Tensor:
        """Labels as float32 ``N x T`` (regression: standardised by the training rows)."""
        y = np.asarray(y, dtype=np.float64)
        y = y[:, None] if y.ndim == 1 else y
        if self.task_type == "regression":
            if fit:
                std = np.nanstd(y, axis=0)
                self.scaling_.update(y_mean=np.nan_to_num(np.nanmean(y, axis=0)).tolist(),
                                     y_std=np.where(std > 0, std, 1.0).tolist())
            y = (y - np.asarray(self.scaling_["y_mean"])) / np.asarray(self.scaling_["y_std"])
        return torch.from_numpy(y.astype(np.float32))

    # ------------------------------------------------------------------ training
    def _optimizer(self, module: nn.Linear) -> torch.optim.Optimizer:
        groups = [{"params": [module.weight], "weight_decay": self.params.weight_decay},
                  {"params": [module.bias], "weight_decay": 0.0}]
        if self.params.optimizer == "adam":
            return torch.optim.Adam(groups, lr=self.params.lr)
        return torch.optim.SGD(groups, lr=self.params.lr)

    def fit(self, X: Any, y: np.ndarray, X_val: Any = None, y_val: np.ndarray | None = None,
            ) -> DPLinearModel:
        """Train for ``params.epochs`` epochs (DP-SGD when ``dp.epsilon`` is set); the loss on
        ``X_val`` (when given) is logged per epoch, never used to stop or select."""
        Xt, yt = self._features(X, fit=True), self._targets(y, fit=True)
        val = None
        if X_val is not None and y_val is not None and len(y_val):
            val = (self._features(X_val), self._targets(y_val))
        gen = torch.Generator().manual_seed(int(self.random_state))
        module = nn.Linear(Xt.shape[1], self.n_outputs)
        nn.init.zeros_(module.weight)
        nn.init.zeros_(module.bias)
        optimizer = self._optimizer(module)
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(Xt, yt), generator=gen, shuffle=True,
            batch_size=min(self.params.batch_size, len(Xt)))
        engine, sample_rate = None, 1 / len(loader)
        if self.dp.epsilon is not None:
            engine, model, optimizer, loader = self._make_private(module, optimizer, loader, gen)
        else:
            model = module
        with warnings.catch_warnings():  # Opacus' hooks on a layer whose inputs need no grad
            warnings.filterwarnings("ignore", message="Full backward hook")
            self.history_ = [self._epoch(model, optimizer, loader, val, e)
                             for e in range(1, self.params.epochs + 1)]
        self.linear_ = nn.Linear(Xt.shape[1], self.n_outputs)
        self.linear_.load_state_dict({"weight": module.weight.detach().clone(),
                                      "bias": module.bias.detach().clone()})
        self.linear_.eval()
        self.privacy_ = None if engine is None else self._spent(engine, optimizer, sample_rate)
        return self

    def _make_private(self, module: nn.Linear, optimizer: torch.optim.Optimizer,
                      loader: Any, gen: torch.Generator) -> tuple[Any, Any, Any, Any]:
        """Opacus' engine, wrapped module, DP optimizer and Poisson-sampling loader."""
        from opacus import PrivacyEngine

        if self.dp.delta >= 1 / len(loader.dataset):
            logger.warning("privacy.dp.delta = %g is not below 1 / %d training rows: the "
                           "guarantee is weak (a row may leak with probability delta)",
                           self.dp.delta, len(loader.dataset))
        with warnings.catch_warnings():  # "secure RNG turned off": seeded noise is the point
            warnings.simplefilter("ignore")
            engine = PrivacyEngine(accountant=ACCOUNTANT)
            model, optimizer, loader = engine.make_private_with_epsilon(
                module=module, optimizer=optimizer, data_loader=loader,
                target_epsilon=self.dp.epsilon, target_delta=self.dp.delta,
                epochs=self.params.epochs, max_grad_norm=self.dp.max_grad_norm,
                poisson_sampling=True, noise_generator=gen)
        logger.info("dplinear: DP-SGD for epsilon %.3g, delta %.3g: noise multiplier %.3f, "
                    "sample rate %.4f", self.dp.epsilon, self.dp.delta,
                    optimizer.noise_multiplier, loader.sample_rate)
        return engine, model, optimizer, loader

    def _epoch(self, model: nn.Module, optimizer: torch.optim.Optimizer, loader: Any,
               val: tuple[torch.Tensor, torch.Tensor] | None, epoch: int) -> dict[str, Any]:
        """One pass over ``loader``; the epoch's mean train (and val) loss."""
        model.train()
        total, n = 0.0, 0
        for xb, yb in loader:
            check_deadline()
            optimizer.zero_grad()
            rows = per_row_loss(self.task_type, model(xb), yb)
            (rows.sum() / max(len(rows), 1)).backward()  # an empty Poisson batch still steps
            optimizer.step()
            total, n = total + float(rows.detach().sum()), n + len(rows)
        entry: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(n, 1)}
        if val is not None:
            with torch.no_grad():
                entry["val_loss"] = float(per_row_loss(self.task_type, model(val[0]),
                                                       val[1]).mean())
        return entry

    def _spent(self, engine: Any, optimizer: Any, sample_rate: float) -> dict[str, Any]:
        """What the accountant says was spent, and the mechanism's settings."""
        with warnings.catch_warnings():  # PRV's internal RDP bound: "optimal order is ..."
            warnings.filterwarnings("ignore", message="Optimal order")
            epsilon = float(engine.get_epsilon(self.dp.delta))
        return {"epsilon": epsilon,
                "target_epsilon": float(self.dp.epsilon), "delta": float(self.dp.delta),
                "noise_multiplier": float(optimizer.noise_multiplier),
                "max_grad_norm": float(self.dp.max_grad_norm),
                "sample_rate": float(sample_rate),
                "epochs": int(self.params.epochs),
                "steps": int(sum(h[-1] for h in engine.accountant.history)),
                "accountant": ACCOUNTANT}

    # ------------------------------------------------------------------ prediction
    def predict(self, X: Any) -> np.ndarray:
        """Probabilities (binary: ``N x T``, multiclass: ``N x C``) or values (``N x T``)."""
        if self.linear_ is None:
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("DPLinearModel is not fitted")
        with torch.no_grad():
            out = self.linear_(self._features(X)).double()
        if self.task_type == "binary":
            return torch.sigmoid(out).numpy()
        if self.task_type == "multiclass":
            return torch.softmax(out, dim=1).numpy()
        return out.numpy() * np.asarray(self.scaling_["y_std"]) + np.asarray(
            self.scaling_["y_mean"])

    # ------------------------------------------------------------------ state
    def tensors(self) -> dict[str, torch.Tensor]:
        """The learned weights (``weight``: ``K x d``, ``bias``: ``K``), for safetensors."""
        return {k: v.detach().cpu().contiguous() for k, v in self.linear_.state_dict().items()}

    def restore(self, tensors: dict[str, torch.Tensor], scaling: dict[str, list[float]],
                privacy: dict[str, Any] | None) -> DPLinearModel:
        """The fitted model from saved weights, scaling statistics and privacy record."""
        weight = tensors["weight"]
        if weight.ndim != 2 or weight.shape[0] != self.n_outputs:
            raise ValueError(f"weight of shape {tuple(weight.shape)} does not give "
                             f"{self.n_outputs} outputs")
        self.linear_ = nn.Linear(weight.shape[1], self.n_outputs)
        self.linear_.load_state_dict(tensors)
        self.linear_.eval()
        self.scaling_, self.privacy_ = dict(scaling), privacy
        return self
