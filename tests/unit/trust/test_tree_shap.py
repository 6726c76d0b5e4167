"""TreeSHAP of a fingerprint LightGBM, mapped to atoms: mass is kept, the planted group wins."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.errors import ConfigError
from scifm.models.lightgbm import LightGBMPredictor
from scifm.tasks import TaskSpec
from scifm.trust.explain import explain_records
from scifm.trust.occlusion import AtomUnits, Output
from scifm.trust.tree_shap import atom_shares, fingerprint_layout, tree_shap

ALKANES = ["CCCCCC", "CCCCC", "CC(C)CCC", "CCCCCCC", "CC(C)C(C)C", "CCCC(C)CC", "CCC(CC)CC"]
PARAMS = {"n_estimators": 60, "num_leaves": 4, "min_child_samples": 2, "learning_rate": 0.2}


def _molecules():
    """Alkanes with and without a nitro group (the label): the model must use the nitro atoms."""
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for i in range(120):
        base = ALKANES[i % len(ALKANES)]
        active = rng.random() < 0.5
        xs.append(base + "[N+](=O)[O-]" if active else base + "O")
        ys.append(float(active))
    return xs, np.array(ys)[:, None]


@pytest.fixture(scope="module")
def model():
    xs, y = _molecules()
    task = TaskSpec("binary", ["active"], classes=[0, 1])
    return LightGBMPredictor(task, "smiles", params=PARAMS, features="ecfp", n_jobs=1).fit(xs, y)


def test_atoms_keep_the_bits_shap_mass(model):
    from rdkit import Chem

    smiles = "CCCCCC[N+](=O)[O-]"
    attribute = tree_shap(model)
    units = AtomUnits()
    output = Output(model.task, 0)
    atoms = attribute(output, units, [smiles], None)[0]
    X = model.featurizer([smiles])
    booster, it = model.model.boosters_[0], model.model.best_iterations_[0]
    phi = booster.predict(X, num_iteration=it, pred_contrib=True)[0, :-1]
    assert atoms.shape == (Chem.MolFromSmiles(smiles).GetNumAtoms(),)
    on = X[0] > 0
    assert atoms.sum() == pytest.approx(phi[on].sum(), rel=1e-5, abs=1e-6)  # the bits it has
    nitro = [5, 6, 7, 8]  # the carbon bonded to N, N, O, O
    assert set(np.argsort(-atoms)[:3]) <= set(nitro)
    share = np.abs(phi[on]).sum() / np.abs(phi).sum()
    assert attribute.mapped_share == [pytest.approx(share)] and 0 < share <= 1


def test_bit_environments_match_the_featurizer(model):
    from rdkit import Chem

    mol = Chem.MolFromSmiles("c1ccccc1CCN")
    _, ecfp, _ = fingerprint_layout(model.featurizer)
    x, envs = atom_shares(mol, ecfp)
    np.testing.assert_array_equal(x, model.featurizer(["c1ccccc1CCN"])[0])
    assert set(envs) == set(np.flatnonzero(x))
    assert all(len(found) == int(x[bit]) for bit, found in envs.items())  # counts: occurrences


def test_the_deletion_test_runs_on_shap(model):
    xs, _ = _molecules()
    expl = explain_records(model.predict, model.task, AtomUnits(), xs[:30],
                           method="shap", attribute=tree_shap(model), n_bootstrap=100)
    ratio = expl.faithfulness["ratio"]["value"]
    assert ratio > 1.0 and len(expl.attributions) == 30


def test_other_models_are_refused():
    xs, y = _molecules()
    task = TaskSpec("binary", ["active"], classes=[0, 1])
    maccs = LightGBMPredictor(task, "smiles", params=PARAMS, features="maccs",
                              n_jobs=1).fit(xs, y)
    with pytest.raises(ConfigError, match="no ECFP"):
        tree_shap(maccs)
    with pytest.raises(ConfigError, match="LightGBM"):
        explain_records(maccs.predict, task, AtomUnits(), xs[:3], method="shap")
