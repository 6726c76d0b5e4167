"""ECFP, RDKit 2D descriptors and their concatenation on SMILES."""

from __future__ import annotations

import json

import numpy as np
import pytest
from rdkit.Chem import Descriptors

from scifm.featurizers import (
    ConcatFeaturizer,
    ECFPFeaturizer,
    RDKit2DFeaturizer,
    build_featurizer,
)
from scifm.featurizers import molecule as molecule_module
from scifm.featurizers.molecule import DESCRIPTOR_CLIP, SLOW_DESCRIPTORS

SMILES = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCCCCCCC"]


def test_ecfp_shape_dtype_and_determinism():
    f = ECFPFeaturizer(radius=2, n_bits=1024)
    x = f(SMILES)
    assert x.shape == (4, 1024) and len(f) == 1024
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, ECFPFeaturizer(radius=2, n_bits=1024)(SMILES))
    assert np.all(x.sum(axis=1) > 0)
    # different molecules give different fingerprints
    assert len({row.tobytes() for row in x}) == 4


def test_ecfp_counts_vs_bits():
    counts = ECFPFeaturizer(counts=True)(["CCCCCCCC"])
    bits = ECFPFeaturizer(counts=False)(["CCCCCCCC"])
    assert counts.max() > 1  # the CH2 environment occurs several times
    assert set(np.unique(bits)) <= {0.0, 1.0}
    np.testing.assert_array_equal(bits, (counts > 0).astype(np.float32))


def test_ecfp_radius_changes_features():
    assert not np.array_equal(ECFPFeaturizer(radius=1)(SMILES), ECFPFeaturizer(radius=3)(SMILES))


def test_unparsable_smiles_gives_nan_row_not_error():
    bad = ["CCO", "not_a_smiles", "", "C1CC"]
    for f in (ECFPFeaturizer(), RDKit2DFeaturizer(), ConcatFeaturizer([ECFPFeaturizer(),
                                                                        RDKit2DFeaturizer()])):
        x = f(bad)
        assert x.shape == (4, len(f))
        assert np.isnan(x[1:]).all(), type(f).__name__
        assert not np.isnan(x[0]).all()


def test_rdkit2d_values_order_and_subset():
    f = RDKit2DFeaturizer()
    assert f.names == [n for n, _ in Descriptors.descList if n not in SLOW_DESCRIPTORS]
    assert "AvgIpc" not in f.names and "MolLogP" in f.names
    x = f(["CCO"])
    assert x.shape == (1, len(Descriptors.descList) - len(SLOW_DESCRIPTORS))
    assert x[0, f.names.index("MolWt")] == pytest.approx(46.069, abs=1e-2)
    sub = RDKit2DFeaturizer(names=["NumHDonors", "MolWt"])
    np.testing.assert_allclose(sub(["CCO"])[0], [1.0, 46.069], atol=1e-2)


def test_rdkit2d_estate_indices_computed_once_equal_rdkits_own():
    """The four E-state descriptors share one computation per molecule (``force=0``) and equal,
    bit for bit, RDKit's own calls, each recomputing; a second call on the same molecule too."""
    from rdkit import Chem
    from rdkit.Chem.EState import EState

    from tests.conftest import make_molecules

    names = ["MaxEStateIndex", "MolWt", "MinAbsEStateIndex", "MaxAbsEStateIndex",
             "MinEStateIndex"]
    f = RDKit2DFeaturizer(names)
    smiles = make_molecules(40, seed=3)["smiles"].tolist() + ["c1ccccc1O", "C", "[Na+].[Cl-]"]
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    calls = []
    real = EState.EStateIndices
    try:
        EState.EStateIndices = lambda mol, force=True: calls.append(force) or real(mol, force)
        ours = f.featurize_mols(mols)
        again = f.featurize_mols(mols)
    finally:
        EState.EStateIndices = real
    theirs = np.array([[getattr(Descriptors, n)(Chem.MolFromSmiles(s)) for n in names]
                       for s in smiles], dtype=np.float32)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(again, theirs)
    assert len(calls) == 4 * 2 * len(smiles)  # every call asks for the cached indices
    assert all(c == 0 for c in calls)


def test_rdkit2d_clips_huge_and_unknown_descriptor_is_nan():
    f = RDKit2DFeaturizer(names=["Ipc", "NotADescriptor"])
    x = f(["CC(C)(C)" * 30])  # Ipc ~ 1e33 for this molecule
    assert x[0, 0] == np.float32(DESCRIPTOR_CLIP)
    assert np.isnan(x[0, 1])


def test_concat_equals_parts_and_parses_once(monkeypatch):
    ecfp, rd = ECFPFeaturizer(n_bits=256), RDKit2DFeaturizer(names=["MolWt", "TPSA"])
    concat = ConcatFeaturizer([ecfp, rd])
    expected = np.hstack([ecfp(SMILES), rd(SMILES)])
    calls = []
    real = molecule_module.parse_smiles
    monkeypatch.setattr(molecule_module, "parse_smiles",
                        lambda xs, reuse=False: calls.append(1) or real(xs, reuse))
    x = concat(SMILES)
    assert len(calls) == 1
    np.testing.assert_array_equal(x, expected)
    assert len(concat) == 258


def test_config_round_trip_through_json():
    concat = ConcatFeaturizer([ECFPFeaturizer(radius=3, n_bits=512, counts=False),
                               RDKit2DFeaturizer(names=["TPSA", "MolLogP"])])
    config = json.loads(json.dumps(concat.to_config()))
    restored = build_featurizer(config)
    assert isinstance(restored, ConcatFeaturizer)
    np.testing.assert_array_equal(restored(SMILES), concat(SMILES))


def test_a_joined_feature_set_reuses_its_parts_rows_inside_the_memo(monkeypatch):
    from scifm.featurizers import featurize, featurizer_from_name
    from scifm.featurizers.memo import feature_memo
    from scifm.featurizers.molecule import RDKit2DFeaturizer

    smiles = ["CCO", "c1ccccc1O", "CC(=O)N", "CCN(CC)CC"]
    joined = featurizer_from_name("ecfp+rdkit2d", "smiles")
    expected = joined(smiles)  # outside a memo: computed directly
    calls = []
    real = RDKit2DFeaturizer.featurize_mols
    monkeypatch.setattr(RDKit2DFeaturizer, "featurize_mols",
                        lambda self, mols: calls.append(len(mols)) or real(self, mols))
    with feature_memo():
        alone = featurize(featurizer_from_name("rdkit2d", "smiles"), smiles)
        both = featurize(featurizer_from_name("ecfp+rdkit2d", "smiles"), smiles[::-1])
    assert calls == [4]  # the descriptors were computed once, for ``rdkit2d``
    np.testing.assert_array_equal(both[::-1], expected)
    np.testing.assert_array_equal(both[::-1][:, -alone.shape[1]:], alone)
