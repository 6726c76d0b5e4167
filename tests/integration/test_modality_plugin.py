"""A modality added in this file alone: SMILES + a numeric condition (temperature).

Proof that a new modality (here a multimodal one) is one plug-in plus its featurizers: the
:class:`~scifm.modalities.base.ModalitySpec` and the featurizer below are registered from this
file, and ``scifm train --model lightgbm`` cleans, splits, audits, trains and saves with them,
then ``scifm predict`` loads the run and predicts new rows, with no other file changed.
(``--workers 1``: worker processes start fresh and would not know a plug-in registered here.)
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.registry import MODALITIES
from scifm.data.datapoints import Datapoint, Inputs, InvalidInput
from scifm.featurizers.base import BaseFeaturizer, register
from scifm.featurizers.molecule import ECFPFeaturizer
from scifm.modalities.base import ModalitySpec

pytestmark = pytest.mark.integration
runner = CliRunner()


@register("toy_cond")
class ConditionFeaturizer(BaseFeaturizer):
    """ECFP counts of the molecule plus the temperature column (``2048 + 1`` columns)."""

    def __init__(self, column: str = "temperature") -> None:
        self.column = column
        self._ecfp = ECFPFeaturizer()

    def __len__(self) -> int:
        return len(self._ecfp) + 1

    def _params(self) -> dict[str, Any]:
        return {"column": self.column}

    def __call__(self, xs: Inputs) -> np.ndarray:
        temps = [[x.get(self.column) if isinstance(x, Datapoint) else np.nan] for x in xs]
        return np.hstack([self._ecfp(xs), np.asarray(temps, dtype=np.float32)])


def _kelvin(column: str, value: object) -> float:
    try:
        t = float(str(value).strip())
    except ValueError:
        raise InvalidInput(f"invalid temperature: {value!r} in column {column!r}") from None
    if not t > 0:
        raise InvalidInput(f"invalid temperature: {t} K")
    return t


def smiles_with_temperature() -> ModalitySpec:
    """The plug-in: SMILES checks, scaffolds and Tanimoto audit reused; own column and features."""
    smiles = MODALITIES.get("smiles")
    return dataclasses.replace(
        smiles, name="smiles_cond", label="SMILES + temperature",
        input_cols=("smiles", "temperature"), parse_extra=_kelvin,
        default_features="toy_cond", family_features={}, feature_atoms=("toy_cond", "ecfp"),
        tune_features=("toy_cond",), tune_default_features="toy_cond",
        description="a molecule at a temperature")


@pytest.fixture
def plugin():
    spec = MODALITIES.register(smiles_with_temperature())
    yield spec
    MODALITIES.unregister(spec.name)


def _table(molecules: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = molecules[["smiles", "logp"]].copy()
    df["temperature"] = rng.choice([280.0, 300.0, 320.0, 340.0], size=len(df))
    again = df.head(10).assign(temperature=400.0)  # same molecules at another temperature
    df = pd.concat([df, again], ignore_index=True)
    df["y"] = df["logp"] + 0.05 * (df["temperature"] - 300.0)
    return df.drop(columns="logp")


def test_a_plug_in_modality_trains_saves_and_predicts(plugin, molecules, tmp_path):
    data = tmp_path / "cond.csv"
    _table(molecules).to_csv(data, index=False)
    out = tmp_path / "run"
    res = runner.invoke(app, ["train", "--data", str(data), "--modality", "smiles_cond",
                              "--target-col", "y", "--model", "lightgbm", "--out", str(out),
                              "--no-track", "--set", "params.lightgbm.n_estimators=60",
                              "--set", "eval.n_bootstrap=20"])
    assert res.exit_code == 0, res.output
    report = json.loads((out / "data_report.json").read_text())
    assert report["modality"] == "smiles_cond"
    assert report["input_col"] == ["smiles", "temperature"]  # the plug-in's default columns
    assert report["n_duplicate_rows"] == 0  # same molecule, other temperature: not a duplicate
    assert (out / "splits.json").is_file()
    assert json.loads((out / "splits.json").read_text())["method"] == "scaffold"
    assert "Tanimoto" in json.loads((out / "leakage.json").read_text())["metric"]
    assert json.loads((out / "model" / "featurizer.json").read_text())["name"] == "toy_cond"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["r2"]["value"] > 0.3  # the temperature term is learnt

    new = pd.DataFrame({"smiles": ["CCO", "CCO", "c1ccccc1O", "not smiles"],
                        "temperature": [280, 400, "hot", 300]})
    new.to_csv(tmp_path / "new.csv", index=False)
    res = runner.invoke(app, ["predict", str(out), "--data", str(tmp_path / "new.csv"),
                              "--out", str(tmp_path / "preds.csv"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(tmp_path / "preds.csv")
    assert preds["status"].tolist() == ["ok", "ok", "invalid", "invalid"]
    assert preds.loc[2, "error"] == "invalid temperature: 'hot' in column 'temperature'"
    pred_col = [c for c in preds.columns if c.startswith("pred")][0]
    assert preds.loc[1, pred_col] > preds.loc[0, pred_col]  # hotter: larger target
