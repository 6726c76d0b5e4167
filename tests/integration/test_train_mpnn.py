"""``scifm train --model mpnn`` end to end (report, predict, evaluate); without chemprop the
command is refused in one line naming the extra."""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.registry import FAMILIES
from scifm.models import load_predictor

pytestmark = pytest.mark.integration
runner = CliRunner()

TINY = ["--set", "params.mpnn.hidden=32", "--set", "params.mpnn.ffn_hidden=32",
        "--set", "params.mpnn.epochs=6", "--set", "params.mpnn.batch_size=16",
        "--set", "params.mpnn.threads=1", "--set", "eval.n_bootstrap=20"]


def test_train_predict_evaluate_mpnn(tmp_path, molecules_csv):
    pytest.importorskip("chemprop", reason="the mpnn extra (chemprop) is not installed: "
                                           'pip install -c constraints.txt -e ".[mpnn]"')
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(molecules_csv), "--input-col", "smiles",
                              "--target-col", "logp", "--model", "mpnn", "--out", str(run),
                              "--no-track", *TINY])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "mpnn" and np.isfinite(metrics["test"]["rmse"]["value"])
    assert (run / "report.html").is_file()
    files = [p.name for p in (run / "model").iterdir()]
    assert "member_0.safetensors" in files and all(
        f.endswith((".json", ".safetensors", ".md")) for f in files)  # README.md: the model card
    history = json.loads((run / "history.json").read_text())["mpnn"]
    assert history and "train_loss" in history[0]

    model = load_predictor(run / "model")
    preds = pd.read_csv(run / "predictions_test.csv")
    np.testing.assert_allclose(model.predict(preds["input"].tolist())[:, 0],
                               preds.filter(like="pred").iloc[:, 0], rtol=1e-5)

    out = tmp_path / "preds.csv"
    res = runner.invoke(app, ["predict", str(run), "--data", str(molecules_csv),
                              "--input-col", "smiles", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out)) == len(pd.read_csv(molecules_csv))

    res = runner.invoke(app, ["evaluate", str(run), "--data", str(molecules_csv),
                              "--out", str(tmp_path / "eval")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "eval" / "predictions.csv").is_file()


@pytest.fixture
def tunable_mpnn():
    """``mpnn`` with a tiny search space attached (its registered spec has none yet)."""
    spec = FAMILIES.get("mpnn")
    FAMILIES.register(dataclasses.replace(spec, search_space={
        "depth": ("int", 2, 3), "dropout": ("float", 0.0, 0.2),
        "lr": ("float", 1e-3, 1e-2, {"log": True})}), replace=True)
    yield
    FAMILIES.register(spec, replace=True)


def test_auto_searches_mpnn(tmp_path, molecules_csv, tunable_mpnn):
    pytest.importorskip("chemprop", reason="the mpnn extra (chemprop) is not installed: "
                                           'pip install -c constraints.txt -e ".[mpnn]"')
    out = tmp_path / "auto"
    res = runner.invoke(app, ["auto", "--data", str(molecules_csv), "--input-col", "smiles",
                              "--target-col", "logp", "--no-track", "--out", str(out), *TINY,
                              "--set", "automl.auto.families=[mpnn, linear]",
                              "--set", "automl.tune.n_trials=2", "--set", "automl.tune.folds=2",
                              "--set", "automl.tune.pruner=none", "--set", "model.n_jobs=1"])
    assert res.exit_code == 0, res.output
    board = pd.read_csv(out / "leaderboard.csv")
    trials = board[(board["family"] == "mpnn") & (board["state"] == "COMPLETE")]
    assert len(trials) == 2 and trials["cv_mean"].notna().all()
    # mpnn is fitted once on train and scored on val (the split has val rows); linear by CV
    assert (trials["folds_done"] == 1).all()
    assert trials["cv_folds"].str.startswith("holdout: fitted on the").all()
    linear = board[board["family"] == "linear"]
    assert linear["cv_folds"].str.startswith("2-fold").all()
    metrics = json.loads((out / "metrics.json").read_text())
    assert "mpnn fitted once on train and scored on the" in metrics["cv"]["method"]
    # the best trial's model is the refit, not trained again
    best = int(trials.loc[trials["best_of_family"], "trial"].iloc[0])
    kept = next((out / "oof").glob(f"*-mpnn-{best}.model")) / "member_0.safetensors"
    refit = out / "families" / "mpnn" / "model" / "member_0.safetensors"
    assert refit.read_bytes() == kept.read_bytes()


@pytest.mark.serial
@pytest.mark.parametrize("min_rows", [0, None], ids=["val-rows-enough", "val-rows-too-few"])
def test_auto_with_a_budget_fits_mpnn_first_then_the_others_on_its_rows_or_by_kfold(
        tmp_path, molecules_csv, monkeypatch, min_rows):
    pytest.importorskip("chemprop", reason="the mpnn extra (chemprop) is not installed: "
                                           'pip install -c constraints.txt -e ".[mpnn]"')
    from scifm.tuning import portfolio

    if min_rows is not None:
        monkeypatch.setattr(portfolio, "MIN_HOLDOUT_SEARCH_ROWS", min_rows)
    out = tmp_path / "auto"
    t0 = time.monotonic()
    res = runner.invoke(app, ["auto", "--data", str(molecules_csv), "--input-col", "smiles",
                              "--target-col", "logp", "--no-track", "--out", str(out), *TINY,
                              "--set", "automl.auto.families=[knn, mpnn, linear]",
                              "--time-budget", "30", "--set", "model.n_jobs=1",
                              "--set", "automl.tune.folds=2"])
    wall = time.monotonic() - t0
    assert res.exit_code == 0, res.output
    assert wall <= 33.0  # the budget holds (+ 10 %)
    board = pd.read_csv(out / "leaderboard.csv")
    done = board[(board["state"] == "COMPLETE") & board["trial"].notna()]
    assert set(done["family"]) == {"knn", "mpnn", "linear"}
    on_val = done["cv_folds"].str.startswith("holdout: fitted on the")
    # the fixture has fewer val rows than MIN_HOLDOUT_SEARCH_ROWS: only mpnn is fitted on them
    assert on_val.all() if min_rows == 0 else on_val.tolist() == (done["family"] == "mpnn").tolist()
    log = (out / "log.txt").read_text()
    assert log.index("searching mpnn") < log.index("searching knn")  # mpnn first, in its share
    # a family fitted on the train rows and scored on val keeps that fit as its refit
    refits = {f for f in ("knn", "mpnn", "linear")
              if f"{f}: the holdout trial's model is the refit" in log}
    assert refits == ({"knn", "mpnn", "linear"} if min_rows == 0 else {"mpnn"}) & set(
        metrics_families(out))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["selection"]["by"].startswith("rmse on the val rows")


def metrics_families(out) -> set[str]:
    """The families refitted (with test metrics) in an ``auto`` run."""
    return set(json.loads((out / "metrics.json").read_text())["families"])


def test_mpnn_without_chemprop_is_one_line(tmp_path, molecules_csv, monkeypatch):
    monkeypatch.setitem(sys.modules, "chemprop", None)  # as if the extra were not installed
    res = runner.invoke(app, ["train", "--data", str(molecules_csv), "--target-col", "logp",
                              "--model", "mpnn", "--out", str(tmp_path / "r"), "--no-track"])
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.startswith("error")]
    assert len(lines) == 1, res.output
    assert '.[mpnn]' in res.output and "chemprop" in res.output.lower()
    assert not (tmp_path / "r").exists() and not (tmp_path / "r.partial").exists()  # no work
