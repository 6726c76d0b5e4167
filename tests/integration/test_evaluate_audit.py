"""`scifm evaluate` audits the evaluated set against the run's training data; a model whose
output collapsed to one class is flagged in the CLI summary and in metrics.json."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.evaluation.report_sections import SECTIONS
from scifm.recipes.evaluate import evaluate
from scifm.recipes.train import train

pytestmark = pytest.mark.integration
runner = CliRunner()


def _flat(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def _noncanonical(smiles: str) -> str:
    from rdkit import Chem

    mol = Chem.MolFromSmiles(smiles)
    return Chem.MolToSmiles(mol, rootedAtAtom=mol.GetNumAtoms() - 1, canonical=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """60 molecules -> a LightGBM run; an evaluation file of 20 of its training molecules (10
    written differently) and 10 new ones."""
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("audit")
    data = root / "mols.csv"
    make_molecules(60).to_csv(data, index=False)
    train(load_config(flags={
        "data.path": str(data), "data.input_col": "smiles", "data.target_cols": ["active"],
        "model.families": "lightgbm", "out": str(root / "run"), "eval.n_bootstrap": 50,
        "params.lightgbm.n_estimators": 30, "tracking.enabled": False}))
    train_ids = json.loads((root / "run" / "splits.json").read_text())["train"]
    seen = pd.read_csv(data).iloc[train_ids[:20]].copy()
    written = [_noncanonical(s) for s in seen["smiles"][:10]]
    assert sum(a != b for a, b in zip(written, seen["smiles"][:10], strict=True)) >= 5
    seen.loc[seen.index[:10], "smiles"] = written
    new = pd.concat([seen, make_molecules(200).iloc[60:70]], ignore_index=True)
    new.to_csv(root / "new.csv", index=False)
    return root


def test_contaminated_evaluation_is_flagged_with_metrics_on_the_new_rows(tiny_run):
    res = runner.invoke(app, ["evaluate", str(tiny_run / "run"), "--data",
                              str(tiny_run / "new.csv"), "--out", str(tiny_run / "ev")])
    assert res.exit_code == 0, res.output
    out = _flat(res.output)
    assert "warning: 20 of 30 evaluated rows (67%) are training/validation rows" in out
    assert "new rows only (n=10)" in out and "all rows (n=30)" in out
    metrics = json.loads((tiny_run / "ev" / "metrics.json").read_text())
    audit = metrics["audit"]
    assert audit["n_train"] == 20 and audit["n_seen"] == 20 and audit["n_new"] == 10
    assert audit["test_new_only"]["n"] == 10 and "roc_auc" in audit["test_new_only"]
    assert audit["nn_similarity"]["n"] == 10
    assert any(w.startswith("20 of 30") for w in metrics["warnings"])
    html = (tiny_run / "ev" / "report.html").read_text()
    if not any(s.__name__ == "evaluation_audit_section" for s in SECTIONS):
        pytest.xfail("the report does not place evaluation_audit_section yet")
    assert "id='evaluation-audit'" in html and "new rows only (n=10)" in html


def test_a_moved_or_changed_training_file_gives_one_warning(tiny_run, tmp_path):
    data, moved = tiny_run / "mols.csv", tiny_run / "moved.csv"
    data.rename(moved)
    try:
        metrics = evaluate(tiny_run / "run", tiny_run / "new.csv", out=tmp_path / "a",
                           n_bootstrap=20)
    finally:
        moved.rename(data)
    assert metrics["test"]["n"] == 30 and metrics["audit"]["available"] is False
    (w,) = metrics["warnings"]
    assert "not checked against this run's training data" in w and "not found" in w
    original = data.read_text()
    try:
        data.write_text("\n".join(original.splitlines()[:-1]) + "\n")  # one row less
        metrics = evaluate(tiny_run / "run", tiny_run / "new.csv", out=tmp_path / "b",
                           n_bootstrap=20)
    finally:
        data.write_text(original)
    (w,) = metrics["warnings"]
    assert "has changed since training (data hash differs)" in w


def test_a_collapsed_model_is_flagged_in_training_and_evaluation(tiny_run):
    res = runner.invoke(app, ["train", "--data", str(tiny_run / "mols.csv"), "--input-col",
                              "smiles", "--target-col", "active", "--model", "lightgbm",
                              "--out", str(tiny_run / "flat"), "--no-track", "--split",
                              "random", "--set", "params.lightgbm.min_child_samples=500",
                              "--set", "params.lightgbm.n_estimators=5",
                              "--set", "eval.n_bootstrap=20"])
    assert res.exit_code == 0, res.output
    assert "warning: predicts class 0 for 6/6 test rows (MCC 0.000" in _flat(res.output)
    metrics = json.loads((tiny_run / "flat" / "metrics.json").read_text())
    assert "collapsed to one class" in metrics["warnings"][0]
    ev = evaluate(tiny_run / "flat", tiny_run / "new.csv", n_bootstrap=20)
    assert ev["warnings"][0].startswith("predicts class 0 for 30/30 evaluated rows (MCC 0.000")
