"""The smiles plug-in: RDKit validation and canonicalisation, scaffolds, defaults."""

from __future__ import annotations

import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.datapoints import InvalidInput


def _v(modality: str, **kw):
    return MODALITIES.get(modality).validator(DataConfig(**kw))


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


