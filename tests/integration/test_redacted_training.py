"""``privacy.redact: true``: PII is out of the table before anything is trained or written, and
no planted string reaches the run directory (report, log, rejected rows, model, MLflow)."""

from __future__ import annotations

import json
import random

import pandas as pd
import pytest

from scifm.config.load import load_config
from scifm.recipes.evaluate import evaluate
from scifm.recipes.predict import predict
from scifm.recipes.train import train
from scifm.utils.extras import missing

pytestmark = [pytest.mark.integration, pytest.mark.skipif(
    missing("presidio_analyzer") or missing("presidio_anonymizer"),
    reason="the privacy extra is not installed: pip install -c constraints.txt -e '.[privacy]'")]

NAMES = ["Maria Gonzalez", "James Okafor", "Aisha Novak", "Wei Mensah", "Olga Patel"]
FINDINGS = {1: ["elevated troponin and chest pain", "ST elevation on the ECG"],
            0: ["normal sinus rhythm, no complaints", "routine follow-up, stable"]}


def _notes(n: int) -> tuple[pd.DataFrame, list[str]]:
    rng = random.Random(0)
    rows, planted = [], []
    for i in range(n):
        label = i % 2
        name, phone = rng.choice(NAMES), f"(617) 555-{rng.randint(0, 9999):04d}"
        mail = f"pt{i}@clinic-example.org"
        planted += [phone, mail]
        rows.append({"text": f"Patient: {name}, phone {phone}, email {mail}. "
                             f"{rng.choice(FINDINGS[label])}, dose {i} mg.", "label": label})
    return pd.DataFrame(rows), planted + NAMES


def test_no_planted_pii_reaches_the_run_directory(tmp_path):
    frame, planted = _notes(240)
    data = tmp_path / "notes.csv"
    frame.to_csv(data, index=False)
    cfg = load_config(flags={"data.path": str(data), "data.modality": "text",
                             "data.input_col": "text", "data.target_cols": ["label"],
                             "model.families": "lightgbm", "out": str(tmp_path / "run"),
                             "privacy.redact": True, "eval.n_bootstrap": 50,
                             "params.lightgbm.n_estimators": 20})
    run = train(cfg).run_dir
    report = json.loads((run / "data_report.json").read_text())
    assert report["pii_redacted"]["PHONE_NUMBER"] == 240
    assert report["pii_redacted"]["EMAIL_ADDRESS"] == 240
    written = [p for p in run.rglob("*") if p.is_file()] + [tmp_path / "mlflow.db"]
    for path in written:
        text = path.read_bytes().decode("utf-8", errors="replace")
        leaked = [s for s in planted if s in text]
        assert not leaked, f"{path.relative_to(tmp_path)} holds {leaked[:3]}"
    assert (run / "model" / "uncertainty" / "reference.json").is_file()  # redacted texts only
    html = (run / "report.html").read_text()
    assert '<section id="privacy">' in html and "PHONE_NUMBER" in html


def test_new_inputs_are_redacted_as_the_training_data(tmp_path):
    frame, _ = _notes(120)
    data = tmp_path / "notes.csv"
    frame.to_csv(data, index=False)
    cfg = load_config(flags={"data.path": str(data), "data.modality": "text",
                             "data.input_col": "text", "data.target_cols": ["label"],
                             "model.families": "lightgbm", "out": str(tmp_path / "run"),
                             "privacy.redact": True, "eval.n_bootstrap": 50,
                             "params.lightgbm.n_estimators": 20, "tracking.enabled": False})
    run = train(cfg).run_dir
    meta = json.loads((run / "model" / "scifm.json").read_text())
    assert meta["redaction"]["redact"] is True
    new = pd.DataFrame({"text": ["Patient: Olga Patel, phone (617) 555-0101, email "
                                 "olga@clinic-example.org. ST elevation on the ECG."]})
    new.to_csv(tmp_path / "new.csv", index=False)
    predict(run, tmp_path / "new.csv", tmp_path / "pred.csv", workers=1)
    out = (tmp_path / "pred.csv").read_text()
    for secret in ("555-0101", "olga@clinic-example.org", "Olga Patel"):
        assert secret not in out
    assert "<PHONE_NUMBER>" in out and "<EMAIL_ADDRESS>" in out
    # evaluate reads the training file again, redacted as in training: its rows are found
    metrics = evaluate(run, data, tmp_path / "eval")
    assert metrics["audit"].get("available", True) is not False, metrics["audit"]
    assert "changed since training" not in json.dumps(metrics["audit"])
    assert "555-" not in (tmp_path / "eval" / "predictions.csv").read_text()
