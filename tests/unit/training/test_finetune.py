"""The fine-tuning components: heads (labels, loss, validation metric), the one Trainer-arguments
builder, the tokenizer rule and checkpoint handling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, roc_auc_score
from transformers import EvalPrediction

from scifm.config.schema import ModelConfig, TrainConfig
from scifm.featurizers.tokenizers import build_tokenizer
from scifm.tasks import TaskSpec
from scifm.training.args import Selection, training_arguments
from scifm.training.finetune import planned_steps, resume_point
from scifm.training.heads import TIE_BREAK, SequenceHead, TokenHead, validation_score
from scifm.training.losses import balanced_token_weights, make_token_loss
from scifm.training.tokenizer import training_tokenizer

RNG = np.random.default_rng(0)


def test_validation_score_is_the_evaluation_metric_on_raw_outputs() -> None:
    binary = TaskSpec("binary", ["a", "b"])
    logits = RNG.normal(size=(40, 2))
    y = (RNG.random((40, 2)) < 0.5).astype(float)
    y[::7, 1] = np.nan
    expected = np.mean([roc_auc_score(y[~np.isnan(y[:, j]), j], logits[~np.isnan(y[:, j]), j])
                        for j in range(2)])
    assert validation_score(binary, logits, y) == pytest.approx(expected, abs=1e-12)

    multi = TaskSpec("multiclass", ["k"], classes=["x", "y", "z"])
    logits = RNG.normal(size=(30, 3))
    labels = RNG.integers(0, 3, size=(30, 1)).astype(float)
    assert validation_score(multi, logits, labels) == pytest.approx(
        f1_score(labels[:, 0].astype(int), logits.argmax(1), average="macro"))

    regression = TaskSpec("regression", ["v"])
    mean, std = np.array([10.0]), np.array([2.0])
    z, t = RNG.normal(size=(25, 1)), RNG.normal(size=(25, 1))
    rmse = np.sqrt(np.mean(((z - t) * std) ** 2))  # in target units
    assert validation_score(regression, z, t, mean, std) == pytest.approx(rmse)
    assert np.isnan(validation_score(binary, logits[:, :2], np.ones((30, 2))))  # one class


def test_sequence_head_selects_with_a_loss_tie_break_or_on_the_loss() -> None:
    task = TaskSpec("binary", ["y"])
    y = np.array([[0.0], [1.0], [1.0], [0.0]])
    head = SequenceHead.fit(task, "smiles", 1, y)
    assert head.selection(None) is None
    assert head.selection(y) == Selection("selection", True, needs_loss=True)
    assert head.selection(np.ones((3, 1))) == Selection("loss", False, needs_loss=True)
    pred = EvalPrediction(predictions=np.array([[0.1], [2.0], [1.5], [-1.0]]), label_ids=y,
                          losses=np.array([0.5, 0.7]))
    out = head.metrics()(pred)
    assert out["roc_auc"] == 1.0 and out["selection"] == pytest.approx(1.0 - TIE_BREAK * 0.6)

    reg = SequenceHead.fit(TaskSpec("regression", ["v"]), "smiles", 1, np.array([[1.0], [3.0]]))
    assert reg.target_mean[0] == 2.0 and reg.target_std[0] == 1.0
    np.testing.assert_allclose(reg.labels(np.array([[3.0]])), [[1.0]])
    assert reg.selection(np.array([[1.0], [2.0]])).greater_is_better is False


def test_token_head_labels_fill_label_and_weighted_loss() -> None:
    ner = TokenHead.fit("ner", "text", [["B-X", "O"], ["I-X", None]])
    assert ner.labels == ["O", "B-X", "I-X"] and ner.fill_label == "O"
    res = TokenHead.fit("residue", "protein", [["H", "H", "E"], [None, "C", "H"]], [["Q"]])
    assert res.labels == ["C", "E", "H", "Q"] and res.fill_label == "H"
    assert res.corpus([["M", "K"]]) == ["MK"] and ner.corpus([["a", "b"]]) == ["a b"]
    assert ner.loss(ModelConfig(), [["O"]]) is None  # the model's own cross-entropy

    weights = balanced_token_weights([["H", "H", "E"], [None, "C", "H"]], res.labels)
    np.testing.assert_allclose(weights.numpy(), [5 / 4, 5 / 4, 5 / 12, 1.0], rtol=1e-6)
    logits = torch.randn(2, 4, 4)
    labels = torch.tensor([[2, 2, -100, 1], [0, -100, 3, 2]])
    loss = make_token_loss(weights)({"logits": logits}, labels)
    expected = F.cross_entropy(logits.reshape(8, 4), labels.reshape(8), weight=weights,
                               ignore_index=-100)
    assert torch.allclose(loss, expected)
    assert make_token_loss(weights)({"logits": logits}, torch.full((2, 4), -100)) == 0.0


def test_one_training_arguments_builder(tmp_path) -> None:
    tc = TrainConfig(epochs=3, lr=1e-3, batch_size=4)
    tune = training_arguments(tmp_path, tc, 7, False, select=Selection("selection", True, True))
    assert tune.eval_strategy == "epoch" and tune.save_strategy == "epoch"
    assert tune.load_best_model_at_end and tune.metric_for_best_model == "selection"
    assert tune.greater_is_better and tune.include_for_metrics == ["loss"]
    assert (tune.seed, tune.data_seed, tune.save_total_limit) == (7, 7, 2)
    plain = training_arguments(tmp_path, tc, 0, False)
    assert plain.eval_strategy == "no" and plain.save_strategy == "epoch"  # resumable
    assert not plain.load_best_model_at_end
    pre = training_arguments(tmp_path, tc, 0, False, eval_steps=5, max_steps=20,
                             group_by_length=False)
    assert pre.eval_strategy == "steps" and pre.max_steps == 20
    assert pre.eval_steps == pre.save_steps == pre.logging_steps == 5


def test_tokenizer_rule_and_checkpoints(tmp_path) -> None:
    args = training_arguments(tmp_path / "ckpt", TrainConfig(), 0, False)
    cfg = ModelConfig(max_length=32)
    built = training_tokenizer("smiles", ["CCO", "c1ccccc1"], cfg, args)
    assert built.get_vocab() == build_tokenizer("smiles", ["CCO", "c1ccccc1"], cfg).get_vocab()
    saved = tmp_path / "ckpt" / "checkpoint-3"
    built.save_pretrained(str(saved))
    assert resume_point(tmp_path / "ckpt", resume=True) == str(saved)
    resumed = training_tokenizer("smiles", ["N"], cfg, args, resume_from=str(saved))
    assert resumed.get_vocab() == built.get_vocab()  # not retrained on the new corpus
    assert resume_point(tmp_path / "ckpt", resume=False) is None
    assert not saved.exists()  # an earlier run's checkpoints are removed
    assert planned_steps(TrainConfig(epochs=2, batch_size=4, grad_accum=2), 17) == 6
    assert planned_steps(TrainConfig(max_steps=9), 17) == 9
