"""ModalitySpec and the registry of modalities: every per-modality decision is a plug-in's."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.errors import ConfigError
from scifm.modalities import BUILTINS
from scifm.modalities.base import ModalitySpec, parse_number_or_text
from scifm.modalities.features import applies, atoms


def test_builtins_register_in_order():
    assert MODALITIES.names()[:4] == list(BUILTINS) == ["smiles", "protein", "dna", "text"]
    with pytest.raises(ConfigError, match="unknown modality 'rna'; known: smiles, protein"):
        MODALITIES.get("rna")


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_tables_are_consistent(name):
    spec = MODALITIES.get(name)
    assert spec.default_split in (*spec.groups, "random", "stratified")
    assert spec.tune_default_features in spec.tune_features
    for features in (spec.default_features, *spec.tune_features, *spec.family_features.values()):
        assert all(applies(a, name) for a in atoms(features)), features
    assert DataConfig(modality=name).input_col == spec.input_cols[0]


def test_defaults_per_modality():
    get = MODALITIES.get
    assert [get(m).default_split for m in BUILTINS] == ["scaffold", "similarity", "similarity",
                                                         "stratified"]
    assert [get(m).features_for("rf") for m in BUILTINS] == ["ecfp+rdkit2d", "kmer", "kmer",
                                                              "tfidf"]
    assert get("smiles").features_for("knn") == "ecfp"  # Tanimoto kNN wants fingerprints
    assert [get(m).tune_default_features for m in BUILTINS] == ["ecfp+rdkit2d", "kmer+protdesc",
                                                                 "kmer5", "tfidf"]
    assert [get(m).token_kind for m in BUILTINS] == ["residue", "residue", "residue", "ner"]
    assert get("smiles").corpus_item("CCO ethanol") == "CCO"
    assert get("text").corpus_item("two words") == "two words"


def test_k_mer_tokens_only_where_the_plug_in_says():
    dna, smiles = MODALITIES.get("dna"), MODALITIES.get("smiles")
    assert dna.prepare(["ACGTA"], 3) == ["ACG CGT GTA"] and dna.mask_span(3) == 3
    assert dna.prepare(["ACGTA"], 1) == ["ACGTA"] and dna.mask_span(1) == 1
    assert smiles.prepare(["CCO"], 3) == ["CCO"] and smiles.mask_span(3) == 1


def test_split_groups_of_an_unsupported_method_name_the_alternatives():
    with pytest.raises(ConfigError, match=r"'scaffold' needs SMILES inputs, not dna; use "
                                          r"'similarity' or 'random'"):
        MODALITIES.get("dna").split_groups("scaffold", ["ACGT"])
    with pytest.raises(ConfigError, match="'similarity' needs protein or DNA inputs, not text"):
        MODALITIES.get("text").split_groups("similarity", ["a b"])
    groups = MODALITIES.get("smiles").split_groups("scaffold", ["c1ccccc1C", "c1ccccc1O", "CC"])
    assert groups.tolist() == [0, 0, 1]
    smiles = MODALITIES.get("smiles")
    assert smiles.split_groups("scaffold", ["CC", "CCO", "c1ccccc1C"]).tolist() == [0, 0, 1]
    assert smiles.split_groups("scaffold", ["CC", "CCO", "c1ccccc1C", "c1ccccc1O"],
                               folds=True).tolist() == [0, 1, 2, 2]  # acyclic: one each


def test_a_spec_checks_itself():
    v = MODALITIES.get("text").validator
    with pytest.raises(ValueError, match="default_split 'scaffold'"):
        ModalitySpec(name="x", validator=v, input_cols=("x",), default_split="scaffold")
    with pytest.raises(ValueError, match="at least one input column"):
        ModalitySpec(name="x", validator=v, input_cols=())
    spec = ModalitySpec(name="x", validator=v, input_cols=("x",))
    assert spec.label == "x" and spec.default_split == "random" and spec.nn_similarity is None
    with pytest.raises(ConfigError, match="no tokenizer"):
        spec.tokenizer(["a"], None)


def test_further_columns_parse_as_numbers_or_text():
    assert parse_number_or_text("t", " 298.5 ") == 298.5
    assert parse_number_or_text("t", np.int64(3)) == 3.0
    assert parse_number_or_text("s", " water ") == "water"
    for empty in (None, float("nan"), "", " NA "):
        with pytest.raises(ValueError, match="missing input: column 't' is empty"):
            parse_number_or_text("t", empty)
