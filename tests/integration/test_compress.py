"""End to end: `scifm compress` makes, measures and chooses variants and writes a normal run
directory that predict uses. The makers are stand-ins registered by the test (the real ones
have their own tests), so this checks the recipe: accounting of failed makers, the choice, the
run directory, the report and the source run's report."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import scifm.compression.variants as variants
from scifm.compression.base import Variant
from scifm.compression.variants import MakerSpec
from scifm.config.load import load_config
from scifm.errors import ConfigError
from scifm.models import build_predictor
from scifm.recipes.compress import compress
from scifm.recipes.predict import predict
from scifm.recipes.train import train
from tests.conftest import make_molecules

pytestmark = pytest.mark.integration


def make_copy(job):
    """The teacher saved again: the same model (no metric change)."""
    job.teacher.save(job.work / "copy")
    return [Variant("copy", job.work / "copy", "the same model, saved again")]


def make_small(job):
    """A much smaller LightGBM on the train rows: faster, worse."""
    cfg = load_config(flags={"model.features": "ecfp", "params.lightgbm.n_estimators": 3,
                             "params.lightgbm.num_leaves": 4})
    model = build_predictor("lightgbm", job.task, "smiles", cfg, job.work)
    model.fit(job.rows["train"].inputs, job.rows["train"].y)
    model.save(job.work / "small")
    return [Variant("small", job.work / "small", "3 trees", {"trees": 3})]


def make_nothing(job):
    raise RuntimeError("this maker always fails")


@pytest.fixture
def fake_makers(monkeypatch):
    applies = variants._family_in(("lightgbm",))
    monkeypatch.setattr(variants, "MAKERS", (
        MakerSpec("copy", f"{__name__}:make_copy", applies, "copy"),
        MakerSpec("small", f"{__name__}:make_small", applies, "small"),
        MakerSpec("boom", f"{__name__}:make_nothing", applies, "fails"),
    ))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("compress")
    make_molecules(300, seed=3).to_csv(root / "mols.csv", index=False)
    cfg = load_config(flags={"data.path": str(root / "mols.csv"), "data.input_col": "smiles",
                             "data.target_cols": ["active"], "model.families": "lightgbm",
                             "model.features": "ecfp", "out": str(root / "run"),
                             "eval.n_bootstrap": 100, "params.lightgbm.n_estimators": 200})
    return train(cfg).run_dir


def test_compress_writes_a_run_that_predict_uses(tmp_path, run, fake_makers):
    done = compress(run, tmp_path / "small_run", max_drop="1.0", n_bootstrap=100)
    result = json.loads((tmp_path / "small_run" / "compression.json").read_text())
    names = [r["name"] for r in result["variants"]]
    assert names == ["original", "copy", "small", "boom"]
    boom = result["variants"][3]
    assert boom["error"] == "this maker always fails"
    copy = result["variants"][1]
    assert copy["delta"] == pytest.approx(0.0, abs=1e-12)  # same model: no change
    assert done.chosen == max((r for r in result["variants"] if "error" not in r),
                              key=lambda r: r["throughput"])["name"]
    out = tmp_path / "small_run"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["compression"]["chosen"] == done.chosen
    assert "uncertainty" in metrics and "roc_auc" in metrics["test"]
    meta = json.loads((out / "model" / "scifm.json").read_text())
    assert meta["compression"]["variant"] == done.chosen and meta["data"]["input_col"]
    card = (out / "model" / "README.md").read_text()
    assert "## Compression" in card and f"`{done.chosen}` variant" in card
    csv = pd.read_csv(out / "compression.csv")
    assert list(csv["variant"]) == names
    assert 'id="compression"' in (out / "report.html").read_text()
    assert 'id="compression"' in (run / "report.html").read_text()  # the source run's too
    assert not (out / "variants").exists()
    # predict reads the compressed run with no extra flag, uncertainty columns included
    pd.DataFrame({"smiles": ["CCO", "not a smiles", "c1ccccc1O"]}).to_csv(tmp_path / "q.csv",
                                                                          index=False)
    predict(out, tmp_path / "q.csv", tmp_path / "p.csv", workers=1)
    pred = pd.read_csv(tmp_path / "p.csv")
    assert list(pred["status"]) == ["ok", "invalid", "ok"]
    assert {"prob_active", "nn_similarity"} <= set(pred.columns)


def test_a_strict_drop_keeps_a_model_without_loss(tmp_path, run, fake_makers):
    done = compress(run, tmp_path / "strict", variants=["small", "copy"], max_drop="0",
                    n_bootstrap=100, keep_variants=True)
    assert done.chosen in ("original", "copy")  # "small" loses ROC-AUC
    result = done.result
    small = next(r for r in result["variants"] if r["name"] == "small")
    assert small["drop"] > 0 and small["details"] == {"trees": 3}
    assert (tmp_path / "strict" / "variants" / "small" / "scifm.json").is_file()


def test_unknown_or_unfit_variants_are_refused(tmp_path, run, fake_makers):
    with pytest.raises(ConfigError, match="unknown variant"):
        compress(run, tmp_path / "x", variants=["nope"])
    assert not (tmp_path / "x").exists()


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("compress_tf")
    make_molecules(160, seed=4).to_csv(root / "mols.csv", index=False)
    cfg = load_config(flags={"data.path": str(root / "mols.csv"), "data.input_col": "smiles",
                             "data.target_cols": ["logp"], "model.families": "transformer",
                             "out": str(root / "run"), "eval.n_bootstrap": 50,
                             "tracking.enabled": False},
                      overrides=["model.size=tiny", "train.max_steps=4"])
    return train(cfg).run_dir


def test_int8_is_chained_on_smaller_transformers(tmp_path, transformer_run):
    from scifm.compression.base import CompressOptions

    done = compress(transformer_run, tmp_path / "small", variants=["onnx", "bf16", "distill"],
                    max_drop="100%", n_bootstrap=50, keep_variants=True,
                    options=CompressOptions(distill_epochs=0.5, student="small"))
    rows = {r["name"]: r for r in done.result["variants"]}
    assert {"onnx-fp32", "onnx-int8-dynamic", "distilled-small"} <= set(rows)
    chained = rows["distilled-small+int8"]
    assert "error" not in chained, chained
    assert chained["size_bytes"] < rows["distilled-small"]["size_bytes"] / 2
    meta = json.loads((tmp_path / "small" / "variants" / "distilled-small+int8" /
                       "scifm.json").read_text())
    assert meta["family"] == "onnx_transformer" and meta["precision"] == "int8-dynamic"
    halved = rows["distilled-small+bf16"]
    assert "error" not in halved, halved
    assert halved["size_bytes"] < 0.6 * rows["distilled-small"]["size_bytes"]
    meta = json.loads((tmp_path / "small" / "variants" / "distilled-small+bf16" /
                       "scifm.json").read_text())
    assert meta["family"] == "transformer" and meta["inference_dtype"] == "bfloat16"
