"""The validator's parsed molecules, reused by order-invariant featurizers (scifm.data.parsed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rdkit import Chem

from scifm.config.schema import DataConfig
from scifm.data import parsed
from scifm.data.validate import make_validator
from scifm.featurizers import molecule
from scifm.featurizers.base import build_featurizer
from scifm.featurizers.molecule import ECFPFeaturizer, RDKit2DFeaturizer

SMILES = [
    "CCO", "c1ccccc1O", "C[C@H](N)C(=O)O", "[NH3+]CC(=O)[O-]", "CC(=O)Oc1ccccc1C(=O)O.[Na+]",
    "c1ccc2[nH]ccc2c1", "O=[N+]([O-])c1ccc(Cl)cc1", "F/C=C/F", "C1CC2CCC1C2", "[2H]C([2H])Cl",
    "Cc1nc2ccccc2s1", "OC1=CC=CC=C1", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C", "[Si](C)(C)(C)O", "B(O)O",
]
BBBP = Path(__file__).resolve().parents[4] / "shared" / "data" / "splits" / \
    "bbbp_scaffold_seed0.csv.gz"


def _fingerprints_both_ways(smiles: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """ECFP counts of the validator's molecules and of the canonical SMILES parsed again."""
    validate = make_validator("smiles", DataConfig())
    with parsed.scope():
        canonical = [validate(s) for s in smiles]
        reused = [parsed.recall(c) for c in canonical]
    assert all(m is not None for m in reused)
    ecfp = ECFPFeaturizer()
    again = [Chem.MolFromSmiles(c) for c in canonical]
    return ecfp.featurize_mols(reused), ecfp.featurize_mols(again)


def test_reused_molecules_give_the_fingerprints_of_a_fresh_parse() -> None:
    a, b = _fingerprints_both_ways(SMILES)
    assert a.sum() > 0
    np.testing.assert_array_equal(a, b)


def test_reused_molecules_on_every_bbbp_molecule() -> None:
    if not BBBP.is_file():
        pytest.skip(f"shared BBBP split not found at {BBBP}")
    smiles = pd.read_csv(BBBP)["smiles"].astype(str).tolist()
    validate = make_validator("smiles", DataConfig())
    ok = []
    for s in smiles:  # keep the valid ones (a few BBBP SMILES do not parse)
        try:
            validate(s)
            ok.append(s)
        except Exception:  # noqa: BLE001 - invalid inputs are not what this test checks
            continue
    a, b = _fingerprints_both_ways(ok)
    assert len(ok) > 1900
    np.testing.assert_array_equal(a, b)


def test_molecules_are_kept_only_inside_a_scope() -> None:
    validate = make_validator("smiles", DataConfig())
    canonical = validate("OCC")
    assert parsed.recall(canonical) is None  # validation outside a scope keeps nothing
    with parsed.scope():
        validate("OCC")
        mol = parsed.recall(canonical)
        assert mol is not None and Chem.MolToSmiles(mol) == canonical
        with parsed.scope():  # nested: the same memo
            assert parsed.recall(canonical) is mol
    assert parsed.recall(canonical) is None


def _counted_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    real = molecule.Chem.MolFromSmiles

    def counting(s: str, *args: object, **kwargs: object) -> Chem.Mol | None:
        calls.append(s)
        return real(s, *args, **kwargs)

    monkeypatch.setattr(molecule.Chem, "MolFromSmiles", counting)
    return calls


def test_fingerprints_reuse_and_descriptors_parse_again(monkeypatch: pytest.MonkeyPatch) -> None:
    validate = make_validator("smiles", DataConfig())
    with parsed.scope():
        canonical = [validate(s) for s in SMILES[:5]]
        calls = _counted_parses(monkeypatch)
        fps = ECFPFeaturizer()(canonical)
        assert calls == []  # every molecule came from the validator
        concat = build_featurizer({"name": "concat", "parts": [{"name": "ecfp"},
                                                               {"name": "rdkit2d"}]})
        both = concat(canonical)
        assert len(calls) == 5  # descriptors depend on atom order: parsed again
        desc = RDKit2DFeaturizer()(canonical)
        assert len(calls) == 10
    np.testing.assert_array_equal(both[:, :fps.shape[1]], fps)
    np.testing.assert_array_equal(both[:, fps.shape[1]:], desc)


def test_largest_fragment_still_chosen_for_salts() -> None:
    validate = make_validator("smiles", DataConfig())
    assert validate("CC(=O)[O-].[Na+]") == "CC(=O)[O-]"
    assert validate("[Na+].OC(=O)c1ccccc1") == "O=C(O)c1ccccc1"
    assert validate("C1CC1") == "C1CC1"  # one fragment: no '.', no chooser
