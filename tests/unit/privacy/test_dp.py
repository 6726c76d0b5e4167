"""The ``dplinear`` family: Opacus DP-SGD records the accountant's epsilon; plain without it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scifm.config.schema import ExperimentConfig
from scifm.models import MODEL_META, load_predictor
from scifm.models.dplinear import DPLinearPredictor
from scifm.models.params import DPLinearParams
from scifm.models.registry import build_predictor, get_family
from scifm.privacy.dp import DPLinearModel, DPSettings
from scifm.tasks import TaskSpec

pytest.importorskip("opacus")

SMILES = [f"{'C' * k}{'O' * j}" for k in range(1, 13) for j in range(8)]
"""96 small molecules; the label is "more than three oxygens"."""
Y = np.array([[float(s.count("O") > 3)] for s in SMILES])
BINARY = TaskSpec("binary", ["y"])


def _dp(epsilon: float | None) -> DPLinearPredictor:
    return DPLinearPredictor(BINARY, "smiles", features="ecfp", seed=3,
                             params={"epochs": 8, "batch_size": 16},
                             dp={"epsilon": epsilon, "delta": 1e-4, "max_grad_norm": 1.0})


def test_dp_run_records_the_accountants_epsilon(tmp_path):
    from opacus.accountants import PRVAccountant

    model = _dp(2.0).fit(SMILES, Y)
    spent = model.privacy_
    assert spent["accountant"] == "prv" and spent["delta"] == 1e-4
    assert 0 < spent["epsilon"] <= 2.0 + 0.05  # the noise was calibrated to the target
    assert spent["noise_multiplier"] > 0 and spent["max_grad_norm"] == 1.0
    # an independent accountant fed the same mechanism spends the recorded epsilon
    accountant = PRVAccountant()
    accountant.history = [(spent["noise_multiplier"], spent["sample_rate"], spent["steps"])]
    assert accountant.get_epsilon(1e-4) == pytest.approx(spent["epsilon"], rel=1e-3)
    model.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / MODEL_META).read_text())
    assert meta["privacy"] == pytest.approx(spent)


def test_dp_model_saves_and_loads_identically(tmp_path):
    model = _dp(4.0).fit(SMILES, Y)
    model.save(tmp_path / "a" / "model")
    loaded = load_predictor(tmp_path / "a" / "model")
    assert isinstance(loaded, DPLinearPredictor)
    np.testing.assert_array_equal(loaded.predict(SMILES), model.predict(SMILES))
    assert loaded.privacy_ == model.privacy_
    assert sorted(p.name for p in (tmp_path / "a" / "model").iterdir()) == [
        "featurizer.json", "manifest.json", MODEL_META, "weights.safetensors"]


def test_without_epsilon_it_trains_plainly_and_records_no_privacy(tmp_path):
    model = _dp(None).fit(SMILES, Y)
    assert model.privacy_ is None
    acc = ((model.predict(SMILES)[:, 0] > 0.5) == Y[:, 0]).mean()
    assert acc > 0.8
    model.save(tmp_path / "model")
    assert json.loads((tmp_path / "model" / MODEL_META).read_text())["privacy"] is None


def test_family_is_registered_and_built_from_privacy_dp():
    spec = get_family("dplinear")
    assert "privacy.dp" in spec.config_keys and not spec.in_auto
    cfg = ExperimentConfig(privacy={"dp": {"epsilon": 3.0}}, model={"features": "ecfp"})
    predictor = build_predictor("dplinear", BINARY, "smiles", cfg, work_dir=".")
    assert predictor.dp == DPSettings(epsilon=3.0, delta=1e-5, max_grad_norm=1.0)


@pytest.mark.parametrize("epsilon", [None, 8.0])
def test_multiclass_and_regression_mask_missing_labels(epsilon):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    dp = DPSettings(epsilon=epsilon)
    params = DPLinearParams(epochs=12, batch_size=32, lr=0.1, optimizer="adam",
                            normalize="standard")
    cls = np.argmax(X[:, :3], axis=1).astype(float)[:, None]
    cls[::7] = np.nan
    probs = DPLinearModel("multiclass", 3, params, dp).fit(X, cls).predict(X)
    assert probs.shape == (200, 3) and np.allclose(probs.sum(axis=1), 1)
    y = np.c_[X @ [1.0, -2.0, 0.5, 0, 0] + 3, X[:, 0]]
    y[::5, 1] = np.nan
    pred = DPLinearModel("regression", 2, params, dp).fit(X, y).predict(X)
    assert pred.shape == (200, 2) and np.isfinite(pred).all()
    if epsilon is None:  # plain least squares recovers the linear signal
        assert np.corrcoef(pred[:, 0], y[:, 0])[0, 1] > 0.95
        assert (np.argmax(probs, axis=1) == np.nan_to_num(cls[:, 0], nan=-1)).mean() > 0.7


def test_dp_trainer_runs_dp_sgd_inside_transformers_trainer(tmp_path):
    import torch
    from opacus.optimizers import DPOptimizer
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        TrainingArguments,
        default_data_collator,
    )

    from scifm.privacy.dp_trainer import DPTrainer

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(
        vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16, num_labels=2))
    ids = torch.randint(5, 40, (64, 8), generator=torch.Generator().manual_seed(0))
    rows = [{"input_ids": ids[i], "attention_mask": torch.ones(8, dtype=torch.long),
             "labels": int(ids[i, 0] > 22)} for i in range(64)]
    args = TrainingArguments(str(tmp_path), per_device_train_batch_size=16, num_train_epochs=2,
                             learning_rate=1e-3, report_to=[], save_strategy="no",
                             use_cpu=True, seed=0, logging_strategy="no", disable_tqdm=True)
    trainer = DPTrainer(model=model, args=args, train_dataset=rows,
                        data_collator=default_data_collator,
                        dp=DPSettings(epsilon=3.0, delta=1e-3, max_grad_norm=0.5))
    trainer.train()
    assert isinstance(trainer.optimizer.optimizer, DPOptimizer)
    spent = trainer.privacy_
    assert spent["steps"] == spent["steps_taken"] == trainer.state.global_step == 8
    assert 0 < spent["epsilon"] <= 3.0 + 0.05 and spent["sample_rate"] == 0.25


def test_privacy_dp_is_flagged_for_families_that_ignore_it():
    from scifm.config.applicability import inapplicable_keys

    cfg = ExperimentConfig(privacy={"dp": {"epsilon": 3.0}})
    explicit = ["privacy.dp.epsilon"]
    assert "privacy.dp.epsilon" in inapplicable_keys(cfg, explicit, recipe="train",
                                                     families=["lightgbm"])
    assert not inapplicable_keys(cfg, explicit, recipe="train", families=["dplinear"])
