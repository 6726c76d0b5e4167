"""``scifm explain`` end to end on a tiny LightGBM run; bad input -> one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from tests.conftest import make_molecules

pytestmark = pytest.mark.cli
runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A LightGBM run on 80 molecules (a few seconds)."""
    from scifm.config.load import load_config
    from scifm.recipes.train import train

    tmp = tmp_path_factory.mktemp("explain")
    data = tmp / "mols.csv"
    make_molecules(80).to_csv(data, index=False)
    cfg = load_config(flags={
        "data.path": str(data), "data.input_col": "smiles", "data.target_cols": ["active"],
        "model.families": "lightgbm", "out": str(tmp / "run"), "split.method": "random",
        "eval.n_bootstrap": 50, "params.lightgbm.n_estimators": 30, "tracking.enabled": False})
    return train(cfg).run_dir


def _data(path: Path, extra: list[str]) -> Path:
    df = make_molecules(12, seed=1)[["smiles"]]
    pd.concat([df, pd.DataFrame({"smiles": extra})]).to_csv(path, index=False)
    return path


def _one_error_line(res) -> str:  # noqa: ANN001
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error")]
    assert len(errors) == 1 and "Traceback" not in res.output, res.output
    return errors[0]


def test_explain_writes_json_csv_and_an_escaped_page(run_dir, tmp_path):
    data = _data(tmp_path / "new.csv", ["<script>alert(1)</script>", "CC(=O)Nc1ccc(O)cc1"])
    out = tmp_path / "expl"
    res = runner.invoke(app, ["explain", str(run_dir), "--data", str(data), "--out", str(out),
                              "--max-examples", "5"])
    assert res.exit_code == 0, res.output
    assert "faithfulness" in res.output
    summary = json.loads((out / "explain.json").read_text())
    for key in ("run_dir", "family", "explained", "method", "unit", "n_explained", "n_invalid",
                "invalid_reasons", "invalid_rows", "faithfulness", "global", "warnings"):
        assert key in summary, key
    assert summary["unit"] == "atom" and summary["family"] == "lightgbm"
    assert summary["n_explained"] == 13 and summary["n_invalid"] == 1
    assert summary["invalid_rows"][0]["row"] == 12
    faith = summary["faithfulness"]
    assert set(faith["ratio"]) == {"value", "ci95", "ci_method"}
    assert faith["n_inputs"] == 13
    attributions = pd.read_csv(out / "attributions.csv")
    assert len(attributions) == 13
    assert len(json.loads(attributions["units"][0])) == len(
        json.loads(attributions["attributions"][0]))
    page = (out / "explain.html").read_text()
    assert "<svg" in page and "Faithfulness" in page and "Global view" in page
    assert "<script" not in page  # self-contained, nothing active; the bad input is not drawn
    assert "Content-Security-Policy" in page
    report = (run_dir / "report.html").read_text()  # the run's report links the explanation
    assert report.count('<section id="explanations">') == 1 and 'href="#explanations"' in report
    assert "../expl/explain.html" in report or "expl/explain.html" in report


def test_explain_bad_inputs_give_one_line(run_dir, tmp_path):
    data = _data(tmp_path / "d.csv", [])
    res = runner.invoke(app, ["explain", str(tmp_path), "--data", str(data), "--out",
                              str(tmp_path / "o1")])
    assert "not a scifm run directory" in _one_error_line(res)
    res = runner.invoke(app, ["explain", str(run_dir), "--data", str(data), "--out",
                              str(tmp_path / "o2"), "--input-col", "nope"])
    assert "nope" in _one_error_line(res)
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"smiles": ["not a molecule", "C1CC", "<b>x</b>"]}).to_csv(bad, index=False)
    res = runner.invoke(app, ["explain", str(run_dir), "--data", str(bad), "--out",
                              str(tmp_path / "o3")])
    assert "no valid input" in _one_error_line(res)
    assert not (tmp_path / "o3").exists()
    res = runner.invoke(app, ["explain", str(run_dir), "--data", str(data), "--out",
                              str(tmp_path / "o4"), "--target", "nope"])
    assert "not a target" in _one_error_line(res)
    res = runner.invoke(app, ["explain", str(run_dir), "--data", str(data), "--out",
                              str(tmp_path / "o5"), "--method", "gradients"])
    assert "transformer" in _one_error_line(res)
    res = runner.invoke(app, ["explain", str(run_dir), "--data", str(data), "--out",
                              str(tmp_path / "o6"), "--method", "lime"])
    assert "unknown attribution method" in _one_error_line(res)


def test_explain_a_transformer_with_integrated_gradients(tmp_path):
    """Captum IG on a tiny transformer: word attributions whose sum is f(x) - f(baseline)."""
    pytest.importorskip("captum")
    import numpy as np
    import torch

    from scifm.config.load import load_config
    from scifm.models import load_predictor
    from scifm.recipes.train import train
    from scifm.trust.explain import integrated_gradients
    from scifm.trust.occlusion import Output, WordUnits

    data = Path(__file__).resolve().parents[2] / "examples" / "citations.jsonl"
    cfg = load_config(flags={
        "data.path": str(data), "data.modality": "text", "data.input_col": "text",
        "data.target_cols": ["label"], "model.families": "transformer", "model.size": "tiny",
        "model.max_length": 32, "train.max_steps": 2, "out": str(tmp_path / "run"),
        "eval.n_bootstrap": 20, "tracking.enabled": False})
    run = train(cfg).run_dir
    res = runner.invoke(app, ["explain", str(run), "--data", str(data), "--out",
                              str(tmp_path / "ig"), "--method", "gradients", "--max-rows", "8"])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "ig" / "explain.json").read_text())
    assert summary["method"] == "gradients" and summary["unit"] == "word"
    model = load_predictor(run / "model")
    text = "previous work described drug resistance in detail"
    pred = model.predict([text])
    cls = pred.argmax(1)
    attr = integrated_gradients(model, n_steps=64)(Output(model.task), WordUnits(), [text], cls)
    assert attr[0].shape == (7,)
    tok = model.tokenizer_
    enc = tok(text, return_tensors="pt", return_special_tokens_mask=True,
              return_token_type_ids=False)
    base = torch.where(enc["special_tokens_mask"].bool(), enc["input_ids"],
                       torch.full_like(enc["input_ids"], tok.pad_token_id))
    with torch.no_grad():
        logits = model.model_(input_ids=base, attention_mask=enc["attention_mask"]).logits
    p0 = torch.softmax(logits.float(), -1)[0, int(cls[0])].item()
    assert attr[0].sum() == pytest.approx(pred[0, cls[0]] - p0, abs=1e-3 * max(
        1.0, abs(pred[0, cls[0]] - p0)) + 1e-5)
    assert np.isfinite(attr[0]).all()
