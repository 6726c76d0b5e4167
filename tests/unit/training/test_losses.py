"""NaN-masked losses equal the plain losses on the observed entries."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers.modeling_outputs import SequenceClassifierOutput

from scifm.tasks import TaskSpec
from scifm.training.losses import (
    balanced_class_weights,
    class_weights_for,
    make_compute_loss,
    masked_bce_with_logits,
    masked_cross_entropy,
    masked_mse,
)

NAN = float("nan")


@pytest.fixture
def binary_batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 2, generator=g)
    labels = torch.tensor([[1, 0], [NAN, 1], [0, NAN], [1, 1], [NAN, NAN]])
    return logits, labels


def test_masked_bce_equals_bce_on_observed_entries(binary_batch) -> None:
    logits, labels = binary_batch
    mask = ~torch.isnan(labels)
    expected = F.binary_cross_entropy_with_logits(logits[mask], labels[mask])
    assert torch.allclose(masked_bce_with_logits(logits, labels), expected)
    # NaN labels never leak into the value
    assert torch.isfinite(masked_bce_with_logits(logits, labels))


def test_masked_bce_pos_weight_is_per_task(binary_batch) -> None:
    logits, labels = binary_batch
    pw = torch.tensor([3.0, 0.5])
    mask = ~torch.isnan(labels)
    per = F.binary_cross_entropy_with_logits(logits, torch.nan_to_num(labels),
                                             pos_weight=pw, reduction="none")
    assert torch.allclose(masked_bce_with_logits(logits, labels, pw), per[mask].mean())


def test_masked_mse_and_cross_entropy() -> None:
    preds = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    labels = torch.tensor([[2.0, NAN], [NAN, 0.0]])
    assert masked_mse(preds, labels).item() == pytest.approx((1.0 + 16.0) / 2)

    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 5.0]])
    y = torch.tensor([[0.0], [NAN], [1.0]])
    expected = F.cross_entropy(logits[[0, 2]], torch.tensor([0, 1]))
    assert torch.allclose(masked_cross_entropy(logits, y), expected)
    w = torch.tensor([1.0, 4.0, 1.0])
    assert torch.allclose(masked_cross_entropy(logits, y, w),
                          F.cross_entropy(logits[[0, 2]], torch.tensor([0, 1]), weight=w))


def test_all_missing_gives_zero_loss_with_gradient() -> None:
    logits = torch.randn(3, 2, requires_grad=True)
    loss = masked_bce_with_logits(logits, torch.full((3, 2), NAN))
    assert loss.item() == 0.0
    loss.backward()
    assert logits.grad is not None and torch.all(logits.grad == 0)


def test_make_compute_loss_matches_task_and_accepts_trainer_signature(binary_batch) -> None:
    logits, labels = binary_batch
    out = SequenceClassifierOutput(logits=logits)
    fn = make_compute_loss(TaskSpec("binary", ["a", "b"]))
    assert torch.allclose(fn(out, labels, num_items_in_batch=torch.tensor(10)),
                          masked_bce_with_logits(logits, labels))
    reg = make_compute_loss(TaskSpec("regression", ["a", "b"]))
    assert torch.allclose(reg({"logits": logits}, labels), masked_mse(logits, labels))
    mc = make_compute_loss(TaskSpec("multiclass", ["c"], classes=["x", "y"]))
    y = torch.tensor([[0.0], [1.0], [NAN], [1.0], [0.0]])
    assert torch.allclose(mc(out, y), masked_cross_entropy(logits, y))


def test_balanced_class_weights() -> None:
    y = np.array([[1, 0], [0, 0], [0, np.nan], [0, 1], [np.nan, 0]], dtype=float)
    w = balanced_class_weights(TaskSpec("binary", ["a", "b"]), y)
    assert w.tolist() == pytest.approx([3.0, 3.0])  # n_neg / n_pos per task
    yc = np.array([[0], [0], [0], [1], [np.nan]], dtype=float)
    wc = balanced_class_weights(TaskSpec("multiclass", ["c"], classes=["x", "y", "z"]), yc)
    assert wc.tolist() == pytest.approx([4 / 9, 4 / 3, 1.0])  # absent class z -> 1
    assert balanced_class_weights(TaskSpec("regression", ["r"]), yc) is None


def test_auto_class_weights_switch_on_only_when_a_class_is_rare() -> None:
    binary = TaskSpec("binary", ["a"])
    even = np.array([[0], [1], [0], [1], [0], [1], [1], [0]], dtype=float)
    rare = np.array([[0]] * 9 + [[1]], dtype=float)  # 10 % positives
    assert class_weights_for(binary, even, "auto") is None
    assert class_weights_for(binary, rare, "auto").tolist() == pytest.approx([9.0])
    assert class_weights_for(binary, rare, "none") is None
    assert class_weights_for(binary, even, "balanced").tolist() == pytest.approx([1.0])
    six = TaskSpec("multiclass", ["c"], classes=[str(i) for i in range(6)])
    skewed = np.array([[i] for i in [0] * 40 + [1] * 30 + [2] * 20 + [3] * 5 + [4] * 3 + [5] * 2],
                      dtype=float)  # the rarest class: 2 % of the rows vs an even 16.7 %
    w = class_weights_for(six, skewed, "auto")
    assert w is not None and w.argmax().item() == 5
    uniform = np.array([[i % 6] for i in range(60)], dtype=float)
    assert class_weights_for(six, uniform, "auto") is None
    assert class_weights_for(TaskSpec("regression", ["r"]), rare, "auto") is None
