"""PEFT and freezing: what is trainable, what stays frozen, and that runs save and reload."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoModelForSequenceClassification,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

from scifm.config.schema import ModelConfig, PeftConfig, TrainConfig
from scifm.errors import ConfigError
from scifm.models.backbones import build_backbone_config
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec
from scifm.training.finetune import FineTuner
from scifm.training.peft import BASE_DIR, freeze_backbone, head_modules, is_adapter

FRAGS = ["C", "CC", "c1ccccc1", "O", "C(=O)", "N", "Cl", "CCN", "OC", "F", "S"]
RNG = np.random.default_rng(0)
X = ["".join(RNG.choice(FRAGS, size=int(RNG.integers(2, 6)))) for _ in range(40)]
Y = np.array([[1.0 if "N" in s else 0.0] for s in X])
TASK = TaskSpec("binary", ["has_n"], classes=["no", "yes"])


def fit(method: str = "lora", lr: float = 1e-2, val: bool = False, **peft: object):
    train = TrainConfig(max_steps=4, lr=lr, batch_size=16, bf16="off", warmup_ratio=0.0,
                        patience=50)
    pred = FineTuner(TASK, "smiles", ModelConfig(size="tiny", max_length=64), train, seed=0,
                     peft_cfg=PeftConfig(method=method, **peft))
    if val:
        return pred.fit(X[:32], Y[:32], X[32:], Y[32:])
    return pred.fit(X, Y)


def tiny_bert() -> BertForSequenceClassification:
    torch.manual_seed(0)
    return BertForSequenceClassification(
        build_backbone_config("tiny", 30, ModelConfig(max_length=32), num_labels=1))


@pytest.fixture(scope="module")
def lora() -> FineTuner:
    return fit("lora", val=True)


def test_head_modules_per_architecture() -> None:
    assert head_modules(tiny_bert()) == ["classifier"]
    distil = DistilBertForSequenceClassification(DistilBertConfig(
        vocab_size=30, dim=32, n_layers=1, n_heads=2, hidden_dim=64, num_labels=1))
    assert head_modules(distil) == ["pre_classifier", "classifier"]


def test_freeze_first_layers_and_linear_probe() -> None:
    model = tiny_bert()
    freeze_backbone(model, 1)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert not any(n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for n in trainable)
    assert any(n.startswith("bert.encoder.layer.1.") for n in trainable)
    assert {"classifier.weight", "classifier.bias"} <= trainable

    probe = tiny_bert()
    freeze_backbone(probe, None)
    assert {n for n, p in probe.named_parameters() if p.requires_grad} == \
        {"classifier.weight", "classifier.bias"}
    with pytest.raises(ConfigError, match="encoder has 2 layers"):
        freeze_backbone(tiny_bert(), 5)


def test_freezing_options_need_method_none() -> None:
    with pytest.raises(ValueError, match="only apply with method: none"):
        PeftConfig(method="lora", linear_probe=True)


def test_lora_trains_only_adapter_and_head(lora) -> None:
    model = lora.predictor_.model_
    assert is_adapter(model)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or "modules_to_save" in n for n in names)
    assert any("modules_to_save" in n and "classifier" in n for n in names)
    assert lora.n_trainable_parameters_ == sum(p.numel() for p in model.parameters()
                                               if p.requires_grad)
    # tiny BERT: 2 layers x (query, value) x (A: 8x64 + B: 64x8) + head 64 + 1
    assert lora.n_trainable_parameters_ == 2 * 2 * 2 * 8 * 64 + 65
    assert lora.n_trainable_parameters_ < 0.1 * lora.n_parameters_


def test_lora_leaves_base_weights_unchanged(lora) -> None:
    base = load_file(str(lora.predictor_.peft_base_.path / "model.safetensors"))
    checked = 0
    for name, param in lora.predictor_.model_.named_parameters():
        if "lora_" in name or "modules_to_save" in name:
            continue
        key = (name.removeprefix("base_model.model.").replace(".base_layer", "")
               .replace(".original_module", ""))
        assert torch.equal(param.detach().cpu(), base[key]), key
        checked += 1
    assert checked > 10
    lora_b = [p for n, p in lora.predictor_.model_.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_b)  # initialised at zero, so it was trained


def test_lora_run_reloads_with_identical_predictions(lora, tmp_path) -> None:
    lora.save(tmp_path / "model")
    files = {p.name for p in (tmp_path / "model").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", BASE_DIR, "scifm.json"} <= files
    assert not list((tmp_path / "model").rglob("*.bin"))
    meta = json.loads((tmp_path / "model" / "scifm.json").read_text())
    assert meta["peft"]["method"] == "lora" and meta["peft"]["adapter"] is True
    assert meta["n_trainable_parameters"] == lora.n_trainable_parameters_
    again = TransformerPredictor.load(tmp_path / "model")
    np.testing.assert_allclose(again.predict(X), lora.predict(X), rtol=1e-6, atol=1e-7)


def test_merged_lora_is_a_plain_model_with_the_same_predictions(lora, tmp_path) -> None:
    merged = fit("lora", val=True, merge=True)
    assert not is_adapter(merged.predictor_.model_)
    np.testing.assert_allclose(merged.predict(X), lora.predict(X), atol=1e-5)
    merged.save(tmp_path / "m")
    assert not (tmp_path / "m" / "adapter_config.json").exists()
    plain = AutoModelForSequenceClassification.from_pretrained(tmp_path / "m")
    assert not any("lora" in n for n, _ in plain.named_parameters())
    np.testing.assert_allclose(TransformerPredictor.load(tmp_path / "m").predict(X),
                               merged.predict(X), atol=1e-6)


@pytest.mark.parametrize("method,extra", [("lora", {}), ("adalora", {}), ("ia3", {}),
                                          ("prompt_tuning", {"num_virtual_tokens": 4})])
def test_each_method_trains_saves_and_reloads(method, extra, tmp_path) -> None:
    trained = fit(method, **extra)
    untouched = fit(method, lr=1e-9, **extra)  # same seed and init, (almost) no update
    assert 0 < trained.n_trainable_parameters_ < trained.n_parameters_ / 2
    change = np.abs(trained.predict_logits(X) - untouched.predict_logits(X)).max()
    assert change > 1e-4, f"{method} did not change the predictions"
    if method == "adalora":  # the rank allocator ran after the optimiser steps
        assert trained.predictor_.model_.peft_config["default"].rank_pattern
    trained.save(tmp_path / method)
    again = TransformerPredictor.load(tmp_path / method)
    np.testing.assert_allclose(again.predict(X), trained.predict(X), rtol=1e-6, atol=1e-7)


def test_linear_probe_trains_only_the_head() -> None:
    probe = fit("none", linear_probe=True)
    assert probe.n_trainable_parameters_ == 64 + 1
    assert all(p.requires_grad == n.startswith("classifier")
               for n, p in probe.predictor_.model_.named_parameters())
