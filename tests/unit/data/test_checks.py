"""Warnings a scientist needs (issue 9): repeated ids, conflicting duplicates over a threshold,
a sequence column that fits another modality, decimal commas (hint, and data.decimal reading)."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from scifm.config.schema import DataConfig
from scifm.data.checks import DECIMAL_HINT, modality_hint
from scifm.data.clean import clean_table
from scifm.errors import ConfigError, DataError
from scifm.utils.io import to_json


def _cfg(**kw) -> DataConfig:
    kw.setdefault("target_cols", ["y"])
    return DataConfig(**kw)


def _molecules(y: list[object], ids: list[str] | None = None) -> pd.DataFrame:
    smiles = ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1", "CCOC", "CCCC", "CC(C)O", "CCS", "CCF"]
    df = pd.DataFrame({"smiles": smiles[: len(y)], "y": y})
    if ids is not None:
        df["name"] = ids
    return df


def test_repeated_ids_are_reported(caplog):
    df = _molecules([1, 2, 3, 4, 5, 6], ids=["a", "b", "a", "c", "a", "c"])
    with caplog.at_level(logging.WARNING, logger="scifm"):
        rep = clean_table(df, _cfg(id_col="name")).report
    assert rep["duplicate_ids"] == {"column": "name", "n_ids": 2, "n_rows": 5, "examples": [
        {"id": "a", "rows": [0, 2, 4]}, {"id": "c", "rows": [3, 5]}]}
    msg = "id column 'name' has 2 repeated value(s) on 5 rows, e.g. 'a' (rows 0, 2, 4)"
    assert any(w.startswith(msg) for w in rep["warnings"])
    assert any(r.levelno == logging.WARNING and msg in r.getMessage() for r in caplog.records)
    clean = clean_table(df.assign(name=list("abcdef")), _cfg(id_col="name")).report
    assert "duplicate_ids" not in clean and clean["warnings"] == []


@pytest.mark.parametrize(("policy", "effect", "result"), [
    ("mean", "labels averaged", "averaged to 3.5"), ("first", "first row's labels kept",
                                                      "kept first (1)"),
    ("drop", "conflicting groups dropped", "group dropped"), ("keep", "every row kept as it is",
                                                              "all rows kept")])
def test_conflicting_duplicates_over_the_threshold(caplog, policy, effect, result):
    df = pd.DataFrame({"smiles": ["CCO", "OCC", "CCN", "NCC", "CCC", "CCCl", "c1ccccc1"],
                       "y": [1.0, 6.0, 2.0, 2.2, 3.0, 2.5, 3.5]})  # ethanol: 1 vs 6
    with caplog.at_level(logging.WARNING, logger="scifm"):
        rep = clean_table(df, _cfg(duplicates=policy)).report
    conf = rep["conflicting_duplicates"]
    assert conf["policy"] == policy and conf["policy_effect"] == effect
    assert conf["n_groups_over"] == {"y": 1}  # the amine pair (spread 0.2) is under one std
    worst = conf["worst"][0]
    assert worst["rows"] == [0, 1] and worst["values"] == [1.0, 6.0]
    assert worst["spread"] == pytest.approx(5.0) and worst["result"] == result
    assert "one standard deviation" in conf["threshold_rule"]
    line = next(w for w in rep["warnings"] if "disagree" in w)
    assert line.startswith("1 duplicate group(s) of 'y' disagree by more than ")
    assert f"spread 5); policy data.duplicates={policy}: {effect}" in line
    assert any(line in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    json.loads(to_json(rep))
    # an explicit threshold in target units; above it nothing is reported
    rep = clean_table(df, _cfg(duplicates=policy, duplicate_spread_warn=0.1)).report
    assert rep["conflicting_duplicates"]["n_groups_over"] == {"y": 2}
    assert rep["conflicting_duplicates"]["threshold"] == {"y": 0.1}
    rep = clean_table(df, _cfg(duplicates=policy, duplicate_spread_warn=5.0)).report
    assert "conflicting_duplicates" not in rep


def test_classification_duplicates_have_no_spread_warning():
    df = pd.DataFrame({"smiles": ["CCO", "OCC", "CCN", "CCC"], "y": [0, 1, 1, 0]})
    assert "conflicting_duplicates" not in clean_table(df, _cfg()).report


def _dna(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), 60)) for _ in range(n)]


def test_dna_given_as_protein_is_flagged(caplog):
    seqs = _dna(30)
    seqs[0] = seqs[0][:50] + "NNNNNNNNNN"[:5] + seqs[0][55:]  # a few Ns still fit DNA
    df = pd.DataFrame({"sequence": seqs, "y": np.arange(30.0)})
    with caplog.at_level(logging.WARNING, logger="scifm"):
        rep = clean_table(df, _cfg(modality="protein")).report
    line = ("100% of the inputs in 'sequence' are written in the DNA alphabet (ACGT) although "
            "data.modality is 'protein': pass --modality dna if they are DNA sequences")
    assert line in rep["warnings"]
    assert any(r.getMessage() == line for r in caplog.records)
    assert clean_table(df, _cfg(modality="dna")).report["warnings"] == []


def test_protein_given_as_dna_and_real_proteins_are_not():
    rng = np.random.default_rng(1)
    proteins = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), 80)) for _ in range(30)]
    assert modality_hint(proteins, "protein") is None
    hint = modality_hint(proteins, "dna")
    assert hint is not None and "pass --modality protein" in hint
    assert modality_hint(_dna(30), "smiles") is None  # no alphabet: not a sequence modality
    assert modality_hint(_dna(3), "protein") is None  # too few to judge


def test_decimal_commas_get_the_hint():
    df = _molecules(["1,25", "2,5", "0,75", "3,1", "1,0", "2,2"])
    with pytest.raises(ConfigError) as err:
        clean_table(df, _cfg())
    assert str(err.value) == ("cannot infer the task: column 'y' ('1,25', '2,5', '0,75') "
                              f"{DECIMAL_HINT}")
    assert DECIMAL_HINT == "looks like decimal commas: pass --set data.decimal=',' (or convert)"
    with pytest.raises(DataError, match="looks like decimal commas: pass --set data.decimal"):
        clean_table(df, _cfg(task="regression"))


def test_decimal_comma_option_reads_the_numbers():
    df = _molecules(["1,25", "2,5", "-0,75", "3,1", "1.234,5", "2,2e1"])
    df["temp"] = ["25,5", "30", "31,5", "20", "21", "22"]
    cfg = _cfg(decimal=",", input_col=["smiles", "temp"])
    ds = clean_table(df, cfg).dataset
    assert ds.task.task_type == "regression"
    assert ds.y[:, 0].tolist() == [1.25, 2.5, -0.75, 3.1, 1234.5, 22.0]
    assert [x.extras[0][1] for x in ds.inputs][:3] == [25.5, 30.0, 31.5]
    plain = clean_table(_molecules(["1.25", "2.5", "0.75", "3.1", "1.0", "2.2"]),
                        _cfg(decimal=",")).dataset  # points are left alone
    assert plain.y[:, 0].tolist() == [1.25, 2.5, 0.75, 3.1, 1.0, 2.2]
