"""``scifm finetune`` on a sequence-level task: the same steps, hence the same model and numbers,
as ``scifm train --model transformer`` for the same seed."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from scifm.config.load import load_config
from scifm.recipes.finetune import finetune
from scifm.recipes.predict import predict
from scifm.recipes.train import train

pytestmark = pytest.mark.integration


def test_finetune_matches_train_with_the_transformer_family(tmp_path, molecules_csv):
    flags = {"data.path": str(molecules_csv), "data.input_col": "smiles",
             "data.target_cols": ["active"], "split.method": "random", "model.size": "tiny",
             "model.max_length": 48, "train.epochs": 3, "train.batch_size": 16,
             "train.lr": 3e-3, "train.bf16": "off", "eval.n_bootstrap": 50,
             "tracking.enabled": False, "seed": 3}
    tuned = finetune(load_config(flags={**flags, "out": str(tmp_path / "ft")}))
    trained = train(load_config(flags={**flags, "out": str(tmp_path / "tr"),
                                       "model.families": ["transformer"]}))
    assert tuned.selected == trained.selected == "transformer"
    a, b = tuned.metrics, trained.metrics
    assert a["test"] == b["test"] and a["val"] == b["val"]
    assert a["n_parameters"] == b["n_parameters"]
    pa = pd.read_csv(tuned.run_dir / "predictions_test.csv")
    pd.testing.assert_frame_equal(pa, pd.read_csv(trained.run_dir / "predictions_test.csv"))
    for name in ("config.yaml", "splits.json", "leakage.json", "history.json", "report.html"):
        assert (tuned.run_dir / name).is_file(), name
    assert not (tuned.run_dir / "checkpoints").exists()
    meta = json.loads((tuned.run_dir / "model" / "scifm.json").read_text())
    assert meta["family"] == "transformer" and meta["data"]["input_col"] == "smiles"

    new = tmp_path / "new.csv"
    pd.DataFrame({"smiles": ["CCO", "C1CC"]}).to_csv(new, index=False)
    summary = predict(tuned.run_dir, new, tmp_path / "p.csv")
    assert summary.n_rows == 2 and summary.n_invalid == 1
