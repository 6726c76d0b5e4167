"""scifm auto end to end: per-family CV searches, refits, ensemble, leaderboard, report, predict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.evaluation.metrics import compute_metrics
from scifm.models import load_predictor
from scifm.recipes.auto import auto
from scifm.recipes.predict import predict
from scifm.tuning.ensembling import holds_up

pytestmark = pytest.mark.integration

FAMILIES = ["knn", "rf", "extratrees"]


def _cfg(data, out, **extra):
    flags = {"data.path": str(data), "data.target_cols": ["active"], "out": str(out),
             "automl.auto.families": FAMILIES, "automl.tune.n_trials": 3,
             "automl.tune.folds": 3, "model.n_jobs": 1, "eval.n_bootstrap": 50,
             "tracking.enabled": False, **extra}
    return load_config(None, flags=flags, overrides=["params={}"])


def test_auto_run_dir_leaderboard_ensemble_and_predict(tmp_path, molecules, monkeypatch):
    data = tmp_path / "mols.csv"
    molecules.head(120).to_csv(data, index=False)
    seen: list[str] = []
    import scifm.tuning.objective as objective_mod

    real = objective_mod.featurize
    monkeypatch.setattr(objective_mod, "featurize",
                        lambda f, xs: (seen.extend(xs), real(f, xs))[1])
    out = tmp_path / "runs" / "auto"
    # the feature sets stay the families' own: which set a 3-trial search samples decides
    # whether the weighted average has two members (rdkit2d alone made linear win outright;
    # with its features clipped, linear wins outright on this fixture: it is not searched)
    res = auto(_cfg(data, out, **{"tracking.enabled": True,
                                  "automl.tune.tune_features": False}))
    for name in ("config.yaml", "metrics.json", "predictions_test.csv", "report.html",
                 "leaderboard.csv", "splits.json", "model/scifm.json",
                 "families/ensemble/model/scifm.json"):
        assert (out / name).is_file(), name

    # leaderboard: every trial of every family, one best-of-family row each, plus the ensemble
    board = pd.read_csv(out / "leaderboard.csv")
    trials = board[~board["family"].isin(["ensemble", "stacking"])]
    assert sorted(trials["family"].unique()) == sorted(FAMILIES)
    assert trials.groupby("family")["trial"].apply(sorted).to_dict() == {
        f: [0, 1, 2] for f in FAMILIES}
    best = board[board["best_of_family"]]
    assert sorted(best["family"]) == sorted([*FAMILIES, "ensemble", "stacking"])
    # refit and tested: the ensemble's members and the two best single families (refit=needed)
    refit = {p.name for p in (out / "families").iterdir()}
    tested = best[best["test_roc_auc"].notna()]
    assert set(tested["family"]) == refit and tested["test_roc_auc_ci_low"].notna().all()
    combined = {"ensemble", "stacking"}
    assert set(res.ensemble.weights) | set(res.stacking.members) | combined <= refit
    assert len(refit - combined) >= 2
    assert board.loc[~board["best_of_family"], "test_roc_auc"].isna().all()
    assert board["selected"].sum() == 1
    assert board.loc[board["selected"], "family"].item() == res.winner
    for f in FAMILIES:  # the refitted trial is the family's best by CV
        rows = trials[(trials["family"] == f) & (trials["state"] == "COMPLETE")]
        assert rows.loc[rows["best_of_family"], "cv_mean"].item() == rows["cv_mean"].max()

    # metrics.json: train schema, CIs, the selection and the paired comparisons
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model"] == res.winner
    lo, hi = metrics["test"]["roc_auc"]["ci95"]
    assert lo <= metrics["test"]["roc_auc"]["value"] <= hi
    sel = metrics["selection"]
    assert sel["kind"] == (res.winner if res.winner in combined else "single")
    assert res.stacking.keep == (res.winner == "stacking")
    assert res.winner != "ensemble" or res.ensemble.keep
    # kept only if it holds up out of fold (cross-fitted, one paired SE), never by test
    assert res.ensemble.keep == (len(res.ensemble.weights) > 1 and holds_up(
        res.ensemble.fold_scores, res.ensemble.selected_scores, True))
    assert abs(sum(sel["ensemble_weights"].values()) - 1) < 1e-9
    roles = {c["role"]: c for c in metrics["comparison"]}
    assert "runner-up" in roles and all(c["model_a"] == res.winner for c in roles.values())
    assert all(c["model_b"] not in combined for c in roles.values() if
               c["role"] == "best single family")
    html = (out / "report.html").read_text()
    assert "Leaderboard" in html and "★" in html and "runner-up" in html
    assert "Ensembles out of fold" in html and "stacking" in html

    # the search never featurised a test row
    test_smiles = set(pd.read_csv(out / "predictions_test.csv")["input"])
    assert seen and not set(seen) & test_smiles

    # the ensemble is a saved predictor: members + weights, loadable without pickle
    ens_dir = out / "families" / "ensemble" / "model"
    meta = json.loads((ens_dir / "scifm.json").read_text())
    ens = load_predictor(ens_dir)
    assert ens.family == "ensemble" and set(meta["weights"]) <= set(FAMILIES)
    for name in meta["weights"]:
        assert (ens_dir / "members" / name / "scifm.json").is_file()
    x = molecules["smiles"].head(10).tolist()
    manual = sum(w * load_predictor(ens_dir / "members" / n).predict(x)
                 for n, w in meta["weights"].items())
    assert np.allclose(ens.predict(x), manual)
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.pickle"))

    # predict works on the run directory, with the selected model
    summary = predict(out, data, tmp_path / "preds.csv", workers=1)
    assert summary.n_rows == 120 and summary.n_invalid == 0
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert preds["prob_active"].between(0, 1).all()
    test_pred = pd.read_csv(out / "predictions_test.csv")
    merged = test_pred.merge(preds, on="input", suffixes=("", "_p"))
    assert np.allclose(merged["prob_active"], merged["prob_active_p"])

    # MLflow: one parent run, one nested run per trial
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'runs' / 'mlflow.db'}")
    children = client.search_runs(
        [client.get_experiment_by_name("scifm").experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{res.mlflow_run_id}'")
    assert len(children) == 3 * len(FAMILIES)
    assert {c.data.params["family"] for c in children} == set(FAMILIES)


@pytest.mark.serial
def test_auto_cli_time_budget_regression(tmp_path, molecules):
    # 15 s: in a fresh process (the serial tests run first) imports and RDKit descriptors take
    # about 8 s before the search; linear and knn must both be searched in what is left
    data = tmp_path / "mols.csv"
    molecules.head(80).to_csv(data, index=False)
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, [
        "auto", "--data", str(data), "--target-col", "logp", "--families", "linear,knn",
        "--time-budget", "15", "--folds", "2", "--out", str(out), "--no-track",
        "--set", "eval.n_bootstrap=20", "--set", "model.n_jobs=1"])
    assert res.exit_code == 0, res.output
    assert "selected" in res.output and "leaderboard" in res.output
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["family"]) >= {"linear", "knn"} and (board["state"] == "COMPLETE").any()
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cv"]["metric"] == "rmse" and "rmse" in metrics["test"]
    # a lower-is-better metric: the leaderboard's best complete row has the lowest CV rmse
    done = board[board["state"] == "COMPLETE"]
    assert done["cv_mean"].iloc[0] == done["cv_mean"].min()


def test_auto_rejects_a_family_it_cannot_search(tmp_path, molecules):
    data = tmp_path / "mols.csv"
    molecules.head(30).to_csv(data, index=False)
    res = CliRunner().invoke(app, ["auto", "--data", str(data), "--target-col", "active",
                                   "--families", "stacking", "--out", str(tmp_path / "x"),
                                   "--no-track"])  # built by auto from the searched ones
    assert res.exit_code == 2 and "stacking" in res.output


def test_oof_predictions_match_the_folds(molecules):
    from scifm.config.schema import ExperimentConfig
    from scifm.tasks import TaskSpec
    from scifm.tuning.objective import CVObjective

    df = molecules.head(60)
    y = df[["active"]].to_numpy(dtype=float)
    folds = [(np.arange(30, 60), np.arange(0, 30)), (np.arange(0, 30), np.arange(30, 60))]
    task = TaskSpec("binary", ["active"], ["0", "1"])
    obj = CVObjective("linear", task, "smiles", df["smiles"].tolist(), y, folds,
                      {}, "ecfp", ExperimentConfig())
    oof = obj.oof_predictions({"C": 1.0})
    assert oof.shape == (60, 1) and np.isfinite(oof).all()
    # fold 0's rows come from a model that never saw them: refit on fold-0 train only
    again = obj._fold_predictions("ecfp", {"C": 1.0}, folds[0][0], folds[0][1])
    assert np.allclose(oof[:30], again)
    assert compute_metrics(task, y, oof)["roc_auc"] > 0.5


def test_auto_cv_is_scaffold_grouped_under_a_random_split(tmp_path, molecules):
    data = tmp_path / "mols.csv"
    molecules.head(90).to_csv(data, index=False)
    out = tmp_path / "auto"
    auto(_cfg(data, out, **{"split.method": "random", "automl.auto.families": ["linear", "knn"],
                            "automl.tune.n_trials": 1}))
    cv = json.loads((out / "metrics.json").read_text())["cv"]["method"]
    assert cv.startswith("3-fold CV grouped by scaffold (")
    assert set(pd.read_csv(out / "leaderboard.csv")["cv_folds"]) == {cv}
    assert cv in (out / "log.txt").read_text() and cv in (out / "report.html").read_text()
