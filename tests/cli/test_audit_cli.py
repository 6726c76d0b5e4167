"""``scifm audit`` end to end: predictions files written here, bad input, a mitigated run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from tests.conftest import make_molecules

pytestmark = pytest.mark.cli
runner = CliRunner()


def _predictions(path: Path, n: int = 200, seed: int = 0, **drop: bool) -> Path:
    """A binary predictions file with a ``sex`` column; the model misses positives of sex 0."""
    rng = np.random.default_rng(seed)
    sex = rng.integers(0, 2, n).astype(float)
    y = rng.integers(0, 2, n)
    prob = np.clip(0.2 + 0.55 * y - 0.25 * (sex == 0) * y + rng.normal(0, 0.1, n), 0, 1)
    df = pd.DataFrame({"id": np.arange(n), "input": [f"patient{i}" for i in range(n)],
                       "sex": sex, "age": rng.integers(30, 80, n), "true_num": y,
                       "pred_num": (prob >= 0.5).astype(int), "prob_num": prob})
    df = df.drop(columns=[c for c, yes in drop.items() if yes])
    df.to_csv(path, index=False)
    return path


def _audit(*args: str):
    return runner.invoke(app, ["audit", "--n-bootstrap", "200", *args])


def _one_error_line(res) -> str:
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


def test_audit_of_a_predictions_file(tmp_path):
    preds = _predictions(tmp_path / "p.csv")
    res = _audit("--predictions", str(preds), "--group-col", "sex", "--out", str(tmp_path / "a"))
    assert res.exit_code == 0, res.output
    audit = json.loads((tmp_path / "a" / "audit.json").read_text())
    assert audit["task"] == "binary" and audit["n_rows"] == 200
    assert [g["group"] for g in audit["fairness"]["groups"]] == ["0", "1"]
    eo = audit["fairness"]["differences"]["equal_opportunity_difference"]
    assert eo["value"] > 0.2 and eo["ci95"][0] <= eo["value"] <= eo["ci95"][1]
    assert "equal_opportunity_difference" in res.output
    assert (tmp_path / "a" / "audit.html").read_text().startswith("<!doctype html>")


def test_derived_bins_regression_and_mitigation_from_predictions(tmp_path):
    preds = _predictions(tmp_path / "p.csv")
    res = _audit("--predictions", str(preds), "--group-col", "derived:bins:age:3",
                 "--out", str(tmp_path / "bins"))
    assert res.exit_code == 0, res.output
    groups = json.loads((tmp_path / "bins" / "audit.json").read_text())["fairness"]["groups"]
    assert len(groups) == 3 and groups[0]["group"].startswith("Q1 [")
    res = _audit("--predictions", str(preds), "--group-col", "sex", "--out",
                 str(tmp_path / "m"), "--mitigate", "true_positive_rate_parity")
    assert res.exit_code == 0, res.output
    audit = json.loads((tmp_path / "m" / "audit.json").read_text())
    name = "equal_opportunity_difference"
    assert audit["mitigation"]["after"]["differences"][name]["value"] < \
        audit["fairness"]["differences"][name]["value"]
    assert json.loads((tmp_path / "m" / "thresholds.json").read_text())["groups"].keys() == \
        {"0", "1"}
    reg = pd.DataFrame({"site": ["a"] * 5 + ["b"] * 5, "true_logp": np.arange(10.0),
                        "pred_logp": np.arange(10.0) + np.array([0] * 5 + [1, -1, 1, -1, 1])})
    reg.to_csv(tmp_path / "r.csv", index=False)
    res = _audit("--predictions", str(tmp_path / "r.csv"), "--group-col", "site",
                 "--out", str(tmp_path / "r"))
    assert res.exit_code == 0, res.output
    gaps = json.loads((tmp_path / "r" / "audit.json").read_text())["fairness"]["differences"]
    assert gaps["mae_gap"]["value"] == pytest.approx(1.0)


@pytest.mark.parametrize("case,words", [
    ("missing_group", "no column 'ethnicity'"),
    ("single_group", "single group"),
    ("no_labels", "no labels"),
    ("no_source", "--predictions"),
])
def test_bad_input_is_one_clear_line(tmp_path, case, words):
    preds = _predictions(tmp_path / "p.csv", true_num=case == "no_labels")
    if case == "single_group":
        pd.read_csv(preds).assign(sex=1.0).to_csv(preds, index=False)
    group = "ethnicity" if case == "missing_group" else "sex"
    source = [] if case == "no_source" else ["--predictions", str(preds)]
    res = _audit(*source, "--group-col", group, "--out", str(tmp_path / "a"))
    assert words in _one_error_line(res)
    assert not (tmp_path / "a").exists()


def test_mitigated_run_is_used_by_predict(tmp_path):
    df = make_molecules(120)
    df["site"] = np.where(np.random.default_rng(0).random(len(df)) < 0.4, "A", "B")
    data = tmp_path / "mols.csv"
    df.to_csv(data, index=False)
    run = tmp_path / "run"
    res = runner.invoke(app, ["-q", "train", "--data", str(data), "--input-col", "smiles",
                              "--target-col", "active", "--model", "linear", "--out", str(run),
                              "--no-track", "--set", "eval.n_bootstrap=20"])
    assert res.exit_code == 0, res.output
    fair = tmp_path / "fair"
    res = _audit(str(run), "--data", str(data), "--group-col", "site", "--mitigate",
                 "equalized_odds", "--mitigated-out", str(fair))
    assert res.exit_code == 0, res.output
    audit = json.loads((run / "audit" / "audit.json").read_text())
    assert audit["mitigation"]["run_dir"] == str(fair)
    report = (run / "report.html").read_text()  # the run's report shows the audit's summary
    assert '<section id="fairness">' in report and 'href="audit/audit.html"' in report
    res = runner.invoke(app, ["predict", str(fair), "--data", str(data), "--out",
                              str(tmp_path / "p.csv"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    again = _audit(str(fair), "--data", str(data), "--group-col", "site",
                   "--out", str(tmp_path / "again"))
    assert again.exit_code == 0, again.output
    after = {g["group"]: g for g in audit["mitigation"]["after"]["groups"]}
    redone = json.loads((tmp_path / "again" / "audit.json").read_text())["fairness"]["groups"]
    for g in redone:  # predict / audit of the mitigated run make the same decisions
        assert g["tpr"] == pytest.approx(after[g["group"]]["tpr"])
        assert g["selection_rate"] == pytest.approx(after[g["group"]]["selection_rate"])
    res = _audit(str(run), "--data", str(data), "--group-col", "derived:scaffold",
                 "--out", str(tmp_path / "scaffolds"))
    assert res.exit_code == 0, res.output
    from scifm.recipes.evaluate import evaluate  # the mitigated run keeps its training rows

    assert evaluate(fair, data, n_bootstrap=20)["audit"]["available"]
