import logging

import pytest

from scifm.config.applicability import RECIPE_READS, check_applicable, inapplicable_keys
from scifm.config.load import load_config
from scifm.errors import ConfigError


def test_trainer_key_with_a_feature_family_warns_one_line(caplog):
    cfg = load_config(flags={"model.families": ["lightgbm"]}, overrides=["train.lr=3e-5"])
    with caplog.at_level(logging.WARNING, logger="scifm.config.applicability"):
        assert check_applicable(cfg, recipe="train") == ["train.lr"]
    [record] = caplog.records
    msg = record.getMessage()
    assert record.levelno == logging.WARNING and "\n" not in msg
    assert "train.lr" in msg and "lightgbm" in msg and "read by transformer" in msg


def test_keys_read_by_a_chosen_family_or_the_recipe_pass():
    cfg = load_config(flags={"model.families": ["lightgbm", "transformer"], "seed": 2},
                      overrides=["train.lr=3e-5", "params.lightgbm.num_leaves=63",
                                 "split.method=random", "model.features=ecfp"])
    assert check_applicable(cfg, recipe="train", strict=True) == []
    only_tf = inapplicable_keys(cfg, recipe="train", families=["transformer"])
    assert set(only_tf) == {"params.lightgbm.num_leaves", "model.features"}


def test_strict_refuses_and_defaults_are_not_reported():
    cfg = load_config(overrides=["pretrain.mask_prob=0.3", "train.lr=5e-4"])  # lr: its default
    with pytest.raises(ConfigError, match="pretrain.mask_prob"):
        check_applicable(cfg, recipe="train", families=["lightgbm"], strict=True)
    assert list(inapplicable_keys(cfg, recipe="train", families=["lightgbm"])) == [
        "pretrain.mask_prob"]


def test_pretrain_reads_trainer_steps_but_not_epochs_or_targets():
    cfg = load_config(flags={"data.target_cols": ["y"]},
                      overrides=["train.max_steps=200", "train.epochs=3", "pretrain.eval_steps=5"])
    assert set(inapplicable_keys(cfg, recipe="pretrain")) == {"train.epochs", "data.target_cols"}


def test_tune_and_auto_read_their_own_family_choice():
    cfg = load_config(overrides=["automl.tune.family=rf", "params.rf.n_estimators=50",
                                 "params.knn.n_neighbors=3"])
    assert list(inapplicable_keys(cfg, recipe="tune")) == ["params.knn.n_neighbors"]
    assert list(inapplicable_keys(cfg, recipe="auto")) == []  # every tunable family searched


def test_every_recipe_is_declared_and_unknown_names_are_refused():
    assert {"train", "tune", "auto", "pretrain", "finetune"} <= set(RECIPE_READS)
    with pytest.raises(ValueError, match="unknown recipe"):
        inapplicable_keys(load_config(), recipe="nope")
