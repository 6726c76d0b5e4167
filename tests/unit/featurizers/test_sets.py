"""Named feature sets (ecfp radii, MACCS, combos), protein descriptors, config validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from scifm.config.registry import MODALITIES
from scifm.config.schema import ModelConfig
from scifm.errors import ConfigError
from scifm.featurizers import (
    ConcatFeaturizer,
    ECFPFeaturizer,
    MACCSFeaturizer,
    ProteinDescriptorFeaturizer,
    build_featurizer,
    featurizer_from_name,
)
from scifm.featurizers.protein import PROTEIN_DESCRIPTOR_NAMES
from scifm.featurizers.sets import is_fingerprint
from scifm.modalities.features import applies, atoms

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"]


def modalities_of(name: str) -> tuple[str, ...]:
    """Modalities every atom of ``name`` applies to."""
    return tuple(m for m in MODALITIES.names() if all(applies(a, m) for a in atoms(name)))


def test_ecfp_radii_maccs_and_combos():
    e4, e6 = featurizer_from_name("ecfp4", "smiles"), featurizer_from_name("ecfp6", "smiles")
    assert isinstance(e4, ECFPFeaturizer) and (e4.radius, e6.radius) == (2, 3)
    assert e6(SMILES).sum() > e4(SMILES).sum()  # radius 3 adds environments
    maccs = featurizer_from_name("maccs", "smiles")
    X = maccs(SMILES + ["not a smiles"])
    assert isinstance(maccs, MACCSFeaturizer) and X.shape == (4, 167)
    assert set(np.unique(X[:3])) <= {0.0, 1.0} and np.isnan(X[3]).all()
    combo = featurizer_from_name("ecfp6+maccs+rdkit2d", "smiles")
    assert isinstance(combo, ConcatFeaturizer) and combo(SMILES).shape[1] == len(combo)
    rebuilt = build_featurizer(combo.to_config())
    np.testing.assert_array_equal(rebuilt(SMILES), combo(SMILES))
    assert is_fingerprint("ecfp+maccs") and not is_fingerprint("ecfp+rdkit2d")


@pytest.mark.parametrize(("name", "modality"), [("maccs", "protein"), ("protdesc", "dna"),
                                                ("kmer6", "protein"), ("ecfp+kmer", "smiles"),
                                                ("ecfp+ecfp", "smiles"), ("ecfp8", "smiles")])
def test_feature_sets_that_do_not_apply_raise(name, modality):
    with pytest.raises(ConfigError):
        featurizer_from_name(name, modality)


def test_sequence_feature_sets():
    assert featurizer_from_name("kmer6", "dna")(["ACGTACGT"]).shape == (1, 5460)
    both = featurizer_from_name("kmer+protdesc", "protein")
    assert both(["MKTAYIAKQR"]).shape == (1, 420 + len(PROTEIN_DESCRIPTOR_NAMES))
    assert modalities_of("tfidf") == ("smiles", "protein", "dna", "text")


def test_protein_descriptors_follow_published_scales():
    f = ProteinDescriptorFeaturizer()
    X = f(["AAAA", "G", "FWY", "XXXX"])
    col = {n: X[:, i] for i, n in enumerate(PROTEIN_DESCRIPTOR_NAMES)}
    assert col["comp_A"][0] == 1.0 and col["length"][0] == 4
    assert col["gravy"][0] == pytest.approx(1.8)  # Kyte-Doolittle alanine
    assert col["pi"][0] == pytest.approx((8.6 + 3.6) / 2, abs=1e-3)  # termini only
    assert col["mw_kda"][1] == pytest.approx(0.07507, abs=1e-4)  # glycine, 75.07 Da
    assert col["aromaticity"][2] == pytest.approx(1.0)
    assert col["aliphatic_index"][0] == pytest.approx(100.0)
    assert col["charge_ph7"][0] == pytest.approx(0.0, abs=0.05)
    assert col["frac_nonstandard"][3] == 1.0 and np.isnan(col["gravy"][3])
    assert build_featurizer(f.to_config())(["AAAA"]).tolist() == f(["AAAA"]).tolist()


def test_config_accepts_feature_sets_and_rejects_unknown():
    assert ModelConfig(features="ecfp6+maccs").features == "ecfp6+maccs"
    assert ModelConfig(features="maccs+rdkit2d").features == "maccs+rdkit2d"
    assert ModelConfig(features="ecfp+rdkit2d").features == "ecfp+rdkit2d"
    with pytest.raises(ValidationError, match="unknown feature set"):
        ModelConfig(features="morgan")
