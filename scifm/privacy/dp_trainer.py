"""DP-SGD inside :class:`transformers.Trainer` (Opacus): fine-tuning with a privacy budget.

:class:`DPTrainer` is a ``Trainer`` whose loop is the Trainer's own; only three pieces change,
the ones DP-SGD is made of (Abadi et al. 2016):

* batches are Poisson-sampled (each training row joins each batch with probability
  ``q = per_device_train_batch_size / n``: Opacus' ``UniformWithReplacementSampler``);
* each row's gradient is computed (Opacus' ``GradSampleHooks`` on the trainable modules, no
  wrapper around the model, so saving, PEFT and the Trainer's column handling are unchanged),
  clipped to ``max_grad_norm`` and Gaussian noise is added (Opacus' ``DPOptimizer`` around the
  Trainer's optimizer; the learning-rate schedule and the Trainer's step logic stay);
* the noise multiplier is chosen for ``(epsilon, delta)`` over the run's planned steps
  (``get_noise_multiplier``) and a PRV accountant follows every step: :attr:`DPTrainer.privacy_`
  holds the spent epsilon after ``train()``.

Limits (refused in one line): one process (no DDP / FSDP / DeepSpeed), no gradient
accumulation. The Trainer's own gradient clipping is switched off (DP clips per row). A Poisson
batch that happens to be empty is skipped (probability ``(1 - q)^n``, e.g. ``e^-32`` for
batches of 32; the accountant still counts the planned steps, so epsilon is not understated).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
from torch.utils.data import DataLoader
from transformers import Trainer

from scifm.errors import ConfigError
from scifm.privacy.dp import ACCOUNTANT, DPSettings

logger = logging.getLogger(__name__)

__all__ = ["DPTrainer"]


class _NonEmptyBatches:
    """Poisson batches of row indices, empty ones left out (``len``: the expected count)."""

    def __init__(self, sampler: Any) -> None:
        self.sampler = sampler

    def __iter__(self) -> Any:
        return (batch for batch in self.sampler if len(batch))

    def __len__(self) -> int:
        return len(self.sampler)


class DPTrainer(Trainer):
    """A :class:`transformers.Trainer` that trains by DP-SGD; see :mod:`scifm.privacy.dp_trainer`.

    Parameters
    ----------
    *args, **kwargs
        As for :class:`transformers.Trainer`.
    dp
        ``privacy.dp``: target ``epsilon`` (required), ``delta``, ``max_grad_norm``.
    """

    def __init__(self, *args: Any, dp: DPSettings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if dp.epsilon is None:
            raise ConfigError("DPTrainer needs privacy.dp.epsilon")
        if self.args.world_size > 1 or self.args.gradient_accumulation_steps != 1:
            raise ConfigError("differentially private fine-tuning runs on one process without "
                              "gradient accumulation (train.grad_accum: 1)")
        self.dp = dp
        self.args.max_grad_norm = 0.0  # DP clips each row's gradient; no second clipping
        self.privacy_: dict[str, Any] | None = None
        self._dp_optimizer: Any = None
        self._noise = 0.0
        self._planned_steps = 0

    @property
    def sample_rate(self) -> float:
        """Probability ``q`` that a training row joins a batch."""
        return min(1.0, self._train_batch_size / len(self.train_dataset))

    def get_train_dataloader(self) -> DataLoader:
        """Poisson-sampled batches of the training rows (Opacus' uniform sampler)."""
        from opacus.utils.uniform_sampler import UniformWithReplacementSampler

        generator = torch.Generator().manual_seed(int(self.args.seed))
        sampler = UniformWithReplacementSampler(num_samples=len(self.train_dataset),
                                                sample_rate=self.sample_rate,
                                                generator=generator)
        return DataLoader(self.train_dataset, batch_sampler=_NonEmptyBatches(sampler),
                          collate_fn=self._collate_with_positions,
                          num_workers=self.args.dataloader_num_workers)

    def _collate_with_positions(self, rows: list[Any]) -> Any:
        """The collator's batch with explicit ``position_ids`` (``B x L``): a model that makes
        them itself uses one ``1 x L`` row for the whole batch, which per-row gradients of the
        position embeddings cannot split."""
        batch = self.data_collator(rows)
        ids = batch.get("input_ids") if hasattr(batch, "get") else None
        if ids is not None and "position_ids" not in batch and self._takes_positions():
            batch["position_ids"] = torch.arange(ids.shape[1]).expand(ids.shape[0], -1).clone()
        return batch

    def _takes_positions(self) -> bool:
        import inspect

        model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else \
            self.model  # a PEFT model's forward takes **kwargs
        return "position_ids" in inspect.signature(model.forward).parameters

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        """Before the Trainer's schedule: its (prepared) optimizer wrapped for DP-SGD, with the
        noise that spends ``(epsilon, delta)`` over ``num_training_steps`` steps."""
        if self._dp_optimizer is None:
            self._make_private(num_training_steps)
        return super().create_scheduler(num_training_steps, optimizer)

    def _make_private(self, steps: int) -> None:
        from opacus.accountants.utils import get_noise_multiplier
        from opacus.grad_sample import GradSampleHooks
        from opacus.optimizers import DPOptimizer

        q = self.sample_rate
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._noise = get_noise_multiplier(target_epsilon=self.dp.epsilon,
                                               target_delta=self.dp.delta, sample_rate=q,
                                               steps=steps, accountant=ACCOUNTANT)
        GradSampleHooks(self.model, batch_first=True, loss_reduction="mean")
        holder = self.optimizer if hasattr(self.optimizer, "optimizer") else self  # Accelerate
        self._dp_optimizer = DPOptimizer(
            holder.optimizer, noise_multiplier=self._noise, max_grad_norm=self.dp.max_grad_norm,
            expected_batch_size=max(1, round(q * len(self.train_dataset))),
            loss_reduction="mean", generator=torch.Generator().manual_seed(int(self.args.seed)))
        holder.optimizer = self._dp_optimizer
        self._planned_steps = steps
        logger.info("DP fine-tuning: epsilon %g, delta %g: noise multiplier %.3f, sample rate "
                    "%.4f, %d steps", self.dp.epsilon, self.dp.delta, self._noise, q, steps)

    def training_step(self, model: Any, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """The Trainer's step, each row's gradient of the previous batch dropped first (the
        Trainer zeroes ``.grad`` only)."""
        if self._dp_optimizer is not None:
            self._dp_optimizer.zero_grad(set_to_none=True)
        return super().training_step(model, inputs, *args, **kwargs)

    def train(self, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``, then the accountant's spent epsilon in :attr:`privacy_`."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook")
            out = super().train(*args, **kwargs)
        self.privacy_ = self._spent()
        return out

    def _spent(self) -> dict[str, Any]:
        """The spent epsilon over the planned steps (at least the steps taken)."""
        from opacus.accountants import create_accountant

        steps = max(int(self.state.global_step), self._planned_steps)
        accountant = create_accountant(ACCOUNTANT)
        accountant.history = [(self._noise, self.sample_rate, steps)]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Optimal order")
            epsilon = float(accountant.get_epsilon(self.dp.delta))
        return {"epsilon": epsilon, "target_epsilon": float(self.dp.epsilon),
                "delta": float(self.dp.delta), "noise_multiplier": float(self._noise),
                "max_grad_norm": float(self.dp.max_grad_norm),
                "sample_rate": float(self.sample_rate), "steps": steps,
                "steps_taken": int(self.state.global_step), "accountant": ACCOUNTANT}
