"""Occlusion attributions and the deletion test on models with a planted "true" feature."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.config.schema import DataConfig
from scifm.data.validate import make_validator
from scifm.modalities import get_modality
from scifm.tasks import TaskSpec
from scifm.trust.explain import explain_records, global_view, target_index
from scifm.trust.faithfulness import ranking
from scifm.trust.occlusion import (
    AtomUnits,
    Output,
    ResidueUnits,
    WordUnits,
    parse_molecule,
    units_for,
)

BINARY = TaskSpec("binary", ["active"], ["0", "1"])

MOLECULES = ["CCCCCCNCCC", "CCCCCCCCCN", "c1ccc(CCN)cc1", "CCCCOCCCCC", "NCCCCCCCCC",
             "CC(C)CCCNCC", "c1ccncc1CCC", "CCCCCCCCCC", "CC(=O)CCCCNC", "OCCCCNCCCC"]
TEXTS = ["the kinase binds the small ligand in the pocket",
         "a protein that folds into a stable helical bundle here",
         "kinase inhibitors were screened in this assay today",
         "we report a new route to the natural product",
         "the assay measures kinase activity in living cells"]
DNA = ["ACTTATACCACATTACCTAC", "CCATTCACGTACTTCATCAA", "ACTACTACTACTACTACTAC",
       "TATACCTTACGTACTTCCAA", "CACACTCTCAATGCATCCAT"]
"""One planted G in four of five sequences."""


class Planted:
    """A model whose output depends only on whether ``has(input)`` holds."""

    def __init__(self, has) -> None:  # noqa: ANN001
        self.has = has
        self.calls = 0

    def predict(self, xs) -> np.ndarray:  # noqa: ANN001
        self.calls += 1
        return np.array([[0.9 if self.has(str(x)) else 0.1] for x in xs])


def _has_nitrogen(smiles: str) -> bool:
    mol = parse_molecule(smiles)
    return mol is not None and any(a.GetSymbol() == "N" for a in mol.GetAtoms())


@pytest.mark.parametrize("method", ["occlusion", "sampling"])
@pytest.mark.parametrize("units, inputs, has, planted", [
    (AtomUnits(), MOLECULES, _has_nitrogen, "N"),
    (WordUnits(), TEXTS, lambda t: "kinase" in t.split(), "kinase"),
    (ResidueUnits("N"), DNA, lambda s: "G" in s, "G"),
])
def test_deletion_ranks_the_planted_feature_above_random(units, inputs, has, planted, method):
    model = Planted(has)
    expl = explain_records(model.predict, BINARY, units, inputs, n_bootstrap=200, method=method,
                           n_samples=64)
    for labels, attr, base in zip(expl.labels, expl.attributions, expl.base, strict=True):
        if base < 0.5:  # nothing planted: nothing to attribute
            assert np.allclose(attr, 0)
            continue
        top = int(ranking(attr, base, Output(BINARY))[0])
        assert attr[top] == pytest.approx(0.8)
        if planted is not None:
            assert labels[top] == planted
    faith = expl.faithfulness
    assert faith["n_inputs"] == len(inputs)
    assert faith["top"]["value"] > faith["random"]["value"]
    assert faith["ratio"]["value"] > 2
    lo, hi = faith["ratio"]["ci95"]
    assert lo <= faith["ratio"]["value"] <= hi
    assert model.calls <= 3  # batched: originals, occlusions, deletions


def test_random_attributions_are_not_faithful():
    """Attributions pointing away from the planted atom do no better than random."""
    from scifm.trust.faithfulness import deletion_test

    model = Planted(_has_nitrogen)
    output, units = Output(BINARY), AtomUnits()
    base = output(model.predict(MOLECULES))
    wrong = [np.where(np.array(units.split(m)) == "N", -1.0, 1.0) for m in MOLECULES]
    faith = deletion_test(model.predict, output, units, MOLECULES, wrong, base, n_bootstrap=100)
    assert faith["ratio"]["value"] < 1


def test_atom_masking_keeps_a_valid_molecule():
    units = AtomUnits()
    for smiles in ["c1ccncc1O", "C[N+](C)(C)C", "O=C([O-])c1ccccc1", "c1cc[nH]c1"]:
        n = len(units.split(smiles))
        for i in range(n):
            masked = units.mask(smiles, [i])
            mol = parse_molecule(masked)
            assert mol is not None and mol.GetNumAtoms() == n, masked
            assert "*" in masked


def test_units_are_read_from_the_modality_spec():
    def units(name: str):  # noqa: ANN202
        cfg = DataConfig(modality=name)
        return units_for(get_modality(name), make_validator(name, cfg))

    assert isinstance(units("smiles"), AtomUnits)
    assert isinstance(units("text"), WordUnits)
    dna, protein = units("dna"), units("protein")
    assert isinstance(dna, ResidueUnits) and dna.letter == "N"
    assert isinstance(protein, ResidueUnits) and protein.letter == "X"
    assert protein.mask("MKV", [1]) == "MXV"


def test_outputs_targets_and_global_view():
    multi = TaskSpec("multiclass", ["y"], ["a", "b", "c"])
    pred = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2]])
    assert Output(multi)(pred).tolist() == [0.7, 0.5]
    assert Output(multi)(pred, np.array([2, 2])).tolist() == [0.2, 0.2]
    reg = TaskSpec("regression", ["a", "b"])
    assert target_index(reg, "b") == 1
    with pytest.raises(Exception, match="not a target"):
        target_index(reg, "c")
    with pytest.raises(Exception, match="unknown attribution method"):
        explain_records(Planted(bool).predict, BINARY, WordUnits(), TEXTS, method="lime")
    expl = explain_records(Planted(lambda t: "kinase" in t.split()).predict, BINARY, WordUnits(),
                           TEXTS, n_bootstrap=50)
    view = global_view(expl)
    assert view["positive"][0]["context"] == "kinase"
    assert view["positive"][0]["count"] == 3


def test_unit_spans_and_token_attributions_to_units():
    from scifm.trust.explain import _to_units

    smiles = "OC(=O)[C@@H](N)Cc1c[nH]c2ccccc12"
    spans = AtomUnits().spans(smiles)
    assert [smiles[a:b] for a, b in spans][3:5] == ["[C@@H]", "N"]
    assert len(spans) == len(AtomUnits().split(smiles))
    assert WordUnits().spans("a  bb c") == [(0, 1), (3, 5), (6, 7)]
    # tokens: [CLS] "a" "b" "b c" [SEP] -> words a, bb, c
    got = _to_units(np.array([5.0, 1.0, 2.0, 4.0, 7.0]),
                    [(0, 0), (0, 1), (3, 4), (4, 7), (0, 0)], [(0, 1), (3, 5), (6, 7)])
    assert got.tolist() == [1.0, 4.0, 2.0]
