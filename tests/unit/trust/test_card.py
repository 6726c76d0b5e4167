"""The model card ``model/README.md`` (issue 12 item 5): its numbers are metrics.json's, its YAML
front matter is valid Hub metadata, and what a run did not measure is said in words."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import yaml
from huggingface_hub import ModelCard

from scifm.config.load import load_config
from scifm.models.manifest import read_manifest
from scifm.recipes.train import train
from scifm.rundir import RunDir
from scifm.trust.card import CARD, render_card, write_card
from scifm.trust.card_sections import fmt, metric_cells


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny real LightGBM run (tracking off): its card is written by the run itself."""
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("card")
    make_molecules(80).to_csv(root / "mols.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(root / "mols.csv"), "data.input_col": "smiles",
        "data.target_cols": ["active"], "model.families": "lightgbm",
        "model.features": "maccs", "split.method": "random", "eval.n_bootstrap": 50,
        "params.lightgbm.n_estimators": 20, "tracking.enabled": False,
        "out": str(root / "run")})
    return train(cfg).run_dir


def _front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("\n---\n", 1)[0].removeprefix("---\n"))


def _section(text: str, title: str) -> str:
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table(section: str) -> dict[str, list[str]]:
    rows = [ln.strip("|").split("|") for ln in section.splitlines() if ln.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows[1:]}


def test_training_writes_the_card_into_the_manifest(run_dir):
    card = run_dir / "model" / CARD
    assert card.is_file()
    assert CARD in read_manifest(run_dir / "model")["files"]
    RunDir(run_dir).model_meta()  # the folder still verifies (and loads)


def test_card_numbers_equal_metrics_json(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    text = (run_dir / "model" / CARD).read_text()
    table = _table(_section(text, "Metrics"))
    test, val = metric_cells(metrics["test"]), metric_cells(metrics["val"])
    assert set(table) == set(test) | set(val) and len(table) >= 5
    for name, (v_cell, t_cell, ci_cell, method) in table.items():
        value = test[name]["value"]
        assert t_cell == fmt(value)
        assert math.isclose(float(t_cell), value, rel_tol=1e-3, abs_tol=1e-4)
        lo, hi = test[name]["ci95"]
        assert ci_cell == f"[{fmt(lo)}, {fmt(hi)}]" and method == test[name]["ci_method"]
        assert math.isclose(float(v_cell), val[name]["value"], rel_tol=1e-3, abs_tol=1e-4)
    assert f"Test set: {metrics['test']['n']} rows" in text
    report = json.loads((run_dir / "data_report.json").read_text())
    splits = json.loads((run_dir / "splits.json").read_text())
    assert (f"rows read: {report['n_rows_in']}; kept: {report['n_rows_out']}; rejected: "
            f"{report['n_rejected']}") in text
    assert splits["data_hash"] in text
    assert f"test {len(splits['test'])}" in _section(text, "Split and leakage audit")


def test_front_matter_parses_and_model_index_equals_metrics_json(run_dir):
    metrics = json.loads((run_dir / "metrics.json").read_text())
    text = (run_dir / "model" / CARD).read_text()
    meta = _front_matter(text)
    assert meta["library_name"] == "scifm" and "lightgbm" in meta["tags"]
    (entry,) = meta["model-index"]
    (result,) = entry["results"]
    assert result["dataset"]["split"] == "test"
    shown = {m["type"]: m for m in result["metrics"]}
    assert set(shown) == set(metric_cells(metrics["test"]))
    for name, m in shown.items():
        assert m["value"] == metrics["test"][name]["value"]
        assert m["args"]["ci95"] == metrics["test"][name]["ci95"]
        assert m["args"]["n"] == metrics["test"]["n"]
    card = ModelCard.load(run_dir / "model" / CARD)  # the Hub's own parser agrees
    assert {r.metric_type: r.metric_value for r in card.data.eval_results} == {
        k: metrics["test"][k]["value"] for k in shown}


def test_absent_sections_say_so(run_dir, tmp_path):
    text = (run_dir / "model" / CARD).read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    if "uncertainty" in metrics:  # too few validation rows to calibrate: skipped, with why
        assert "Not measured: " in _section(text, "Uncertainty")
        run = tmp_path / "run"
        shutil.copytree(run_dir, run)
        metrics.pop("uncertainty")
        (run / "metrics.json").write_text(json.dumps(metrics))
        text = write_card(RunDir(run)).read_text()
    assert "Not measured: this run reports no" in _section(text, "Uncertainty")
    assert "Not audited" in _section(text, "Fairness")
    assert "without differential privacy" in _section(text, "Privacy")
    assert "scifm predict" in _section(text, "How to use")
    assert "Small test set" in _section(text, "Limitations")  # 8 test rows


def test_present_sections_render_the_run_files(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["uncertainty"] = {"confidence": 0.9, "targets": {"active": {
        "n": 8, "coverage": {"value": 0.875, "ci95": [0.6, 1.0]}, "ece_after": 0.0412}}}
    metrics["privacy"] = {"epsilon": 3.25, "delta": 1e-5}
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "audit").mkdir()
    (run / "audit" / "audit.json").write_text(json.dumps(
        {"summary": {"attribute": "scaffold", "worst_group_gap": 0.1234}, "groups": []}))
    path = write_card(RunDir(run))
    text = path.read_text()
    unc = _section(text, "Uncertainty")
    assert "coverage: 0.875 (95% CI [0.6, 1])" in unc and "ece_after: 0.0412" in unc
    assert "worst_group_gap: 0.1234" in _section(text, "Fairness")
    assert "epsilon = 3.25, delta = 1e-05" in _section(text, "Privacy")
    RunDir(run).model_meta()  # rewritten card re-hashed: the folder still verifies


def test_pretraining_run_is_refused(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    meta = json.loads((run / "model" / "scifm.json").read_text())
    meta.pop("task")
    (run / "model" / "scifm.json").write_text(json.dumps(meta))
    with pytest.raises(Exception, match="not a supervised run"):
        render_card(RunDir(run))
