"""End to end: a trained run gets its uncertainty layer; predict writes its columns; the numbers
in metrics.json are those of predictions_test.csv; the layer is covered by the manifest."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scifm.config.load import load_config
from scifm.errors import RunDirError
from scifm.recipes.predict import predict
from scifm.recipes.train import train
from tests.conftest import make_molecules

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    path = tmp_path_factory.mktemp("unc") / "mols.csv"
    make_molecules(300, seed=1).to_csv(path, index=False)
    return path


def _train(tmp_path, data, target, **flags):
    cfg = load_config(flags={"data.path": str(data), "data.input_col": "smiles",
                             "data.target_cols": [target], "model.families": "lightgbm",
                             "model.features": "ecfp", "out": str(tmp_path / "run"),
                             "eval.n_bootstrap": 100, "params.lightgbm.n_estimators": 60,
                             **flags})
    return train(cfg).run_dir


def test_regression_intervals_from_training_to_predict(tmp_path, data):
    run = _train(tmp_path, data, "logp")
    u = json.loads((run / "metrics.json").read_text())["uncertainty"]
    assert u["calibrated_on"] == "validation" and u["confidence"] == 0.9
    m = u["targets"]["logp"]
    assert m["method"] in ("standard", "normalized", "mondrian")
    test = pd.read_csv(run / "predictions_test.csv")
    inside = (test["lower_logp"] <= test["true_logp"]) & (test["true_logp"] <= test["upper_logp"])
    assert np.isclose(m["coverage"]["value"], inside.mean())
    assert np.isclose(m["mean_width"]["value"], (test["upper_logp"] - test["lower_logp"]).mean())
    lo, hi = m["coverage"]["ci95"]
    assert lo <= m["coverage"]["value"] <= hi
    dom = u["domain"]
    assert dom["similarity"] == "Tanimoto" and 0 <= dom["share_in_domain"] <= 1
    assert np.isclose(dom["share_in_domain"], test["in_domain"].mean())
    # predict on the test inputs gives the same columns as training wrote
    test[["input"]].rename(columns={"input": "smiles"}).to_csv(tmp_path / "q.csv", index=False)
    predict(run, tmp_path / "q.csv", tmp_path / "out.csv", workers=1)
    out = pd.read_csv(tmp_path / "out.csv")
    for col in ("pred_logp", "lower_logp", "upper_logp", "uncertainty_logp", "nn_similarity"):
        np.testing.assert_allclose(out[col], test[col], rtol=1e-9, err_msg=col)
    assert "Uncertainty &amp; applicability domain" in (run / "report.html").read_text()


def test_classification_calibration_and_sets(tmp_path, data):
    run = _train(tmp_path, data, "active")
    m = json.loads((run / "metrics.json").read_text())["uncertainty"]["targets"]["active"]
    assert m["calibrator"] in ("none", "platt", "isotonic")
    assert {"ece_before", "ece_after", "set_coverage", "mean_set_size"} <= set(m)
    test = pd.read_csv(run / "predictions_test.csv", keep_default_na=False)
    truth = test["true_active"].astype(str)
    covered = [t in s.split("|") for t, s in zip(truth, test["set_active"], strict=True)]
    assert np.isclose(m["set_coverage"]["value"], np.mean(covered))
    assert test["cal_prob_active"].astype(float).between(0, 1).all()


def test_the_layer_is_in_the_manifest(tmp_path, data):
    run = _train(tmp_path, data, "logp")
    state = run / "model" / "uncertainty" / "uncertainty.json"
    state.write_text(state.read_text().replace('"confidence": 0.9', '"confidence": 0.5'))
    pd.DataFrame({"smiles": ["CCO"]}).to_csv(tmp_path / "q.csv", index=False)
    with pytest.raises(RunDirError, match="manifest"):
        predict(run, tmp_path / "q.csv", tmp_path / "out.csv", workers=1)


def test_uncertainty_can_be_switched_off(tmp_path, data):
    run = _train(tmp_path, data, "logp", **{"uncertainty.enabled": False})
    assert json.loads((run / "metrics.json").read_text())["uncertainty"] is None
    assert not (run / "model" / "uncertainty").exists()
    assert "lower_logp" not in pd.read_csv(run / "predictions_test.csv").columns
