"""The ``mpnn`` family (Chemprop's D-MPNN): overfits a tiny set, masks missing labels, saves
without pickle and predicts identically after loading in a fresh process; without chemprop it is
refused in one line naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scifm.errors import ConfigError
from scifm.models.families import SEARCH_SPACES
from scifm.models.params import MPNNParams
from scifm.tasks import TaskSpec
from tests.conftest import make_molecules

ROOT = Path(__file__).resolve().parents[3]

SMALL = {"hidden": 48, "ffn_hidden": 48, "batch_size": 10, "threads": 1}
"""Tiny networks on one thread: the tests stay fast on a couple of shared cores."""


@pytest.fixture
def chemprop():
    return pytest.importorskip("chemprop", reason="the mpnn extra (chemprop) is not installed: "
                                                  'pip install -c constraints.txt -e ".[mpnn]"')


@pytest.fixture(scope="module")
def mols():
    return make_molecules(40)


def _predictor(task: TaskSpec, **params):
    from scifm.models.mpnn import MPNNPredictor

    return MPNNPredictor(task, "smiles", {**SMALL, **params}, seed=0)


def test_params_and_search_space_are_valid():
    assert MPNNParams().depth == 3 and MPNNParams().hidden == 300 and MPNNParams().n_models == 1
    assert MPNNParams(extra_descriptors="true").descriptor_set() == "rdkit2d"
    assert MPNNParams(extra_descriptors="no").descriptor_set() is None
    with pytest.raises(ValueError):
        MPNNParams(dropout=1.0)
    import optuna

    from scifm.tuning.search_spaces import sample_params

    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        trial = study.ask()
        MPNNParams(**sample_params(trial, SEARCH_SPACES["mpnn"]))
        study.tell(trial, 0.0)


def test_regression_overfits_a_tiny_set(chemprop, mols):
    y = mols[["logp"]].to_numpy()
    model = _predictor(TaskSpec("regression", ["logp"]), epochs=60, lr=3e-3)
    model.fit(mols["smiles"].tolist(), y)
    pred = model.predict(mols["smiles"].tolist())
    assert pred.shape == (40, 1)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    assert rmse < 0.35 * y.std(), (rmse, y.std())  # memorised: well below the label spread
    assert len(model.history_) == 60 and model.history_[-1]["train_loss"] < 0.1


def test_binary_multitask_with_missing_labels(chemprop, mols):
    y = np.stack([mols["active"], 1 - mols["active"]], axis=1).astype(float)
    y[::3, 0] = np.nan  # a third of task 0 and every other row of task 1 unlabelled
    y[1::2, 1] = np.nan
    x = mols["smiles"].tolist()
    model = _predictor(TaskSpec("binary", ["a", "b"], ["0", "1"]), epochs=8)
    model.fit(x[:30], y[:30], x[30:], y[30:])
    pred = model.predict(x)
    assert pred.shape == (40, 2) and np.isfinite(pred).all()
    assert ((pred >= 0) & (pred <= 1)).all()
    losses = [r["train_loss"] for r in model.history_]
    assert all(np.isfinite(losses)) and "val_loss" in model.history_[0]
    again = _predictor(TaskSpec("binary", ["a", "b"], ["0", "1"]), epochs=8)
    np.testing.assert_array_equal(again.fit(x[:30], y[:30], x[30:], y[30:]).predict(x), pred)


def test_multiclass_ensemble_averages_its_members(chemprop, mols):
    y = (np.digitize(mols["logp"], [0.5, 2.0])).astype(float)[:, None]
    task = TaskSpec("multiclass", ["cls"], ["low", "mid", "high"])
    model = _predictor(task, epochs=3, n_models=2)
    model.fit(mols["smiles"].tolist(), y)
    pred = model.predict(mols["smiles"].tolist()[:7])
    assert pred.shape == (7, 3) and np.allclose(pred.sum(axis=1), 1.0)
    from scifm.models import mpnn_build as mb

    dset = mb.make_dataset(mols["smiles"].tolist()[:7], None)
    members = [mb.predict_model(m, dset, task, 10) for m in model.members_]
    assert not np.allclose(members[0], members[1])  # two seeds, two models
    np.testing.assert_allclose(pred, np.mean(members, axis=0), rtol=1e-6)
    assert {r["member"] for r in model.history_} == {0, 1}


_RELOAD = textwrap.dedent("""
    import json, sys
    from scifm.models import load_predictor
    x = json.loads(sys.argv[1])
    print(json.dumps([load_predictor(p).predict(x).tolist() for p in sys.argv[2:]]))
""")


def test_save_load_in_a_fresh_process_predicts_identically(chemprop, mols, tmp_path):
    """Two tasks (one with missing labels), with and without extra descriptors: a fresh Python
    process loads each saved folder (manifest checked) and predicts the same values."""
    x = mols["smiles"].tolist()
    y = np.stack([mols["logp"], mols["logp"] * 2 + 1], axis=1)
    y[::4, 1] = np.nan
    folders, before = [], []
    for extra in (False, "maccs"):
        model = _predictor(TaskSpec("regression", ["logp", "noisy"]), epochs=3,
                           extra_descriptors=extra)
        model.fit(x[:32], y[:32], x[32:], y[32:])
        folder = tmp_path / f"model_{extra}"
        model.save(folder)
        files = sorted(p.name for p in folder.iterdir())
        assert all(f.endswith((".json", ".safetensors")) for f in files), files  # no pickle
        assert "member_0.safetensors" in files and "manifest.json" in files
        assert ("featurizer.json" in files) == bool(extra)
        meta = json.loads((folder / "scifm.json").read_text())
        assert meta["architecture"]["n_tasks"] == 2 and len(meta["target_scaling"]["mean"]) == 2
        folders.append(str(folder))
        before.append(model.predict(x))
    out = subprocess.run([sys.executable, "-c", _RELOAD, json.dumps(x), *folders],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    after = json.loads(out.stdout.strip().splitlines()[-1])
    for want, got in zip(before, after, strict=True):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6)


def test_without_chemprop_one_line_names_the_extra(monkeypatch, tmp_path):
    from scifm.config.schema import ExperimentConfig
    from scifm.models.registry import build_predictor

    monkeypatch.setitem(sys.modules, "chemprop", None)  # import chemprop now fails
    cfg = ExperimentConfig.model_validate({"model": {"families": ["mpnn"]}})
    with pytest.raises(ConfigError) as err:
        build_predictor("mpnn", TaskSpec("regression", ["y"]), "smiles", cfg, tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "chemprop" in msg.lower()
    assert 'pip install -c constraints.txt -e ".[mpnn]"' in msg
    (tmp_path / "scifm.json").write_text(json.dumps({"family": "mpnn"}))
    from scifm.models.mpnn import load_mpnn

    with pytest.raises(ConfigError, match=r"\.\[mpnn\]"):
        load_mpnn(tmp_path)
