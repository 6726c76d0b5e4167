"""Backbone presets and loading any local Hugging Face checkpoint through ``model.init``."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, BertForSequenceClassification

from scifm.config.schema import ModelConfig
from scifm.errors import ConfigError
from scifm.models.backbones import Backbone, build_backbone_config, check_checkpoint
from scifm.tasks import TaskSpec


def test_presets_shapes_and_sizes_increase() -> None:
    cfg = ModelConfig(max_length=100, dropout=0.25)
    tiny = build_backbone_config("tiny", 40, cfg)
    small = build_backbone_config("small", 40, cfg)
    base = build_backbone_config("base", 40, cfg)
    assert (tiny.num_hidden_layers, tiny.hidden_size, tiny.num_attention_heads,
            tiny.intermediate_size) == (2, 64, 2, 128)
    assert (small.num_hidden_layers, small.hidden_size) == (4, 256)
    assert (base.num_hidden_layers, base.hidden_size, base.intermediate_size) == (12, 768, 3072)
    assert tiny.max_position_embeddings >= 102 and tiny.vocab_size == 40
    assert tiny.hidden_dropout_prob == 0.25 and tiny.attention_probs_dropout_prob == 0.25
    n_tiny = BertForSequenceClassification(tiny).num_parameters()
    n_small = BertForSequenceClassification(small).num_parameters()
    assert n_tiny < n_small


def test_unknown_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="model.size"):
        build_backbone_config("huge", 10, ModelConfig())  # type: ignore[arg-type]


def test_fresh_backbone_has_task_outputs_and_labels() -> None:
    task = TaskSpec("multiclass", ["kind"], classes=["a", "b", "c"])
    model = Backbone.sequence(task).load(ModelConfig(size="tiny"), vocab_size=30)
    out = model(input_ids=torch.tensor([[2, 7, 8, 3]]))
    assert out.logits.shape == (1, 3)
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    assert model.config.problem_type == "single_label_classification"


def _save_tiny_bert(path, num_labels: int = 2) -> None:
    cfg = BertConfig(vocab_size=30, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=66, num_labels=num_labels)
    torch.manual_seed(0)
    BertForSequenceClassification(cfg).save_pretrained(path)


def test_init_loads_a_local_checkpoint_and_replaces_the_head(tmp_path) -> None:
    _save_tiny_bert(tmp_path, num_labels=2)
    task = TaskSpec("regression", ["a", "b", "c"])
    model = Backbone.sequence(task).load(ModelConfig(init=tmp_path, dropout=0.0))
    assert model.config.num_labels == 3 and model.config.problem_type == "regression"
    assert model.config.hidden_dropout_prob == 0.0
    ref = BertForSequenceClassification.from_pretrained(tmp_path)
    # the encoder weights come from the checkpoint, the head is new (3 outputs)
    emb = model.bert.embeddings.word_embeddings.weight
    assert torch.equal(emb, ref.bert.embeddings.word_embeddings.weight)
    assert model.classifier.weight.shape == (3, 32)


def test_missing_or_broken_checkpoint_is_one_line_config_error(tmp_path) -> None:
    task = TaskSpec("binary", ["y"])
    msg = r"model.init: no Hugging Face checkpoint \(config.json\)"
    with pytest.raises(ConfigError, match=msg):
        Backbone.sequence(task).load(ModelConfig(init=tmp_path))
    with pytest.raises(ConfigError):
        check_checkpoint(tmp_path / "nope")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')  # config but no weights
    with pytest.raises(ConfigError, match="model.init") as err:
        Backbone.sequence(task).load(ModelConfig(init=tmp_path))
    assert "\n" not in str(err.value)


def test_one_loader_for_token_and_masked_lm_heads(tmp_path) -> None:
    """Token and MLM heads: fresh from a preset, or from a checkpoint (new head when shapes
    differ; an MLM's embeddings grow to a larger vocabulary); weights read from safetensors."""
    token = Backbone.token(["O", "B-X", "I-X"])
    fresh = token.load(ModelConfig(size="tiny"), vocab_size=30)
    assert fresh(input_ids=torch.tensor([[2, 7, 8, 3]])).logits.shape == (1, 4, 3)
    assert fresh.config.id2label == {0: "O", 1: "B-X", 2: "I-X"}
    _save_tiny_bert(tmp_path / "seq")
    tagger = token.load(ModelConfig(init=tmp_path / "seq", dropout=0.0))
    assert tagger.config.num_labels == 3 and tagger.config.hidden_dropout_prob == 0.0
    assert tagger(input_ids=torch.tensor([[2, 7, 3]])).logits.shape == (1, 3, 3)

    torch.manual_seed(0)
    BertForMaskedLM(build_backbone_config("tiny", 30, ModelConfig(max_length=32))).save_pretrained(
        tmp_path / "mlm")
    mlm = Backbone.mlm().load(ModelConfig(init=tmp_path / "mlm"), vocab_size=40)
    assert mlm.get_input_embeddings().num_embeddings == 40
    again = Backbone.mlm().from_checkpoint(tmp_path / "mlm")  # as saved, no new head
    assert again.get_input_embeddings().num_embeddings == 30
    (tmp_path / "mlm" / "model.safetensors").rename(tmp_path / "mlm" / "other.safetensors")
    with pytest.raises(ConfigError, match="model.init"):  # no safetensors weights: refused
        Backbone.mlm().load(ModelConfig(init=tmp_path / "mlm"), vocab_size=30)
