from pathlib import Path

import pytest
import yaml

from scifm.config.load import (
    config_to_yaml,
    explicit_keys,
    load_config,
    parse_override,
    save_config,
)
from scifm.config.schema import ExperimentConfig
from scifm.config.training import PRETRAIN_DEFAULT_STEPS, pretrain_max_steps
from scifm.errors import ConfigError

CONFIGS = sorted((Path(__file__).parents[3] / "configs").rglob("*.yaml"))


def test_precedence_defaults_yaml_flags_overrides(tmp_path):
    spec = tmp_path / "exp.yaml"
    spec.write_text("seed: 3\ntrain: {lr: 0.001, epochs: 5}\nmodel: {size: base}\n")
    cfg = load_config(spec, flags={"train.epochs": 7, "data.path": None},
                      overrides=["train.lr=3e-5"])
    assert cfg.seed == 3  # from YAML
    assert cfg.model.size == "base"  # from YAML
    assert cfg.train.epochs == 7  # flag beats YAML
    assert cfg.train.lr == pytest.approx(3e-5)  # --set beats everything
    assert cfg.data.path is None  # None flags are ignored
    assert cfg.train.batch_size == ExperimentConfig().train.batch_size  # default kept


def test_override_values_parsed_as_yaml():
    assert parse_override("model.init=/a/b") == ("model.init", "/a/b")
    assert parse_override("split.sizes=[0.7, 0.2, 0.1]") == ("split.sizes", [0.7, 0.2, 0.1])
    assert parse_override("tracking.enabled=false") == ("tracking.enabled", False)
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.lr")


@pytest.mark.parametrize(
    "override, field, allowed",
    [
        ("model.size=huge", "model.size", "'tiny', 'small' or 'base'"),
        ("train.lrr=1", "train.lrr", "unknown key"),
        ("split.method=scaffolds", "split.method", "scaffold"),
        ("train.lr=-1", "train.lr", "> 0"),
        ("split.sizes=[0.5, 0.5, 0.5]", "split.sizes", "summing to 1"),
    ],
)
def test_invalid_config_names_field_and_allowed(override, field, allowed):
    with pytest.raises(ConfigError) as exc:
        load_config(overrides=[override])
    msg = str(exc.value)
    assert field in msg and allowed in msg
    assert "\n" not in msg


def test_target_cols_accept_a_list_and_keep_commas_in_a_name():
    cfg = load_config(flags={"data.target_cols": ["a", "b"]})  # several targets: a list
    assert cfg.data.target_cols == ["a", "b"]
    one = load_config(flags={"data.target_cols": "hepatic, cardiac"})  # a string: one column
    assert one.data.target_cols == ["hepatic, cardiac"]


def test_family_lists_accept_one_comma_separated_string():
    cfg = load_config(flags={"model.families": "lightgbm, rf", "automl.auto.families": "knn,svm,"})
    assert cfg.model.families == ["lightgbm", "rf"]
    assert cfg.automl.auto.families == ["knn", "svm"]
    assert load_config().automl.auto.families is None  # every tunable family
    with pytest.raises(ConfigError, match="families"):  # built by auto, never searched
        load_config(flags={"automl.auto.families": "stacking"})
    assert load_config(flags={"automl.auto.families": "transformer"}).automl.auto.families == [
        "transformer"]  # searched (fine-tuned once, scored on val) with a model.init checkpoint


@pytest.mark.parametrize("layer", ["yaml", "yaml_method", "flag", "set", "set_section"])
def test_split_column_form_is_one_syntax_everywhere(tmp_path, layer):
    spec = tmp_path / "s.yaml"
    spec.write_text({"yaml": "split: column:fold\n",
                     "yaml_method": "split: {method: 'column:fold', sizes: [0.7, 0.2, 0.1]}\n"}
                    .get(layer, "seed: 1\n"))
    cfg = load_config(spec, flags={"split.method": "column:fold"} if layer == "flag" else None,
                      overrides={"set": ["split.method=column:fold"],
                                 "set_section": ["split=column:fold"]}.get(layer, []))
    assert (cfg.split.method, cfg.split.column) == ("predefined", "fold")
    long = load_config(overrides=["split.method=predefined", "split.column=fold"])
    assert long.split == cfg.split.model_copy(update={"sizes": long.split.sizes})


def test_split_method_alone_and_later_layers_win(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("split: column:fold\n")
    assert load_config(spec, flags={"split.method": "random"}).split.method == "random"
    cfg = load_config(spec, flags={"split.method": "column:other"})
    assert (cfg.split.method, cfg.split.column) == ("predefined", "other")
    spec.write_text("split: scaffold\n")
    assert load_config(spec, overrides=["split.sizes=[0.6, 0.2, 0.2]"]).split.sizes[0] == 0.6
    with pytest.raises(ConfigError, match="needs a column name"):
        load_config(overrides=["split.method=column:"])
    assert ExperimentConfig(split="column:fold").split.column == "fold"


def test_explicit_keys_are_those_given_in_any_layer(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text("train: {lr: 0.001}\ndata: {smiles: {neutralize: true}}\n")
    cfg = load_config(spec, flags={"seed": 3, "data.path": None}, overrides=["split=random"])
    assert explicit_keys(cfg) == {"train.lr", "data.smiles.neutralize", "seed", "split.method"}
    assert explicit_keys(cfg.model_copy(update={"out": "x"})) >= explicit_keys(cfg)
    assert load_config() == load_config(overrides=["seed=0"])  # not part of equality


def test_pretrain_steps_are_train_max_steps():
    assert pretrain_max_steps(load_config().train) == PRETRAIN_DEFAULT_STEPS == 1000
    assert pretrain_max_steps(load_config(overrides=["train.max_steps=200"]).train) == 200
    with pytest.raises(ConfigError, match="pretrain.max_steps is now train.max_steps"):
        load_config(overrides=["pretrain.max_steps=200"])


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(overrides=["model.size=tiny", "seed=11", "split.n_folds=5", "split.fold=2"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg
    assert yaml.safe_load(config_to_yaml(cfg))["model"]["size"] == "tiny"


def test_fold_out_of_range_rejected():
    with pytest.raises(ConfigError, match="fold"):
        load_config(overrides=["split.n_folds=3", "split.fold=3"])


def test_missing_or_broken_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_configs_validate(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("# scifm "), "each shipped config opens with its launch command"
    cfg = load_config(path)
    assert cfg.data.target_cols


@pytest.mark.parametrize("modality, column", [("smiles", "smiles"), ("protein", "sequence"),
                                              ("dna", "sequence"), ("text", "text")])
def test_input_column_defaults_by_modality(modality, column):
    assert load_config(flags={"data.modality": modality}).data.input_col == column
    assert load_config(flags={"data.modality": modality,
                              "data.input_col": "x"}).data.input_col == "x"


def test_bf16_accepts_yaml_on_off():
    assert load_config(overrides=["train.bf16=off"]).train.bf16 == "off"
    assert load_config(overrides=["train.bf16=on"]).train.bf16 == "on"
    with pytest.raises(ConfigError, match="train.bf16"):
        load_config(overrides=["train.bf16=maybe"])


@pytest.mark.parametrize(("modality", "expected"), [("smiles", "scaffold"), ("text", "stratified"),
                                                    ("protein", "similarity"),
                                                    ("dna", "similarity")])
def test_split_default_follows_the_modality(modality, expected) -> None:
    assert load_config(flags={"data.modality": modality}).split.method == expected


def test_an_explicit_split_wins_over_the_modality_default(tmp_path) -> None:
    cfg = load_config(flags={"data.modality": "text", "split.method": "random"})
    assert cfg.split.method == "random"
    spec = tmp_path / "spec.yaml"
    spec.write_text("data: {modality: dna}\nsplit: {method: scaffold}\n")
    assert load_config(spec).split.method == "scaffold"  # the recipe then says why it fails
