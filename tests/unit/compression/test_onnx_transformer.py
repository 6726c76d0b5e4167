"""ONNX Runtime (fp32, dynamic / static int8) and bf16 variants of tiny transformer runs: made
from a trained run, loaded in a fresh process, compared with the PyTorch model, used by
``scifm predict``."""

from __future__ import annotations

import dataclasses
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors import safe_open
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.compression.base import CompressJob, CompressOptions, SplitRows
from scifm.compression.onnx_export import OnnxExportError, check_export
from scifm.compression.onnx_transformer import make_bf16_variant, make_onnx_variants
from scifm.config.load import load_config
from scifm.models import load_predictor
from scifm.models.onnx_transformer import OnnxTransformerPredictor
from scifm.recipes.train import train
from scifm.tasks import TaskSpec
from tests.conftest import make_molecules

ONNX = ("onnx-fp32", "onnx-int8-dynamic", "onnx-int8-static")
TARGETS = {"regression": "logp", "binary": "active"}

FRESH = """
import json, sys
import numpy as np
from pathlib import Path
from scifm.models import load_predictor
folders, data, out = json.loads(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
x = Path(data).read_text().splitlines()
res = {}
for name, folder in folders.items():
    p = load_predictor(Path(folder))
    np.save(out / f"{name}.npy", p.predict(x))
    res[name] = p.family
print(json.dumps(res))
"""
"""Loads every variant folder with ``load_predictor`` and predicts, in a new interpreter."""


def _run(root: Path, target: str) -> Path:
    root.mkdir(parents=True)
    make_molecules().to_csv(root / "mols.csv", index=False)
    flags = {"data.path": str(root / "mols.csv"), "data.input_col": "smiles",
             "data.target_cols": [target], "model.families": "transformer",
             "model.size": "tiny", "model.max_length": 64, "out": str(root / "run"),
             "split.method": "random", "train.epochs": 2, "train.max_steps": 8,
             "train.batch_size": 16, "train.lr": 3e-3, "eval.n_bootstrap": 20,
             "tracking.enabled": False}
    return train(load_config(flags=flags)).run_dir


@pytest.fixture(scope="module", params=list(TARGETS))
def made(request, tmp_path_factory) -> dict:
    """A trained tiny run, its variants (all makers) and the teacher's test predictions."""
    root = tmp_path_factory.mktemp(request.param)
    run = _run(root / "data", TARGETS[request.param])
    model_dir = run / "model"
    meta = json.loads((model_dir / "scifm.json").read_text())
    df = pd.read_csv(root / "data" / "mols.csv")
    x, y = df["smiles"].tolist(), df[[TARGETS[request.param]]].to_numpy(float)
    rows = {"train": SplitRows(x[:80], y[:80]), "val": SplitRows(x[80:100], y[80:100]),
            "test": SplitRows(x[100:], y[100:])}
    teacher = load_predictor(model_dir)
    job = CompressJob(model_dir, meta, TaskSpec.from_dict(meta["task"]), teacher, rows,
                      root / "work", CompressOptions(calibration_rows=16, threads=1))
    variants = {v.name: v for v in make_onnx_variants(job) + make_bf16_variant(job)}
    return {"kind": request.param, "run": run, "job": job, "variants": variants,
            "x": x, "teacher": teacher.predict(x), "root": root}


def test_variant_folders_load_and_predict_in_a_fresh_process(made) -> None:
    variants, x = made["variants"], made["x"]
    assert set(variants) == {*ONNX, "bf16"}
    out = made["root"] / "fresh"
    out.mkdir()
    data = made["root"] / "inputs.txt"
    data.write_text("\n".join(x))
    folders = {n: str(v.model_dir) for n, v in variants.items()}
    proc = subprocess.run([sys.executable, "-c", FRESH, json.dumps(folders), str(data), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    families = json.loads(proc.stdout.strip().splitlines()[-1])
    assert families == {**{n: "onnx_transformer" for n in ONNX}, "bf16": "transformer"}
    ref = made["teacher"]
    preds = {n: np.load(out / f"{n}.npy") for n in variants}
    for name, pred in preds.items():
        assert pred.shape == ref.shape == (len(x), 1) and np.isfinite(pred).all(), name
    np.testing.assert_allclose(preds["onnx-fp32"], ref, rtol=1e-5, atol=1e-6)
    # quantised / bf16: close, not equal (the tiny model's outputs span a narrow range)
    scale = 1.0 if made["kind"] == "binary" else float(np.std(made["job"].rows["train"].y))
    for name in ("onnx-int8-dynamic", "onnx-int8-static", "bf16"):
        err = np.abs(preds[name] - ref).max()
        assert err < 0.05 * scale, (name, err)
        assert not np.array_equal(preds[name], ref), name
    if made["kind"] == "binary":
        assert ((preds["onnx-int8-dynamic"] > 0) & (preds["onnx-int8-dynamic"] < 1)).all()


def test_onnx_folders_describe_themselves_and_int8_is_smaller(made) -> None:
    variants = made["variants"]
    sizes = {}
    for name in ONNX:
        folder = variants[name].model_dir
        names = {f.name for f in folder.iterdir()}
        assert {"model.onnx", "tokenizer.json", "scifm.json", "manifest.json"} <= names
        assert not any(n.endswith((".bin", ".pkl", ".pt", ".data")) for n in names)
        meta = json.loads((folder / "scifm.json").read_text())
        assert meta["family"] == "onnx_transformer" and meta["source_family"] == "transformer"
        assert meta["precision"] == name.removeprefix("onnx-")
        assert meta["task"] == made["job"].meta["task"]
        assert meta["target_scaling"] == made["job"].meta["target_scaling"]
        assert meta["data"] == made["job"].meta["data"] and meta["n_parameters"] > 0
        sizes[name] = (folder / "model.onnx").stat().st_size
    assert variants["onnx-fp32"].details["max_abs_logit_diff"] < 1e-4
    assert variants["onnx-fp32"].details["exporter"] == "dynamo"
    assert sizes["onnx-int8-dynamic"] * 2 <= sizes["onnx-fp32"]
    assert sizes["onnx-int8-static"] * 2 <= sizes["onnx-fp32"]


def test_bf16_variant_stores_and_runs_bf16_while_fp32_runs_are_unchanged(made) -> None:
    folder = made["variants"]["bf16"].model_dir
    assert json.loads((folder / "scifm.json").read_text())["inference_dtype"] == "bfloat16"
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    assert next(load_predictor(folder).model_.parameters()).dtype == torch.bfloat16
    source = made["job"].model_dir
    assert "inference_dtype" not in json.loads((source / "scifm.json").read_text())
    teacher = load_predictor(source)
    assert {p.dtype for p in teacher.model_.parameters()} == {torch.float32}
    np.testing.assert_array_equal(teacher.predict(made["x"]), made["teacher"])


def test_predictor_pickles_without_its_session(made) -> None:
    p = load_predictor(made["variants"]["onnx-int8-static"].model_dir)
    assert isinstance(p, OnnxTransformerPredictor)
    first = p.predict(made["x"][:10])
    again = pickle.loads(pickle.dumps(p))
    assert again._session is None
    np.testing.assert_array_equal(again.predict(made["x"][:10]), first)
    assert p.predict([]).shape == (0, 1)


def test_the_export_check_refuses_a_graph_that_differs_from_the_model(made) -> None:
    p = load_predictor(made["variants"]["onnx-fp32"].model_dir)
    feeds = [feed for _, feed in p.feeds(made["x"][:20])]
    model = load_predictor(made["job"].model_dir).model_.cpu().eval()
    assert check_export(model, p.session, feeds) < 1e-4
    with torch.no_grad():
        model.classifier.bias += 0.01
    with pytest.raises(OnnxExportError, match="logits differ"):
        check_export(model, p.session, feeds)


@pytest.mark.parametrize("variant", ["onnx-int8-dynamic"])
def test_scifm_predict_uses_a_run_whose_model_is_an_onnx_variant(made, variant) -> None:
    if made["kind"] != "binary":
        pytest.skip("one run is enough for the command line")
    run = made["root"] / "onnx-run"
    shutil.copytree(made["run"], run)
    shutil.rmtree(run / "model")
    shutil.copytree(made["variants"][variant].model_dir, run / "model")
    data, out = made["root"] / "data" / "mols.csv", made["root"] / "preds.csv"
    res = CliRunner().invoke(app, ["predict", str(run), "--data", str(data), "--out", str(out)])
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(out)
    assert len(preds) == len(made["x"]) and (preds["status"] == "ok").all()
    direct = load_predictor(made["variants"][variant].model_dir).predict(
        preds["canonical"].tolist())
    np.testing.assert_allclose(preds["prob_active"], direct[:, 0], rtol=1e-5, atol=1e-6)


def test_static_quantisation_failure_skips_only_that_variant(made, monkeypatch) -> None:
    if made["kind"] != "regression":
        pytest.skip("one run is enough")
    import scifm.compression.onnx_transformer as maker

    def broken(*args, **kwargs):
        raise RuntimeError("no QDQ for this architecture")

    def exported(model, example, path):  # the graph exported before (the check still runs)
        shutil.copyfile(made["variants"]["onnx-fp32"].model_dir / "model.onnx", path)
        return "dynamo"

    monkeypatch.setattr(maker, "quantize_static_int8", broken)
    monkeypatch.setattr(maker, "export_onnx", exported)
    job = dataclasses.replace(made["job"], work=made["root"] / "work-broken")
    variants = make_onnx_variants(job)
    assert [v.name for v in variants] == ["onnx-fp32", "onnx-int8-dynamic"]
    assert "no QDQ" in variants[0].details["skipped"]["onnx-int8-static"]
    assert not (job.work / ".onnx-build").exists()
