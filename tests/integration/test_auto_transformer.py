"""``scifm auto`` with a local checkpoint (``model.init``): the transformer family is searched
too, fine-tuned once on the train rows inside its share of the budget and scored on val, and
its fine-tuned model is the refit."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from tests.encoders import save_tiny_encoder

pytestmark = pytest.mark.integration


def _texts(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    verbs = {1: ["binds", "activates", "increases"], 0: ["blocks", "reduces", "lowers"]}
    nouns = ["protein", "gene", "enzyme", "receptor", "kinase", "cell"]
    rows = [{"text": f"the {rng.choice(nouns)} {rng.choice(verbs[i % 2])} the "
                     f"{rng.choice(nouns)} in {rng.choice(nouns)} samples", "label": i % 2}
            for i in range(240)]
    data = tmp_path / "text.csv"
    pd.DataFrame(rows).to_csv(data, index=False)
    return data, save_tiny_encoder(tmp_path / "enc", [r["text"] for r in rows], modality="text")


def _auto(data: Path, encoder: Path, out: Path, *args: str) -> Any:
    return CliRunner().invoke(app, [
        "auto", "--data", str(data), "--target-col", "label", "--modality", "text",
        "--families", "linear,transformer", "--folds", "2", "--out", str(out), "--no-track",
        "--set", f"model.init={encoder}", "--set", "model.max_length=16",
        "--set", "eval.n_bootstrap=20", *args])


def test_auto_fine_tunes_the_checkpoint_once_and_reuses_it_as_the_refit(tmp_path):
    data, encoder = _texts(tmp_path)
    out = tmp_path / "auto"
    res = _auto(data, encoder, out, "--n-trials", "1")
    assert res.exit_code == 0, res.output
    board = pd.read_csv(out / "leaderboard.csv")
    tf = board[(board["family"] == "transformer") & (board["state"] == "COMPLETE")]
    assert len(tf) == 1, board[["family", "state", "cut"]]
    assert json.loads(tf["params"].iloc[0]) == {  # trial 0: the fine-tuning defaults
        "lr": 1e-4, "epochs": 6, "lora_r": 0, "class_weight": "auto"}
    assert "scored on the" in str(tf["cv_folds"].iloc[0])  # one fit, scored on val
    assert "transformer: the holdout trial's model is the refit" in (out / "log.txt").read_text()
    metrics = json.loads((out / "metrics.json").read_text())
    assert "roc_auc" in metrics["families"]["transformer"]["test"]
    assert (out / "families" / "transformer" / "model" / "model.safetensors").is_file()


@pytest.mark.serial
def test_auto_with_a_checkpoint_holds_its_time_budget(tmp_path):
    data, encoder = _texts(tmp_path)
    out, budget = tmp_path / "auto", 30
    t0 = time.monotonic()
    res = _auto(data, encoder, out, "--time-budget", str(budget))
    took = time.monotonic() - t0
    assert res.exit_code == 0, res.output
    assert took < 1.1 * budget + 3  # the CLI runner's own start is outside the budget
    board = pd.read_csv(out / "leaderboard.csv")
    assert (board[board["family"] == "transformer"]["state"] == "COMPLETE").any(), board
