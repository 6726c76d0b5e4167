"""``scifm card``, ``scifm register`` and ``scifm predict models:/NAME/VERSION`` (issue 12 item 5):
a tiny run registered in a SQLite registry predicts exactly as its run directory does; a bad name
or version is one error line and a non-zero exit."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.recipes.train import train
from scifm.tracking.registry import fit_description, parse_models_uri
from scifm.trust.card import CARD

pytestmark = pytest.mark.cli
runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict[str, Path]:
    """A tiny LightGBM run (tracking off) and a file to predict."""
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("registry")
    mols = make_molecules(80)
    mols.to_csv(root / "mols.csv", index=False)
    mols[["smiles"]].head(20).to_csv(root / "new.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(root / "mols.csv"), "data.input_col": "smiles",
        "data.target_cols": ["active"], "model.families": "lightgbm",
        "model.features": "maccs", "split.method": "random", "eval.n_bootstrap": 20,
        "params.lightgbm.n_estimators": 20, "tracking.enabled": False,
        "out": str(root / "run")})
    return {"run": train(cfg).run_dir, "data": root / "new.csv", "root": root}


@pytest.fixture
def registry(tmp_path, monkeypatch) -> str:
    """An empty SQLite registry (the default for `predict models:/...`) and an empty cache."""
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("SCIFM_CACHE_DIR", str(tmp_path / "cache"))
    return uri


def _ok(args: list[str]):
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def _predict(target: str, data: Path, out: Path):
    return runner.invoke(app, ["predict", target, "--data", str(data), "--out", str(out),
                               "--workers", "1"])


def test_card_command_rewrites_the_card(run):
    card = run["run"] / "model" / CARD
    before = card.read_text()
    res = _ok(["card", str(run["run"])])
    assert "wrote the model card" in res.output
    assert card.read_text() == before  # same run files, same card


def test_register_then_predict_from_the_registry(run, registry, tmp_path):
    res = _ok(["register", str(run["run"]), "--name", "mols-active",
               "--tracking-uri", registry])
    assert "models:/mols-active/1" in res.output
    res = _ok(["register", str(run["run"]), "--name", "mols-active"])  # from the env var
    assert "models:/mols-active/2" in res.output

    from mlflow.tracking import MlflowClient

    mv = MlflowClient(tracking_uri=registry, registry_uri=registry).get_model_version(
        "mols-active", "1")
    metrics = json.loads((run["run"] / "metrics.json").read_text())
    assert mv.description.startswith(f"# {run['run'].name}")  # the card, front matter left out
    assert f"Test set: {metrics['test']['n']} rows" in mv.description

    assert _predict("models:/mols-active/1", run["data"], tmp_path / "reg.csv").exit_code == 0
    assert _predict(str(run["run"]), run["data"], tmp_path / "dir.csv").exit_code == 0
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "reg.csv"),
                                  pd.read_csv(tmp_path / "dir.csv"))
    fetched = list((tmp_path / "cache" / "registry").iterdir())
    assert len(fetched) == 1 and (fetched[0] / "model" / CARD).is_file()
    # fetched again: the cached copy is used, still verified at load
    assert _predict("models:/mols-active/1", run["data"], tmp_path / "again.csv").exit_code == 0


@pytest.mark.parametrize("target, message", [
    ("models:/mols-active/7", "not found in the model registry"),
    ("models:/no-such-model/1", "not found in the model registry"),
    ("models:/mols-active", "is not a registered model URI"),
])
def test_bad_name_or_version_is_one_line(run, registry, tmp_path, target, message):
    _ok(["register", str(run["run"]), "--name", "mols-active"])
    res = _predict(target, run["data"], tmp_path / "out.csv")
    assert res.exit_code != 0
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert "Traceback" not in res.output and not (tmp_path / "out.csv").exists()


def test_register_refuses_a_bad_name_and_a_non_run(run, registry, tmp_path):
    res = runner.invoke(app, ["register", str(run["run"]), "--name", "a/b"])
    assert res.exit_code != 0 and "--name 'a/b'" in res.output
    res = runner.invoke(app, ["register", str(tmp_path), "--name", "x"])
    assert res.exit_code != 0 and "not a scifm run directory" in res.output


def test_models_uri_forms_and_description_limit():
    assert parse_models_uri("models:/a.b-c/12") == ("a.b-c", "12", None)
    assert parse_models_uri("models:/a@champion") == ("a", None, "champion")
    card = "---\nlibrary_name: scifm\n---\n\n# run\n\n" + "".join(
        f"## S{i}\n\n{'x' * 900}\n\n" for i in range(10))
    text = fit_description(card)
    assert len(text) <= 5000 and text.startswith("# run") and "cut short" in text
