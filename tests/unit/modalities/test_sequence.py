"""The protein and dna plug-ins: alphabets, options, k-mer similarity."""

from __future__ import annotations

import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.datapoints import InvalidInput


def _v(modality: str, **kw):
    return MODALITIES.get(modality).validator(DataConfig(**kw))


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
    with pytest.raises(InvalidInput, match=r"too long: 5 residues > data.sequence.max_length=4"):
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


