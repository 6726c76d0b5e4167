"""``privacy.dp.epsilon`` on a training run: the accountant's epsilon reaches metrics.json, the
model card and the report, with the membership-inference audit beside it."""

from __future__ import annotations

import json

import pytest

from scifm.config.load import load_config
from scifm.recipes.train import train
from tests.conftest import make_molecules

pytestmark = pytest.mark.integration


def test_dp_run_records_epsilon_and_membership_audit(tmp_path):
    data = tmp_path / "mols.csv"
    make_molecules(300, seed=2).to_csv(data, index=False)
    cfg = load_config(flags={"data.path": str(data), "data.input_col": "smiles",
                             "data.target_cols": ["active"], "model.families": "dplinear",
                             "model.features": "ecfp", "out": str(tmp_path / "run"),
                             "privacy.dp.epsilon": 3.0, "privacy.dp.delta": 1e-3,
                             "eval.n_bootstrap": 50, "tracking.enabled": False})
    run = train(cfg).run_dir
    metrics = json.loads((run / "metrics.json").read_text())
    eps = metrics["privacy"]["epsilon"]
    assert 0 < eps <= 3.0 + 0.05 and metrics["privacy"]["delta"] == 1e-3
    auc = metrics["membership"]["auc"]
    assert 0.0 <= auc["ci95"][0] <= auc["value"] <= auc["ci95"][1] <= 1.0
    html = (run / "report.html").read_text()
    assert '<section id="privacy">' in html and "Membership inference" in html
    card = (run / "model" / "README.md").read_text()
    assert f"{eps:.3f}"[:4] in card  # the card shows the spent epsilon


def test_membership_audit_on_request_without_dp(tmp_path):
    data = tmp_path / "mols.csv"
    make_molecules(200, seed=3).to_csv(data, index=False)
    cfg = load_config(flags={"data.path": str(data), "data.input_col": "smiles",
                             "data.target_cols": ["logp"], "model.families": "lightgbm",
                             "model.features": "ecfp", "out": str(tmp_path / "run"),
                             "privacy.membership_audit": True, "eval.n_bootstrap": 50,
                             "params.lightgbm.n_estimators": 30, "tracking.enabled": False})
    metrics = json.loads((train(cfg).run_dir / "metrics.json").read_text())
    assert "privacy" not in metrics and metrics["membership"]["n_members"] > 0


def test_dp_fine_tuning_of_a_transformer(tmp_path):
    """``--model transformer`` under ``privacy.dp.epsilon``: the Trainer's loop with DP-SGD;
    the accountant's epsilon is in metrics.json and the model's scifm.json."""
    data = tmp_path / "mols.csv"
    make_molecules(120, seed=4).to_csv(data, index=False)
    cfg = load_config(flags={"data.path": str(data), "data.input_col": "smiles",
                             "data.target_cols": ["active"], "model.families": "transformer",
                             "model.size": "tiny", "train.max_steps": 6, "train.batch_size": 16,
                             "out": str(tmp_path / "run"), "privacy.dp.epsilon": 5.0,
                             "privacy.dp.delta": 1e-3, "eval.n_bootstrap": 20,
                             "uncertainty.enabled": False, "tracking.enabled": False})
    run = train(cfg).run_dir
    privacy = json.loads((run / "metrics.json").read_text())["privacy"]
    assert 0 < privacy["epsilon"] <= 5.0 + 0.05
    meta = json.loads((run / "model" / "scifm.json").read_text())
    assert meta["privacy"]["epsilon"] == privacy["epsilon"]
