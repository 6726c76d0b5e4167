"""The HTML report is one self-contained, escaped document with values, tables and figures."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from scifm.evaluation.metrics import evaluate_predictions, paired_bootstrap
from scifm.evaluation.report import ModelResult, ReportData, render_report, write_report
from scifm.tasks import TaskSpec

EVIL = '<script>alert("x")</script>'


def _external_refs(doc: str) -> list[str]:
    return re.findall(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", doc, re.I) + \
        re.findall(r"url\(\s*['\"]?(?:https?:)?//", doc, re.I) + re.findall(r"@import", doc)


def _binary_data() -> ReportData:
    task = TaskSpec("binary", ["active"], ["inactive", "active"])
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (120, 1)).astype(float)
    good = np.clip(0.5 * y + 0.5 * rng.random((120, 1)), 0, 1)
    weak = rng.random((120, 1))
    models = {
        "chemberta": ModelResult(
            metrics=evaluate_predictions(task, y, good, n_bootstrap=100) | {
                "val": {"roc_auc": 0.91, "accuracy": 0.8}},
            history=[{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e,
                      "val_roc_auc": 0.6 + e / 20} for e in range(1, 5)],
            y_true=y, y_pred=good, fit_seconds=12.5, n_parameters=3_400_000),
        "lightgbm": ModelResult(metrics=evaluate_predictions(task, y, weak, n_bootstrap=100),
                                y_true=y, y_pred=weak, fit_seconds=0.4),
    }
    cmp = paired_bootstrap(task, y, good, weak, "roc_auc", n_bootstrap=100,
                           name_a="chemberta", name_b="lightgbm")
    return ReportData(
        title=f"BBBP {EVIL}", task=task, dataset_path="data/bbbp<1>.csv", modality="smiles",
        command="scifm run configs/bbbp.yaml",
        data_report={"n_rows_in": 130, "n_valid": 120, "n_invalid": 10,
                     "invalid_reasons": {"unparseable SMILES": 8, EVIL: 2},
                     "n_missing_labels": {"active": 0}, "n_duplicate_groups": 3,
                     "duplicate_policy": "mean", "targets": {"active": {"0": 60, "1": 60}}},
        split={"method": "scaffold", "seed": 0, "sizes": {"train": 96, "val": 12, "test": 12}},
        leakage={"exact_duplicates": {"train-test": 1},
                 "nn_similarity": {"mean": 0.41, "median": 0.4, "frac_ge_0.8": 0.05,
                                   "values": list(rng.random(30))},
                 "warnings": ["1 test molecule also appears in train"]},
        models=models, comparisons=[cmp], config_yaml="model: chemberta\nlr: 1e-4  # <tune>",
        rejected_rows_file="rejected_rows.csv", extra_notes=["note & more"],
        created="2024-01-01 00:00 UTC", environment={"numpy": "2.4"})


def test_binary_report(tmp_path: Path) -> None:
    data = _binary_data()
    doc = render_report(data)
    assert doc.startswith("<!DOCTYPE html>") and doc.count("<html") == 1
    assert doc.rstrip().endswith("</html>")
    # every user string is escaped: no script element can appear anywhere
    assert "<script" not in doc.lower()
    assert "BBBP &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in doc
    assert "data/bbbp&lt;1&gt;.csv" in doc and "# &lt;tune&gt;" in doc
    assert not _external_refs(doc)
    # metric values with their intervals, formatted as in the table
    m = data.models["chemberta"].metrics["roc_auc"]
    cell = f'{m["value"]:.3f} <span class="ci">[{m["ci95"][0]:.3f}, {m["ci95"][1]:.3f}]</span>'
    assert f"<b>{cell}</b>" in doc  # chemberta is the better model: its AUC is bold
    w = data.models["lightgbm"].metrics["roc_auc"]
    assert f"<td>{w['value']:.3f} " in doc
    assert doc.count("<svg") >= 5  # class balance, nn histogram, curves, ROC/PR, 2 confusion
    for text in ("scaffold", "unparseable SMILES", "Validation metrics", "0.910",
                 "3,400,000", "rejected_rows.csv", "1 test molecule also appears in train",
                 "Paired comparisons", "note &amp; more", "chemberta"):
        assert text in doc, text
    out = tmp_path / "sub" / "report.html"
    write_report(out, data)
    assert out.read_text(encoding="utf-8").count("<svg") == doc.count("<svg")


def test_regression_report_best_is_lowest_rmse() -> None:
    task = TaskSpec("regression", ["logS", "logP"])
    rng = np.random.default_rng(1)
    y = rng.normal(size=(60, 2))
    y[::4, 1] = np.nan
    good, bad = y + 0.1 * rng.normal(size=(60, 2)), y + rng.normal(size=(60, 2))
    models = {name: ModelResult(metrics=evaluate_predictions(task, y, p, n_bootstrap=50),
                                y_true=y, y_pred=p)
              for name, p in (("good", good), ("bad", bad))}
    data = ReportData(title="solubility", task=task, models=models,
                      data_report={"targets": {"logS": {"mean": 0.1, "std": 1.0}}})
    doc = render_report(data)
    rmse_row = re.search(r"<tr><td>rmse ↓</td>(.*?)</tr>", doc).group(1)
    cells = re.findall(r"<td>(.*?)</td>", rmse_row)
    assert cells[0].startswith("<b>") and not cells[1].startswith("<b>")
    r2_row = re.search(r"<tr><td>r2 ↑</td>(.*?)</tr>", doc).group(1)
    assert re.findall(r"<td>(.*?)</td>", r2_row)[0].startswith("<b>")
    assert "Per target (rmse)" in doc and "logP" in doc
    assert f"{models['good'].metrics['per_task']['logP']['rmse']['value']:.3f}" in doc
    assert doc.count("<svg") >= 4  # histograms, parity and residual plots
    assert "R²=" in doc
    assert not _external_refs(doc)


def test_report_tolerates_empty_inputs() -> None:
    doc = render_report(ReportData(title="empty", task=TaskSpec("binary", ["y"])))
    assert "No model results." in doc and "<script" not in doc


def test_data_warnings_and_conflicting_duplicates_are_shown() -> None:
    """Issue 9: the data report's warnings and the worst conflicting duplicate groups (with the
    policy applied) appear in the report, escaped."""
    import pandas as pd

    from scifm.config.schema import DataConfig
    from scifm.data.clean import clean_table

    df = pd.DataFrame({"smiles": ["CCO", "OCC", "CCN", "CCC", "CCCl", "c1ccccc1"],
                       "y": [1.0, 6.0, 2.0, 3.0, 2.5, 3.5],
                       "name": ["a", "a", "b", "c", "d", "e"]})
    rep = clean_table(df, DataConfig(target_cols=["y"], id_col="name")).report
    data = ReportData(title="t", task=TaskSpec("regression", ["y"]), data_report=rep)
    doc = render_report(data)
    assert "<h3>Conflicting duplicates</h3>" in doc
    assert "<code>data.duplicates=mean</code>: labels averaged" in doc
    assert "<td>0, 1</td><td>1, 6</td><td>5.000</td><td>averaged to 3.5</td>" in doc
    assert "id column &#x27;name&#x27; has 1 repeated value(s)" in doc
    assert "disagree by more than" in doc
