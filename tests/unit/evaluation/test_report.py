"""The HTML report is one self-contained, escaped document with values, tables and figures."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from scifm.evaluation import interactive
from scifm.evaluation.metrics import evaluate_predictions, paired_bootstrap
from scifm.evaluation.report import ModelResult, ReportData, render_report, write_report
from scifm.evaluation.report_dataset import data_section
from scifm.tasks import TaskSpec
from tests.unit.evaluation.report_fixtures import EVIL_SMILES, molecule_report

EVIL = '<script>alert("x")</script>'


_PLOTLY_JS = re.compile(r"<script>.{100000,}?</script>", re.S)


def _external_refs(doc: str) -> list[str]:
    """References to anything outside the page (plotly.js itself, vetted, left out)."""
    doc = _PLOTLY_JS.sub("", doc)
    return re.findall(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", doc, re.I) + \
        re.findall(r"url\(\s*['\"]?(?:https?:)?//", doc, re.I) + re.findall(r"@import", doc)


def _scripts(doc: str) -> list[str]:
    """The opening tags of every script element."""
    return re.findall(r"<script[^>]*>", doc, re.I)


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
                     "duplicate_policy": "mean",
                     "targets": {"active": {"n": 120, "class_counts": {"inactive": 53,
                                                                        "active": 67}}}},
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
    # every user string is escaped: the only scripts are plotly.js, its loader and figure data
    tags = _scripts(doc)
    assert tags.count("<script>") == 2 and all(
        t == "<script>" or 'type="application/json" class="plotly-data"' in t for t in tags)
    assert EVIL not in doc
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
    assert ">53 (44%)<" in doc and ">67 (56%)<" in doc  # class balance from class_counts
    for text in ("scaffold", "unparseable SMILES", "Validation metrics", "0.910",
                 "3,400,000", "rejected_rows.csv", "1 test molecule also appears in train",
                 "Paired comparisons", "note &amp; more", "chemberta", 'id="summary"'):
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
    assert "No model results." in doc and "<script" not in doc  # no figure: no plotly.js


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


# --------------------------------------------------------------------------- issue 10: the look
def _section_ids(doc: str) -> list[str]:
    return re.findall(r"""<section id=["']([^"']+)["']""", doc)


def _figure_json(doc: str) -> list[dict]:
    blocks = re.findall(r'<script type="application/json" class="plotly-data" '
                        r'data-target="([^"]+)">(.*?)</script>', doc, re.S)
    for target, _ in blocks:
        assert f'<div class="plotly-fig" id="{target}"' in doc
    return [json.loads(text) for _, text in blocks]


@pytest.fixture(scope="module")
def regression_doc() -> tuple[ReportData, str]:
    data = molecule_report("regression", evil=True)
    return data, render_report(data)


def test_summary_card_comes_first_with_best_model_baseline_and_warnings(regression_doc) -> None:
    data, doc = regression_doc
    ids = _section_ids(doc)
    assert ids[0] == "summary" and doc.index('id="summary"') < doc.index('id="data"')
    card = doc[doc.index('id="summary"'):doc.index('id="data"')]
    best = data.models["lightgbm"].metrics["rmse"]
    assert "selected on validation: test rmse" in card and "<b>lightgbm</b>" in card
    assert f'<div class="big">{best["value"]:.3f}</div>' in card
    assert f"95% CI [{best['ci95'][0]:.3f}, {best['ci95'][1]:.3f}]" in card
    # the trivial baseline: the training mean predicted for every test molecule
    train, test = data.split_y["train"][:, 0], data.split_y["test"][:, 0]
    rmse = float(np.sqrt(np.mean((test - train.mean()) ** 2)))
    assert "training-mean predictor" in card and f'<div class="big">{rmse:.3f}</div>' in card
    # the other family beside it, with the paired difference
    assert "lightgbm − &lt;script&gt;" in card and "P(lightgbm better)" in card
    for w in ("predicts nearly one value", "decimal comma"):  # reviewer and data warnings
        assert w in card
    assert "scaffold" in card and "85 rows read, 5 rejected" in card


def test_table_of_contents_anchors_resolve(regression_doc) -> None:
    _, doc = regression_doc
    nav = re.search(r'<nav class="toc".*?</nav>', doc, re.S).group(0)
    links = re.findall(r'href="#([^"]+)"', nav)
    assert links == _section_ids(doc) and len(links) >= 8
    assert {"summary", "data", "predictions", "examples", "training", "config"} <= set(links)


def test_plotly_embedded_once_and_hostile_strings_escaped_in_figure_json(regression_doc) -> None:
    data, doc = regression_doc
    assert doc.count("<script>") == 2  # plotly.js once + the loader
    assert "cdn.plot.ly/plotly" not in doc.replace("https://cdn.plot.ly/un/", "")
    figs = _figure_json(doc)  # each block parses: no input closed its <script> early
    assert len(figs) == 1
    traces = [t for t in figs[0]["data"] if t.get("customdata")]
    assert {t["name"] for t in traces} == {"lightgbm", html.escape(EVIL)}
    hover = [c[0] for t in traces for c in t["customdata"]]
    assert sorted(set(hover)) == sorted({html.escape(s) for s in data.split_inputs["test"]})
    block = doc[doc.index('class="plotly-data"'):]
    assert "</script><script>alert" not in doc and EVIL_SMILES not in block.split("</script>")[0]


def test_data_section_units_and_per_split_statistics(regression_doc) -> None:
    data, doc = regression_doc
    sec = doc[doc.index('id="data"'):doc.index('id="split"')]
    assert "Target distribution: logp (log units)" in sec
    for split, y in data.split_y.items():
        assert f"<td>{split}</td><td>{len(y)}</td><td>{y[:, 0].mean():.3f}</td>" in sec
    assert "all rows used (after cleaning)" in sec
    for split, y in data.split_y.items():  # one histogram per split, named on its y axis
        assert f">{split}</text>" in sec and f">n={len(y)}</text>" in sec
    assert "rows rejected (listed in rejected.csv)</td><td>5<" in sec


def test_learning_curves_say_what_they_count() -> None:
    doc = render_report(molecule_report("regression"))
    sec = doc[doc.index('id="training"'):doc.index('id="config"')]
    assert "x: boosting rounds; loss: MSE ((log units)²)" in sec
    assert "x: epochs; loss: MSE (standardised target)" in sec
    assert ">boosting round<" in sec and ">epoch<" in sec
    assert "best epoch 4 (lowest val rmse)" in sec  # the fixture's minimum
    assert "best recorded boosting round" in sec
    assert "recorded" in sec and "no loss recorded" not in sec and "no metrics recorded" not in sec


def test_regression_parity_panels_share_axes() -> None:
    task = TaskSpec("regression", ["y"])
    y = np.arange(10.0)[:, None]
    fig = interactive.parity_figure(task, y, {"a": y + 1, "b": 3 * y}, [f"m{i}" for i in y],
                                    unit="K")
    lay = fig.layout
    assert lay.xaxis.range == lay.xaxis2.range and lay.yaxis.range == lay.yaxis2.range
    assert lay.yaxis2.matches == "y" and lay.xaxis.title.text == "true (K)"
    assert tuple(lay.xaxis.range) == pytest.approx((-0.81, 27.81))


def test_class_balance_bars_are_the_class_counts() -> None:
    """Issue 10: the data report writes class_counts; one bar per class, never n."""
    task = TaskSpec("binary", ["p_np"])
    data = ReportData(title="bbbp", task=task, data_report={
        "n_rows_in": 2039, "n_rows_out": 1955, "n_rejected": 84, "n_invalid": 0,
        "targets": {"p_np": {"n": 1955, "class_counts": {"0": 461, "1": 1494}}}})
    sec = data_section(data)
    bars = re.findall(r">(\d+) \(\d+%\)<", sec)
    assert sorted(bars, key=int) == ["461", "1494"] and "1955 (" not in sec


def test_evaluate_report_rejected_rows_agree_with_n_rejected() -> None:
    """Issue 10: 'rejected rows 0' next to 'n_rejected 11' (evaluate: duplicates, no label)."""
    task = TaskSpec("binary", ["y"])
    rep = {"n_rows_in": 40, "n_valid": 40, "n_invalid": 0, "n_rows_all_labels_missing": 3,
           "n_duplicate_rows": 8, "n_rows_out": 29, "n_rejected": 11}
    doc = render_report(ReportData(title="ev", task=task, data_report=rep))
    assert "rows rejected</td><td>11<" in doc and "n_rejected" not in doc
    assert "… all labels missing</td><td>3<" in doc
    assert "merged, or dropped for conflicting labels)</td><td>8<" in doc
    assert "40 rows read, 11 rejected" in doc


def test_classification_report_has_interactive_roc_with_inputs() -> None:
    data = molecule_report("binary")
    doc = render_report(data)
    (roc,) = _figure_json(doc)
    names = [t["name"] for t in roc["data"] if t.get("customdata")]
    assert any(n.startswith("lightgbm (AUC=") for n in names)
    assert any(n.startswith("lightgbm (AP=") for n in names)
    shown = {c[1] for t in roc["data"] if t.get("customdata") for c in t["customdata"]} - {""}
    assert shown and shown <= {html.escape(s) for s in data.split_inputs["test"]}
    assert "<noscript>" in doc and "Confusion matrices" in doc
    sec = doc[doc.index('id="data"'):doc.index('id="split"')]
    counts = data.data_report["targets"]["active"]["class_counts"]
    assert sorted(re.findall(r">(\d+) \(\d+%\)<", sec), key=int) == sorted(
        str(v) for v in counts.values())


def test_multiclass_and_multitarget_reports_draw_every_section() -> None:
    rng = np.random.default_rng(3)
    sp = {"train": np.arange(40), "val": np.arange(40, 50), "test": np.arange(50, 64)}
    smiles = [f"C{'C' * (i % 7)}O{'N' * (i % 3)}" for i in range(64)]
    mc = TaskSpec("multiclass", ["c"], ["a", "b", "c"])
    y = rng.integers(0, 3, (64, 1)).astype(float)
    p = rng.dirichlet([1, 1, 1], 14)
    yt = y[sp["test"]]
    doc = render_report(ReportData(
        title="mc", task=mc, modality="smiles",
        models={"m": ModelResult(evaluate_predictions(mc, yt, p, n_bootstrap=20), [], yt, p)},
        split={"sizes": {k: len(v) for k, v in sp.items()}},
        split_inputs={k: [smiles[i] for i in v] for k, v in sp.items()},
        split_y={k: y[v] for k, v in sp.items()}))
    assert "could not be drawn" not in doc and "micro-average over classes" in doc
    assert doc.count('<svg class="mol"') == 6 + 6 + 6 * 3
    assert "majority class (training frequencies)" in doc
    mt = TaskSpec("regression", ["a", "b"])
    y = rng.normal(size=(64, 2))
    y[::5, 1] = np.nan
    yt = y[sp["test"]]
    models = {n: ModelResult(evaluate_predictions(mt, yt, yt + s, n_bootstrap=20), [], yt, yt + s)
              for n, s in (("m1", 0.2), ("m2", 0.5))}
    doc = render_report(ReportData(
        title="mt", task=mt, modality="protein", units={"a": "K"}, models=models,
        split={"sizes": {k: len(v) for k, v in sp.items()}},
        split_inputs={k: ["MKT" * 40] * len(v) for k, v in sp.items()},
        split_y={k: y[v] for k, v in sp.items()}))
    assert "could not be drawn" not in doc and len(_figure_json(doc)) == 2
    assert "first model (no validation metrics)" in doc
    assert "No learning curve recorded for m1, m2" in doc and "<svg class=\"mol\"" not in doc
    assert "Parity &amp; residuals: a (K)" in doc and "Parity &amp; residuals: b<" in doc


def test_a_later_section_is_added_once_and_linked() -> None:
    from scifm.evaluation.report_page import add_section, page

    doc = page("t", "<header>h</header>", ['<section id="a"><h2>A</h2><p>x</p></section>'],
               footer="f")
    one = add_section(doc, '<section id="fairness"><h2>Fairness audit</h2><p>v1</p></section>')
    assert one.index('<section id="fairness">') < one.index("<footer>")
    assert 'href="#fairness"' in one and one.count('href="#fairness"') == 1
    two = add_section(one, '<section id="fairness"><h2>Fairness audit</h2><p>v2</p></section>')
    assert "v1" not in two and "v2" in two and two.count('href="#fairness"') == 1
