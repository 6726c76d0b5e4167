"""featurizer_from_name / build_featurizer: auto per modality, errors on misuse."""

from __future__ import annotations

import pytest

from scifm.errors import ConfigError
from scifm.featurizers import (
    ConcatFeaturizer,
    ECFPFeaturizer,
    Featurizer,
    KmerSpectrumFeaturizer,
    RDKit2DFeaturizer,
    TfidfFeaturizer,
    build_featurizer,
    featurizer_from_name,
)


def test_auto_resolves_per_modality():
    smiles = featurizer_from_name("auto", "smiles")
    assert isinstance(smiles, ConcatFeaturizer)
    assert [type(f) for f in smiles.featurizers] == [ECFPFeaturizer, RDKit2DFeaturizer]
    protein = featurizer_from_name("auto", "protein")
    assert isinstance(protein, KmerSpectrumFeaturizer) and protein.k_max == 2
    dna = featurizer_from_name("auto", "dna")
    assert isinstance(dna, KmerSpectrumFeaturizer) and (dna.alphabet, dna.k_max) == ("ACGT", 5)
    assert isinstance(featurizer_from_name("auto", "text"), TfidfFeaturizer)
    assert isinstance(featurizer_from_name("ecfp", "smiles"), ECFPFeaturizer)
    for f in (smiles, protein, dna):
        assert isinstance(f, Featurizer)


@pytest.mark.parametrize(("name", "modality"), [("ecfp", "dna"), ("kmer", "smiles"),
                                                ("kmer", "text"), ("bogus", "smiles"),
                                                ("auto", "rna")])
def test_incompatible_or_unknown_names_raise_config_error(name, modality):
    with pytest.raises(ConfigError):
        featurizer_from_name(name, modality)


def test_build_featurizer_errors():
    with pytest.raises(ConfigError, match="unknown featurizer"):
        build_featurizer({"name": "nope"})
    with pytest.raises(ConfigError, match="invalid config"):
        build_featurizer({"name": "ecfp", "radius": 2, "colour": "red"})


def test_fixed_featurizer_fit_is_noop_and_config_complete():
    f = KmerSpectrumFeaturizer("ACGT", 3)
    assert f.fit(["ACGT"]) is f
    assert f.to_config() == {"name": "kmer", "alphabet": "ACGT", "k_max": 3}
    assert build_featurizer(f.to_config()).k_max == 3
