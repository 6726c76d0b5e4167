"""End to end: data file -> run directory, with the LightGBM family (fast)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scifm.config.load import load_config
from scifm.recipes.evaluate import evaluate
from scifm.recipes.predict import predict
from scifm.recipes.train import train

pytestmark = pytest.mark.integration

CLS_METRICS = ["accuracy", "balanced_accuracy", "precision", "recall", "f1_macro", "f1_micro",
               "roc_auc", "pr_auc", "mcc"]
REG_METRICS = ["rmse", "mae", "r2", "pearson", "spearman"]


def _cfg(tmp_path, data, **flags):
    base = {"data.path": str(data), "data.input_col": "smiles", "data.target_cols": ["active"],
            "model.families": "lightgbm", "out": str(tmp_path / "run"), "split.method": "scaffold",
            "eval.n_bootstrap": 200, "params.lightgbm.n_estimators": 200}
    base.update(flags)
    return load_config(flags=base)


def test_lightgbm_run_directory_contract(tmp_path, dirty_csv):
    result = train(_cfg(tmp_path, dirty_csv))
    run = result.run_dir
    for name in ["config.yaml", "log.txt", "data_report.json", "rejected.csv", "splits.json",
                 "leakage.json", "metrics.json", "predictions_test.csv", "report.html",
                 "model/scifm.json"]:
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    for m in CLS_METRICS:
        cell = metrics["test"][m]
        assert set(cell) == {"value", "ci95", "ci_method"}  # issue 9: BCa, method named
        lo, hi = cell["ci95"]
        assert lo <= cell["value"] <= hi or np.isnan(cell["value"])
    assert metrics["model"] == "lightgbm"
    assert "roc_auc" in metrics["val"]
    # nothing lost: every input row is used or quarantined with a reason
    n_in = len(pd.read_csv(dirty_csv))
    rejected = pd.read_csv(run / "rejected.csv")
    splits = json.loads((run / "splits.json").read_text())
    n_used = sum(len(splits[k]) for k in ("train", "val", "test"))
    assert n_used + len(rejected) == n_in
    assert rejected["reason"].notna().all()
    reasons = " ".join(rejected["reason"].astype(str))
    assert "SMILES" in reasons or "smiles" in reasons  # the 3 invalid molecules
    report = json.loads((run / "data_report.json").read_text())
    assert report["n_invalid"] == 3
    # predictions: one row per test molecule, probabilities in [0, 1]
    preds = pd.read_csv(run / "predictions_test.csv")
    assert len(preds) == len(splits["test"])
    assert preds["prob_active"].between(0, 1).all()
    html = (run / "report.html").read_text()
    assert "rejected" in html.lower() and "<svg" in html
    assert f"{metrics['test']['roc_auc']['value']:.3f}" in html  # test metrics are shown
    assert f"Test set ({len(splits['test'])} rows)" in html


def test_lightgbm_regression_learns_signal(tmp_path, molecules_csv):
    cfg = _cfg(tmp_path, molecules_csv, **{"data.target_cols": ["logp"],
                                           "split.method": "random"})
    result = train(cfg)
    test = result.metrics["test"]
    for m in REG_METRICS:
        assert m in test
    assert test["r2"]["value"] > 0.5  # logP is learnable from fingerprints + descriptors
    assert test["rmse"]["ci95"][0] <= test["rmse"]["value"] <= test["rmse"]["ci95"][1]


def test_same_seed_same_metrics(tmp_path, molecules_csv):
    a = train(_cfg(tmp_path / "a", molecules_csv, seed=3)).metrics["test"]
    b = train(_cfg(tmp_path / "b", molecules_csv, seed=3)).metrics["test"]
    assert a == b


def test_predefined_split_column_is_respected(tmp_path, molecules):
    df = molecules.copy()
    df["fold"] = (["train"] * 80) + (["valid"] * 20) + (["test"] * 20)
    path = tmp_path / "with_split.csv"
    df.to_csv(path, index=False)
    result = train(_cfg(tmp_path, path, **{"split.method": "predefined",
                                           "split.column": "fold"}))
    splits = json.loads((result.run_dir / "splits.json").read_text())
    assert sorted(splits["test"]) == list(range(100, 120))
    assert sorted(splits["val"]) == list(range(80, 100))


def test_predict_and_evaluate_from_run_directory(tmp_path, molecules_csv, molecules):
    result = train(_cfg(tmp_path, molecules_csv))
    new = pd.DataFrame({"smiles": list(molecules["smiles"][:30]) + ["C1CC", ""] +
                        list(molecules["smiles"][30:40])})
    new_path = tmp_path / "new.csv"
    new.to_csv(new_path, index=False)
    out = tmp_path / "preds.csv"
    summary = predict(result.run_dir, new_path, out, chunksize=7)
    preds = pd.read_csv(out, keep_default_na=False)
    assert summary.n_rows == len(new) == len(preds)
    assert list(preds["row_id"]) == list(range(len(new)))
    assert list(preds["input"]) == list(new["smiles"].fillna(""))
    invalid = preds[preds["status"] == "invalid"]
    assert list(invalid["row_id"]) == [30, 31] and (invalid["error"] != "").all()
    assert summary.n_invalid == 2
    ok = preds[preds["status"] == "ok"]
    assert pd.to_numeric(ok["prob_active"]).between(0, 1).all()
    # the same molecules predicted in one chunk or many give the same numbers
    out2 = tmp_path / "preds_one_chunk.csv"
    predict(result.run_dir, new_path, out2, chunksize=10_000, workers=1)
    assert pd.read_csv(out2, keep_default_na=False)["prob_active"].tolist() == \
        preds["prob_active"].tolist()
    # two worker processes: same rows, same order, same numbers
    out3 = tmp_path / "preds_parallel.csv"
    predict(result.run_dir, new_path, out3, chunksize=5, workers=2)
    assert out3.read_text() == out.read_text()
    metrics = evaluate(result.run_dir, molecules_csv, out=tmp_path / "ev", n_bootstrap=100)
    assert metrics["test"]["n"] == len(molecules)
    assert (tmp_path / "ev" / "report.html").exists()
    assert metrics["test"]["roc_auc"]["value"] > 0.8  # includes its own training rows
