"""A new model family is one registration: a toy family defined in this file trains through
``scifm train --model``, is searched by ``scifm auto``, saves, loads and predicts — with no other
file changed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.registry import FAMILIES
from scifm.featurizers import featurizer_from_name
from scifm.models import MODEL_META, load_predictor
from scifm.models.registry import FamilySpec, family_params
from scifm.tasks import TaskSpec

pytestmark = pytest.mark.integration
runner = CliRunner()


class ShrunkMeanParams(BaseModel):
    """The toy family's typed section: ``params.shrunk_mean.shrink``."""

    model_config = {"extra": "forbid"}
    shrink: float = 0.5


class ShrunkMean:
    """Predicts the training mean plus a shrunken 1-nearest-neighbour offset on ECFP bits; a
    real (if weak) model, saved as JSON."""

    family = "shrunk_mean"

    def __init__(self, task: TaskSpec, modality: str, shrink: float) -> None:
        self.task, self.modality, self.shrink = task, modality, shrink
        self.history_: list[dict[str, Any]] = []
        self.fit_calls = 0

    def _bits(self, x: Sequence[Any]) -> np.ndarray:
        return np.asarray(featurizer_from_name("ecfp", self.modality)(list(x))) > 0

    def fit(self, x: Sequence[Any], y: np.ndarray, x_val: Any = None, y_val: Any = None,
            ) -> ShrunkMean:
        self.bits_, self.y_ = self._bits(x), np.asarray(y, dtype=float)
        self.mean_ = np.nanmean(self.y_, axis=0)
        return self

    def predict(self, x: Sequence[Any]) -> np.ndarray:
        if not len(x):
            return np.zeros((0, self.task.n_outputs))
        q = self._bits(x)
        inter = q.astype(int) @ self.bits_.T.astype(int)
        union = q.sum(1)[:, None] + self.bits_.sum(1)[None, :] - inter
        nearest = np.argmax(inter / np.maximum(union, 1), axis=1)
        return self.mean_ + self.shrink * (self.y_[nearest] - self.mean_)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        (path / "toy.json").write_text(json.dumps({
            "bits": self.bits_.astype(int).tolist(), "y": self.y_.tolist()}))
        (path / MODEL_META).write_text(json.dumps({
            "family": self.family, "modality": self.modality, "task": self.task.to_dict(),
            "shrink": self.shrink}))

    @classmethod
    def load(cls, path: Path) -> ShrunkMean:
        meta = json.loads((path / MODEL_META).read_text())
        state = json.loads((path / "toy.json").read_text())
        obj = cls(TaskSpec.from_dict(meta["task"]), meta["modality"], meta["shrink"])
        obj.bits_, obj.y_ = np.asarray(state["bits"], bool), np.asarray(state["y"], float)
        obj.mean_ = np.nanmean(obj.y_, axis=0)
        return obj


@pytest.fixture
def toy_family():
    spec = FamilySpec(
        "shrunk_mean",
        build=lambda task, modality, cfg, work_dir: ShrunkMean(
            task, modality, family_params(cfg, "shrunk_mean").shrink),
        load=ShrunkMean.load, params=ShrunkMeanParams, tasks=("regression",),
        modalities=("smiles",), uses_features=False, auto_cost=1,
        search_space={"shrink": ("float", 0.0, 1.0)})
    FAMILIES.register(spec)
    yield spec
    FAMILIES.unregister("shrunk_mean")


def test_toy_family_trains_is_searched_saves_loads_and_predicts(toy_family, tmp_path,
                                                                 molecules_csv):
    common = ["--data", str(molecules_csv), "--input-col", "smiles", "--target-col", "logp",
              "--no-track", "--set", "eval.n_bootstrap=20"]
    run = tmp_path / "train"
    res = runner.invoke(app, ["train", *common, "--model", "shrunk_mean", "--out", str(run),
                              "--set", "params.shrunk_mean.shrink=0.25"])
    assert res.exit_code == 0, res.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model"] == "shrunk_mean" and np.isfinite(metrics["test"]["rmse"]["value"])
    model = load_predictor(run / "model")
    assert isinstance(model, ShrunkMean) and model.shrink == 0.25
    preds = pd.read_csv(run / "predictions_test.csv")
    np.testing.assert_allclose(model.predict(preds["input"].tolist())[:, 0],
                               preds.filter(like="pred").iloc[:, 0], rtol=1e-6)

    out = tmp_path / "preds.csv"
    res = runner.invoke(app, ["predict", str(run), "--data", str(molecules_csv),
                              "--input-col", "smiles", "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out)) == len(pd.read_csv(molecules_csv))

    auto_run = tmp_path / "auto"
    res = runner.invoke(app, ["auto", *common, "--out", str(auto_run), "--set",
                              "automl.auto.families=[shrunk_mean, linear]", "--set",
                              "automl.tune.n_trials=3", "--set", "automl.tune.folds=3",
                              "--set", "automl.tune.pruner=none",
                              "--set", "model.n_jobs=1"])
    assert res.exit_code == 0, res.output
    board = pd.read_csv(auto_run / "leaderboard.csv")
    toy_trials = board[(board["family"] == "shrunk_mean") & (board["state"] == "COMPLETE")]
    assert len(toy_trials) == 3 and toy_trials["cv_mean"].notna().all()
    assert not toy_trials["params"].str.contains("features").any()  # it reads no features
    assert (auto_run / "families" / "shrunk_mean" / "model" / "toy.json").is_file()


def test_unknown_family_is_one_line_listing_the_registered_ones(tmp_path, molecules_csv):
    res = runner.invoke(app, ["train", "--data", str(molecules_csv), "--target-col", "logp",
                              "--model", "catboost", "--out", str(tmp_path / "r"), "--no-track"])
    assert res.exit_code == 2 and "catboost" in res.output and "lightgbm" in res.output
