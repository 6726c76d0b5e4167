"""Per-modality validators, batch validation and label parsing / task inference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scifm.config.schema import DataConfig
from scifm.data.validate import InvalidInput, infer_task, make_validator, validate_inputs
from scifm.errors import ConfigError, DataError


def _v(modality: str, **kw):
    return make_validator(modality, DataConfig(**kw))


def test_smiles_canonical_forms_agree():
    v = _v("smiles")
    assert v("OCC") == v("C(O)C") == v("  CCO ") == "CCO"
    assert v("c1ccccc1") == v("C1=CC=CC=C1")


def test_smiles_salt_stripping_and_neutralisation():
    assert _v("smiles")("[Na+].CC(=O)[O-]") == "CC(=O)[O-]"
    assert _v("smiles", smiles={"neutralize": True})("[Na+].CC(=O)[O-]") == "CC(=O)O"
    assert _v("smiles", smiles={"largest_fragment": False})("[Na+].CC(=O)[O-]") == \
        "CC(=O)[O-].[Na+]"


def test_smiles_isomeric_option():
    assert _v("smiles")("C[C@H](N)O") == "C[C@H](N)O"
    assert _v("smiles", smiles={"isomeric": False})("C[C@H](N)O") == "CC(N)O"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("CN(C)(C)(C)C", r"^invalid SMILES valence: Explicit valence for atom # 1 N"),
        ("c1cccc1", r"^invalid SMILES aromaticity: Can't kekulize"),
        ("C1CC(", r"^invalid SMILES syntax: cannot parse 'C1CC\('"),
        ("   ", r"^empty input$"),
    ],
)
def test_invalid_smiles_reasons(raw, reason):
    with pytest.raises(InvalidInput, match=reason) as info:
        _v("smiles")(raw)
    assert info.value.category == info.value.reason.split(":")[0]


def test_protein_alphabet_and_options():
    v = _v("protein")
    assert v("mkt-ll.v *\n") == "MKTLLV"
    assert v("MKXB") == "MKXB"
    with pytest.raises(InvalidInput) as info:
        v("MKTL1@A1")
    assert info.value.reason == "invalid protein residue(s): '1','@' at position 5"
    with pytest.raises(InvalidInput, match="ambiguity code"):
        _v("protein", sequence={"allow_ambiguous": False})("MKX")
    with pytest.raises(InvalidInput, match="lower case"):
        _v("protein", sequence={"uppercase": False})("MKt")
    with pytest.raises(InvalidInput, match=r"sequence too long: 5 > max_length 4"):
        _v("protein", sequence={"max_length": 4})("MKTLL")
    with pytest.raises(InvalidInput, match="invalid protein residue"):
        _v("protein", sequence={"strip_gaps": False})("MK-T")


def test_dna_alphabet():
    v = _v("dna")
    assert v("acgtn") == "ACGTN"
    with pytest.raises(InvalidInput, match=r"'U' at position 3 \(looks like RNA"):
        v("ACUG")
    with pytest.raises(InvalidInput, match=r"invalid DNA base\(s\): 'N'"):
        _v("dna", sequence={"allow_ambiguous": False})("ACGN")
    with pytest.raises(InvalidInput, match="'E'"):
        v("ACGE")


def test_text_normalisation():
    v = _v("text")
    assert v("  The \ufb01rst\u00a0 result\n\t") == "The first result"
    assert _v("text", text={"lowercase": True})("Hello  World") == "hello world"
    with pytest.raises(InvalidInput, match="empty input"):
        v(" \u3000 \n")


def test_validate_inputs_handles_missing_and_caches():
    canon, reasons = validate_inputs(["OCC", None, np.nan, pd.NA, "CCO", "xx", 7],
                                     "smiles", DataConfig())
    assert canon[0] == canon[4] == "CCO"
    assert reasons[1:4] == ["missing input"] * 3
    assert canon[5] is None and reasons[5].startswith("invalid SMILES syntax")
    assert reasons[6] is not None  # '7' is not a SMILES
    with pytest.raises(ValueError, match="unknown modality"):
        validate_inputs(["x"], "image", DataConfig())


def _infer(cols: dict, task: str = "auto"):
    df = pd.DataFrame(cols)
    cfg = DataConfig(target_cols=list(cols), task=task)
    return infer_task(df, cfg, np.ones(len(df), dtype=bool))


def test_infer_binary_numeric_and_string_and_bool():
    spec, y, _ = _infer({"y": ["1", "0", None, "1", "NA"]})
    assert spec.task_type == "binary" and spec.classes == ["0", "1"]
    np.testing.assert_array_equal(y[:, 0], [1, 0, np.nan, 1, np.nan])
    spec, y, _ = _infer({"y": ["inactive", "active", "active"]})
    assert spec.classes == ["active", "inactive"] and y[:, 0].tolist() == [1, 0, 0]
    spec, y, _ = _infer({"y": [True, False, True]})
    assert spec.classes == ["False", "True"] and y[:, 0].tolist() == [1, 0, 1]
    spec, _, _ = _infer({"y": ["-1", "1", "1"]})
    assert spec.task_type == "binary" and spec.classes == ["-1", "1"]


def test_infer_multiclass_and_regression():
    spec, y, _ = _infer({"y": ["b", "a", "c", "a"]})
    assert spec.task_type == "multiclass" and spec.classes == ["a", "b", "c"]
    assert y[:, 0].tolist() == [1, 0, 2, 0]
    spec, y, _ = _infer({"y": ["10", "2", "3", "2"]})
    assert spec.task_type == "multiclass" and spec.classes == ["2", "3", "10"]
    spec, y, _ = _infer({"y": ["1.5", "2.0", "-3", "0.1"]})
    assert spec.task_type == "regression" and y[:, 0].tolist() == [1.5, 2.0, -3.0, 0.1]
    spec, _, _ = _infer({"y": [str(i) for i in range(30)]})
    assert spec.task_type == "regression"


def test_infer_multitask():
    spec, y, _ = _infer({"a": ["1", "0", None], "b": ["0", None, "1"], "c": ["0", "0", "0"]})
    assert spec.task_type == "binary" and spec.target_cols == ["a", "b", "c"]
    assert np.isnan(y).sum() == 2
    spec, _, _ = _infer({"a": ["1.5", "2.5", "0.3"], "b": ["7", "8", "9"]})
    assert spec.task_type == "regression"
    with pytest.raises(ConfigError, match=r"'a' looks binary, 'b' looks regression"):
        _infer({"a": ["1", "0", "1"], "b": ["0.5", "2.5", "7.1"]})


def test_explicit_task_is_checked():
    with pytest.raises(ConfigError, match=r"task 'binary' but column 'y' has 5 distinct values"):
        _infer({"y": ["1", "2", "3", "4", "5"]}, task="binary")
    with pytest.raises(DataError, match=r"task 'regression' but column 'y' is not numeric"):
        _infer({"y": ["active", "inactive", "active"]}, task="regression")
    with pytest.raises(ConfigError, match="exactly one target column"):
        _infer({"a": ["x", "y"], "b": ["x", "z"]}, task="multiclass")
    with pytest.raises(ConfigError, match="single (class|value)"):
        _infer({"y": ["1", "1", "1"]})
    spec, y, info = _infer({"y": ["1.5", "2", ">10"] + ["3"] * 60}, task="regression")
    assert np.isnan(y[2, 0]) and info["y"]["n_unparseable"] == 1
    assert info["y"]["unparseable_examples"] == [">10"]
