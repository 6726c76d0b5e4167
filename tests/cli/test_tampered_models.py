"""``scifm predict`` on a damaged or tampered run directory: one error line naming the file, exit 2
(issue 9); a run saved before manifests still predicts, with a warning."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.schema import DataConfig, ModelConfig
from scifm.featurizers.tokenizers import build_tokenizer
from scifm.models.backbones import Backbone
from scifm.models.base import MODEL_META, update_model_meta
from scifm.models.feature import FeaturePredictor
from scifm.models.manifest import MANIFEST
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec

pytestmark = pytest.mark.cli
runner = CliRunner()
TASK = TaskSpec("binary", ["active"], classes=["no", "yes"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Two run directories holding only ``model/`` (all ``predict`` reads): LightGBM and an
    untrained tiny transformer."""
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("runs")
    mols = make_molecules(60)
    mols[["smiles"]].to_csv(root / "new.csv", index=False)
    lgbm = FeaturePredictor("lightgbm", TASK, "smiles", features="maccs",
                            params={"n_estimators": 20, "min_child_samples": 3}, n_jobs=1)
    lgbm.fit(mols["smiles"].tolist(), mols[["active"]].to_numpy(dtype=float))
    lgbm.save(root / "lgbm" / "model")
    data = DataConfig(modality="smiles", input_col="smiles", target_cols=["active"])
    update_model_meta(root / "lgbm" / "model", data=data.model_dump(mode="json"))
    mc = ModelConfig(size="tiny", max_length=32)
    tok = build_tokenizer("smiles", mols["smiles"].tolist(), mc)
    torch.manual_seed(0)
    model = Backbone.sequence(TASK).from_config(mc, len(tok))
    TransformerPredictor(TASK, "smiles", model, tok, max_length=32).save(
        root / "transformer" / "model")
    return {"lgbm": root / "lgbm", "transformer": root / "transformer", "data": root / "new.csv"}


def _predict(run: Path, data: Path, out: Path):
    return runner.invoke(app, ["predict", str(run), "--data", str(data), "--out", str(out),
                               "--workers", "1"])


def _the_error_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [ln for ln in result.output.splitlines() if "error:" in ln]
    assert len(errors) == 1, result.output
    return errors[0]


def _truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[:100])


def _to_pickle(m: Path) -> None:
    torch.save(load_file(m / "model.safetensors"), m / "pytorch_model.bin")
    (m / "model.safetensors").unlink()


CASES = {
    # name: (run, remove the manifest first, tamper, expected words of the error line)
    "planted pytorch_model.bin": ("transformer", False, _to_pickle,
                                  "model/pytorch_model.bin: scifm refuses a model folder holding "
                                  "a pickle-based file"),
    "pickle beside a booster": ("lgbm", False, lambda m: (m / "x.pkl").write_bytes(b"\x80"),
                                "model/x.pkl: scifm refuses"),
    "truncated model.safetensors": ("transformer", False,
                                    lambda m: _truncate(m / "model.safetensors"),
                                    "model/model.safetensors does not match its manifest (100 "
                                    "bytes, expected"),
    "swapped booster": ("lgbm", False,
                        lambda m: (m / "booster_0.txt").write_text(
                            (m / "booster_0.txt").read_text().replace("Tree=0", "Tree=O")),
                        "model/booster_0.txt does not match its manifest (sha256 "),
    "corrupt scifm.json": ("lgbm", True, lambda m: (m / MODEL_META).write_text("{oops"),
                           "cannot read"),
    "missing tokenizer.json": ("transformer", False, lambda m: (m / "tokenizer.json").unlink(),
                               "model/tokenizer.json is missing"),
    "old run, missing tokenizer.json": ("transformer", True,
                                        lambda m: (m / "tokenizer.json").unlink(),
                                        "model/tokenizer.json is missing: no tokenizer in"),
    "old run, truncated weights": ("transformer", True,
                                   lambda m: _truncate(m / "model.safetensors"),
                                   "cannot load the model"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_predict_on_a_tampered_model_is_one_line(case, runs, tmp_path):
    name, drop_manifest, tamper, expected = CASES[case]
    run = tmp_path / "run"
    shutil.copytree(runs[name], run)
    if drop_manifest:
        (run / "model" / MANIFEST).unlink()
    tamper(run / "model")
    res = _predict(run, runs["data"], tmp_path / "p.csv")
    line = _the_error_line(res)
    assert expected in line, line
    assert str(run / "model") in line  # names the file
    assert not (tmp_path / "p.csv").exists()


@pytest.mark.parametrize("name", ["lgbm", "transformer"])
def test_a_run_saved_before_manifests_still_predicts(name, runs, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(runs[name], run)
    res = _predict(run, runs["data"], tmp_path / "intact.csv")
    assert res.exit_code == 0, res.output
    (run / "model" / MANIFEST).unlink()
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    safeload = logging.getLogger("scifm.models.safeload")  # "scifm" does not propagate
    safeload.addHandler(handler)
    try:
        res = _predict(run, runs["data"], tmp_path / "old.csv")
    finally:
        safeload.removeHandler(handler)
    assert res.exit_code == 0, res.output
    # the record, not the terminal's rendering of it (a long tmp path is cut to the width)
    warned = [r for r in records if "cannot be verified" in r.getMessage()]
    assert len(warned) == 1 and warned[0].levelno == logging.WARNING, warned
    assert "WARNING" in res.output
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "old.csv"),
                                  pd.read_csv(tmp_path / "intact.csv"))
    assert json.loads((run / "model" / MODEL_META).read_text())["family"] in (
        "lightgbm", "transformer")
