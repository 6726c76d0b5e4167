"""``scifm finetune`` from the command line, and ``scifm evaluate`` / ``scifm predict`` on its
token-classification runs (NER on CoNLL files, per-residue labels with a mask)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from token_fixtures import ner_sentences, residue_rows, write_conll  # noqa: E402

pytestmark = pytest.mark.cli
runner = CliRunner()
QUICK = ["--set", "model.size=tiny", "--set", "model.max_length=64", "--set",
         "model.text_vocab_size=200", "--epochs", "4", "--lr", "3e-3", "--batch-size", "8",
         "--set", "train.bf16=off", "--set", "eval.n_bootstrap=50", "--no-track"]


def test_finetune_ner_then_evaluate_and_predict(tmp_path):
    paths = {name: write_conll(tmp_path / f"{name}.conll", ner_sentences(n, seed))
             for name, n, seed in (("train", 24, 0), ("dev", 6, 1), ("test", 8, 2))}
    run = tmp_path / "run"
    res = runner.invoke(app, ["finetune", "--data", str(paths["train"]), "--modality", "text",
                              "--task", "token_classification", "--set",
                              f"data.val_path={paths['dev']}", "--set",
                              f"data.test_path={paths['test']}", "--out", str(run), *QUICK])
    assert res.exit_code == 0, res.output
    assert "entity_f1" in res.output and "selected model: token" in res.output
    trained = json.loads((run / "metrics.json").read_text())

    res = runner.invoke(app, ["evaluate", str(run), "--data", str(paths["test"])])
    assert res.exit_code == 0, res.output
    assert "entity_f1" in res.output and "rejected rows: 0" in res.output
    evaluated = json.loads((run / "evaluations" / "test" / "metrics.json").read_text())
    assert evaluated["model"] == "token" and evaluated["kind"] == "ner"
    # the same model on the same test sentences: the run's own test score
    assert evaluated["test"]["entity_f1"]["value"] == trained["test"]["entity_f1"]["value"]
    preds = pd.read_csv(run / "evaluations" / "test" / "predictions.csv")
    assert len(preds) == 8 and {"id", "input", "true", "pred"} <= set(preds.columns)
    assert (run / "evaluations" / "test" / "report.html").is_file()

    out = tmp_path / "tagged.csv"
    res = runner.invoke(app, ["predict", str(run), "--data", str(paths["test"]), "--out",
                              str(out)])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(out)["pred"].tolist() == preds["pred"].tolist()


def test_evaluate_a_residue_run_on_a_table_with_a_mask(tmp_path):
    rows = residue_rows(30)
    path, test_rows = tmp_path / "ss.csv", tmp_path / "ss_test.csv"
    for file, part in ((path, rows), (test_rows, [r for r in rows if r["set"] == "test"])):
        with open(file, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(part)
    run = tmp_path / "run"
    res = runner.invoke(app, ["finetune", "--data", str(path), "--modality", "protein",
                              "--task", "token_classification", "--target-col", "ss3",
                              "--set", "data.mask_col=resolved_mask", "--set", "data.id_col=id",
                              "--split", "column:set", "--out", str(run), *QUICK])
    assert res.exit_code == 0, res.output
    trained = json.loads((run / "metrics.json").read_text())
    res = runner.invoke(app, ["evaluate", str(run), "--data", str(test_rows), "--out",
                              str(tmp_path / "ev")])
    assert res.exit_code == 0, res.output
    evaluated = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert evaluated["test"]["n_scored"] == trained["test"]["n_scored"]  # the mask applies
    assert evaluated["test"]["q3"]["value"] == trained["test"]["q3"]["value"]
