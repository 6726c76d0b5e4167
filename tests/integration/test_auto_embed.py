"""``scifm auto --embed``: a pretrained encoder's embeddings are searched as feature sets."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from tests.encoders import save_tiny_encoder

pytestmark = pytest.mark.integration


def test_auto_searches_embed_feature_sets(tmp_path, molecules):
    data = tmp_path / "mols.csv"
    molecules.head(80).to_csv(data, index=False)
    encoder = save_tiny_encoder(tmp_path / "mlm" / "model", molecules["smiles"].tolist())
    out = tmp_path / "auto"
    res = CliRunner().invoke(app, [
        "auto", "--data", str(data), "--target-col", "logp", "--families", "linear",
        "--n-trials", "12", "--folds", "2", "--embed", str(encoder), "--out", str(out),
        "--no-track", "--set", "eval.n_bootstrap=20", "--set", "model.n_jobs=1",
        "--set", "automl.auto.ensemble=false"])
    assert res.exit_code == 0, res.output
    board = pd.read_csv(out / "leaderboard.csv")
    done = board[(board["family"] == "linear") & (board["state"] == "COMPLETE")]
    features = {int(t): json.loads(p)["features"]
                for t, p in zip(done["trial"], done["params"], strict=True)}
    assert any(f.startswith(f"embed:{encoder.resolve()}") for f in features.values()), features
    assert features[0] == "rdkit2d"  # trial 0: the defaults (regression), not embeddings
