"""scifm tune end to end: CV search on train+val, leaderboard, normal run dir, resume, CLI."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.data.splitting import SPLITS
from scifm.recipes.predict import predict
from scifm.recipes.tune import tune

pytestmark = pytest.mark.integration


def _cfg(data, out, **extra):
    flags = {"data.path": str(data), "data.target_cols": ["active"], "out": str(out),
             "automl.tune.family": "xgboost", "automl.tune.n_trials": 4, "automl.tune.folds": 3,
             "model.n_jobs": 1, "eval.n_bootstrap": 50, "tracking.enabled": False, **extra}
    return load_config(None, flags=flags)


def test_tune_writes_run_dir_leaderboard_and_resumes(tmp_path, molecules, monkeypatch):
    data = tmp_path / "mols.csv"
    molecules.head(100).to_csv(data, index=False)
    seen: list[str] = []
    import scifm.tuning.objective as objective_mod

    real = objective_mod.featurize
    monkeypatch.setattr(objective_mod, "featurize",
                        lambda f, xs: (seen.extend(xs), real(f, xs))[1])
    out = tmp_path / "runs" / "tune"
    res = tune(_cfg(data, out, **{"tracking.enabled": True}))
    for name in ("config.yaml", "metrics.json", "predictions_test.csv", "report.html",
                 "leaderboard.csv", "study.json", "splits.json", "model/scifm.json"):
        assert (out / name).is_file(), name
    board = pd.read_csv(out / "leaderboard.csv")
    assert len(board) == 4 and {"trial", "state", "cv_mean", "cv_std", "fit_seconds",
                                "param_features"} <= set(board.columns)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == "xgboost" and metrics["cv"]["metric"] == "roc_auc"
    assert "roc_auc" in metrics["test"]
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    best = {k: v for k, v in res.best_params.items() if k != "features"}
    assert cfg["model"]["families"] == ["xgboost"]
    assert best.items() <= cfg["params"]["xgboost"].items()  # best trial in the typed section
    assert cfg["model"]["features"] == res.best_params["features"]
    # the search never featurised a test row
    split_ids = json.loads((out / "splits.json").read_text())
    assert set(SPLITS) <= set(split_ids)
    test_smiles = set(pd.read_csv(out / "predictions_test.csv")["input"])
    assert seen and not set(seen) & test_smiles
    # predict works on the run directory
    summary = predict(out, data, tmp_path / "preds.csv", workers=1)
    assert summary.n_rows == 100 and summary.n_invalid == 0
    # MLflow: a parent run and one nested run per trial
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    children = client.search_runs(
        [client.get_experiment_by_name("scifm").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{res.mlflow_run_id}'")
    assert len(children) == 4
    # replacing the run (--overwrite) with the same default storage / study name continues the
    # study: its optuna.db is copied into the new run
    again = tune(_cfg(data, out, **{"automl.tune.n_trials": 2, "overwrite": True}))
    assert again.n_trials == 6
    assert len(pd.read_csv(out / "leaderboard.csv")) == 6
    assert json.loads((out / "study.json").read_text())["n_trials_this_call"] == 2


def test_tune_cli(tmp_path, molecules):
    data = tmp_path / "mols.csv"
    molecules.head(80).to_csv(data, index=False)
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, [
        "tune", "--data", str(data), "--target-col", "logp", "--family", "linear",
        "--n-trials", "2", "--folds", "2", "--out", str(out), "--no-track",
        "--study-name", "mine", "--set", "eval.n_bootstrap=20", "--set", "model.n_jobs=1"])
    assert res.exit_code == 0, res.output
    assert "leaderboard" in res.output
    study = json.loads((out / "study.json").read_text())
    assert study["study_name"] == "mine" and study["folds"] == 2 and study["n_trials"] == 2
    assert study["direction"] == "minimize"


def test_tune_cv_is_scaffold_grouped_under_a_predefined_split(tmp_path, molecules):
    data = tmp_path / "mols.csv"
    frame = molecules.head(100).copy()
    frame["split"] = ["test" if i % 5 == 0 else "val" if i % 5 == 1 else "train"
                      for i in range(len(frame))]
    frame.to_csv(data, index=False)
    out = tmp_path / "tune"
    tune(_cfg(data, out, **{"split.method": "predefined", "split.column": "split",
                            "automl.tune.n_trials": 2}))
    cv = json.loads((out / "metrics.json").read_text())["cv"]["method"]
    assert cv.startswith("3-fold CV grouped by scaffold (") and cv.endswith(" groups)")
    assert set(pd.read_csv(out / "leaderboard.csv")["cv_folds"]) == {cv}
    assert json.loads((out / "study.json").read_text())["cv"] == cv
    assert cv in (out / "log.txt").read_text()
