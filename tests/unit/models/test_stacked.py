"""The stacking family: a JSON meta-model on saved members; save -> load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scifm.errors import ConfigError, RunDirError
from scifm.models import get_family, load_predictor
from scifm.models.registry import trainable_families
from scifm.models.stacked import StackedPredictor, apply_meta, check_meta, fit_meta
from scifm.tasks import TaskSpec

REG = TaskSpec("regression", ["logp"])
BIN = TaskSpec("binary", ["active"])


def _members(task, x, y):
    from scifm.models.feature import FeaturePredictor

    return {f: FeaturePredictor(f, task, "smiles", features="ecfp", seed=0, n_jobs=1).fit(x, y)
            for f in ("linear", "knn")}


@pytest.mark.parametrize("task,col", [(REG, "logp"), (BIN, "active")], ids=["reg", "binary"])
def test_stacked_saves_members_and_meta_as_json_and_loads(tmp_path, molecules, task, col):
    x = molecules["smiles"].tolist()[:60]
    y = molecules[[col]].to_numpy(dtype=float)[:60]
    members = _members(task, x, y)
    meta = fit_meta(task, {f: m.predict(x) for f, m in members.items()}, y)
    model = StackedPredictor(task, "smiles", members, meta)
    expected = model.predict(x)
    assert expected.shape == (60, 1) and np.isfinite(expected).all()
    model.save(tmp_path / "model")
    files = [p.name for p in (tmp_path / "model").rglob("*") if p.is_file()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))]
    info = json.loads((tmp_path / "model" / "scifm.json").read_text())
    assert info["family"] == "stacking" and info["members"] == ["linear", "knn"]
    assert info["meta"]["kind"] == {"regression": "ridge", "binary": "logistic"}[task.task_type]
    back = load_predictor(tmp_path / "model")
    assert isinstance(back, StackedPredictor)
    assert np.array_equal(back.predict(x), expected)
    # a damaged meta-model or member folder is a RunDirError
    info["meta"]["coef"] = [[1.0]]
    (tmp_path / "model" / "scifm.json").write_text(json.dumps(info))
    with pytest.raises(RunDirError):
        load_predictor(tmp_path / "model", verify=False)


def test_meta_model_checks_and_family_registration(tmp_path):
    preds = {"a": np.array([[0.2], [0.9], [0.4]]), "b": np.array([[0.1], [0.8], [0.7]])}
    meta = fit_meta(BIN, preds, np.array([[0.0], [1.0], [0.0]]))
    assert apply_meta(meta, preds).shape == (3, 1)
    with pytest.raises(ValueError):
        check_meta(meta, REG)  # a logistic meta-model for a regression task
    with pytest.raises(ValueError):
        StackedPredictor(BIN, "smiles", {"a": None}, meta)  # member "b" missing
    assert "stacking" not in trainable_families()
    with pytest.raises(ConfigError):
        get_family("stacking").build(REG, "smiles", None, tmp_path)
