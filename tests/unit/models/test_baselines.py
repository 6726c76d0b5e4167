"""LGBMTaskModel (scikit-learn contract, learning, multi-task NaN labels) and LightGBMPredictor."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from scifm.config.schema import ExperimentConfig
from scifm.errors import ConfigError, RunDirError
from scifm.models import build_predictor, load_predictor
from scifm.models.base import MODEL_META, Predictor
from scifm.models.baselines import LGBMTaskModel
from scifm.models.feature import FeaturePredictor
from scifm.models.lightgbm import LightGBMPredictor
from scifm.models.manifest import MANIFEST
from scifm.models.params import LightGBMParams
from scifm.tasks import TaskSpec

SMALL = {"n_estimators": 20, "min_child_samples": 2, "n_jobs": 1}
FAST = {"n_estimators": 150, "min_child_samples": 3, "n_jobs": 1, "early_stopping_rounds": 20}
DATA = Path(__file__).parent / "data"
LABELS_1_2 = ("binary task_type takes the 0/1 label encoding of scifm.tasks; this check fits "
              "with labels {1, 2}")


def _expected_failed_checks(estimator: LGBMTaskModel) -> dict[str, str]:
    if estimator.task_type == "binary":
        return {"check_estimators_dtypes": LABELS_1_2, "check_fit2d_1feature": LABELS_1_2}
    return {}


@parametrize_with_checks(
    [LGBMTaskModel(task_type="regression", **SMALL), LGBMTaskModel(task_type="binary", **SMALL)],
    expected_failed_checks=_expected_failed_checks,
)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def _data(n: int = 400, d: int = 6, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def test_binary_learns_threshold_signal():
    X = _data()
    y = (X[:, 0] > 0).astype(float)
    m = LGBMTaskModel("binary", random_state=0, **FAST).fit(X[:250], y[:250], X[250:320],
                                                               y[250:320])
    p = m.predict(X[320:])
    assert p.shape == (80,) and np.all((p >= 0) & (p <= 1))
    assert roc_auc_score(y[320:], p) > 0.9
    proba = m.predict_proba(X[320:])
    np.testing.assert_allclose(proba[:, 1], p)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_regression_learns_and_2d_y_gives_2d_output():
    X = _data()
    y = (2 * X[:, 0] + X[:, 1] + 0.1 * np.random.default_rng(1).normal(size=len(X)))[:, None]
    m = LGBMTaskModel("regression", random_state=0, **FAST).fit(X[:300], y[:300], X[300:350],
                                                                   y[300:350])
    pred = m.predict(X[350:])
    assert pred.shape == (50, 1)
    assert r2_score(y[350:], pred) > 0.8


def test_early_stopping_and_history_on_noise():
    X = _data()
    y = np.random.default_rng(2).normal(size=len(X))
    m = LGBMTaskModel("regression", n_estimators=500, early_stopping_rounds=10, n_jobs=1,
                      random_state=0).fit(X[:300], y[:300], X[300:], y[300:])
    assert m.best_iterations_[0] < 100  # nothing to learn: stops early
    h = m.history_
    assert 5 <= len(h) <= 11  # ten samples + the best round
    assert h[-1]["round"] == m.best_iterations_[0] + 10  # stopped after the patience
    assert [r["round"] for r in h] == sorted({r["round"] for r in h})
    best = [r for r in h if r.get("best")]
    assert len(best) == 1 and best[0]["round"] == m.best_iterations_[0]
    assert best[0]["val_loss"] == min(r["val_loss"] for r in h)
    assert all(np.isfinite(r["train_loss"]) and np.isfinite(r["val_loss"]) for r in h)
    assert h[-1]["train_loss"] < h[0]["train_loss"]  # it overfits the training noise


def test_multitask_trains_each_task_on_its_labelled_rows_only():
    X = _data(200)
    y = np.full((200, 2), np.nan)
    y[:, 0] = X[:, 0]
    few = np.arange(0, 200, 25)  # 8 labelled rows for task 1, all equal to 5
    y[few, 1] = 5.0
    m = LGBMTaskModel("regression", random_state=0, **SMALL).fit(X, y)
    assert len(m.boosters_) == 2
    pred = m.predict(X)
    assert pred.shape == (200, 2) and np.isfinite(pred).all()
    # had missing labels been used as values, task 1 would not predict 5 everywhere
    np.testing.assert_allclose(pred[:, 1], 5.0, atol=1e-6)


def test_multitask_binary_with_nan_labels_and_validation():
    X = _data(300)
    y = np.stack([(X[:, 0] > 0), (X[:, 1] > 0)], axis=1).astype(float)
    y[np.random.default_rng(3).random(y.shape) < 0.4] = np.nan
    y[:290, 1][20:] = np.nan  # task 1: only 20 labelled training rows
    m = LGBMTaskModel("binary", random_state=0, **FAST).fit(X[:250], y[:250], X[250:], y[250:])
    p = m.predict(X[250:])
    assert p.shape == (50, 2) and np.isfinite(p).all()
    assert len(m.predict_proba(X[:5])) == 2  # one n x 2 array per task


def test_task_without_labels_and_bad_binary_labels_raise():
    X = _data(50)
    y = np.stack([X[:, 0] > 0, np.full(50, np.nan)], axis=1).astype(float)
    with pytest.raises(ValueError, match="task 1 has no labelled"):
        LGBMTaskModel("binary", **SMALL).fit(X, y)
    with pytest.raises(ValueError, match="0/1"):
        LGBMTaskModel("binary", **SMALL).fit(X, np.arange(50) % 3)


def test_multiclass_probabilities():
    X = _data(450)
    y = np.digitize(X[:, 0], [-0.5, 0.5]).astype(float)  # classes 0, 1, 2
    m = LGBMTaskModel("multiclass", random_state=0, **FAST).fit(X[:300], y[:300], X[300:380],
                                                                   y[300:380])
    p = m.predict(X[380:])
    assert p.shape == (70, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-9)
    assert (p.argmax(axis=1) == y[380:]).mean() > 0.8
    wide = LGBMTaskModel("multiclass", n_classes=4, **SMALL).fit(X[:100], y[:100])
    assert wide.predict(X[:3]).shape == (3, 4)


def test_determinism_and_seed_dependence():
    X = _data(300)
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    kw = {"n_estimators": 60, "subsample": 0.7, "colsample_bytree": 0.5, "n_jobs": 1}
    a = LGBMTaskModel("binary", random_state=7, **kw).fit(X, y).predict(X)
    b = LGBMTaskModel("binary", random_state=7, **kw).fit(X, y).predict(X)
    c = LGBMTaskModel("binary", random_state=8, **kw).fit(X, y).predict(X)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_sparse_input_matches_dense():
    X = _data(200)
    X[X < 0.3] = 0.0
    y = X[:, 0] * 3 + X[:, 1]
    dense = LGBMTaskModel("regression", random_state=0, **SMALL).fit(X, y)
    sparse = LGBMTaskModel("regression", random_state=0, **SMALL).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), rtol=1e-10)


def test_balanced_class_weight_raises_minority_probability():
    X = _data(400)
    y = (X[:, 0] > 1.3).astype(float)  # ~10 % positives
    plain = LGBMTaskModel("binary", random_state=0, **SMALL).fit(X, y).predict(X)
    balanced = LGBMTaskModel("binary", class_weight="balanced", random_state=0,
                             **SMALL).fit(X, y).predict(X)
    assert balanced.mean() > plain.mean() + 0.1


# ----------------------------------------------------------------- LightGBMPredictor

CFG = LightGBMParams(n_estimators=60, min_child_samples=2, early_stopping_rounds=15)


def _molecules() -> tuple[list[str], np.ndarray]:
    smiles = []
    for n in range(1, 16):
        chain = "C" * n
        smiles += [chain, chain + "O", "C" + chain + "(C)C", chain + "OC"]
    y = np.array([[float("O" in s)] for s in smiles])
    return smiles, y


def _roundtrip(pred: LightGBMPredictor, x: list[str], tmp_path) -> LightGBMPredictor:
    pred.save(tmp_path / "model")
    loaded = load_predictor(tmp_path / "model")
    assert isinstance(loaded, LightGBMPredictor) and isinstance(loaded, Predictor)
    np.testing.assert_array_equal(loaded.predict(x), pred.predict(x))
    return loaded


def test_predictor_smiles_fit_predict_save_load(tmp_path):
    smiles, y = _molecules()
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(smiles))
    tr, va, te = idx[:40], idx[40:50], idx[50:]
    task = TaskSpec("binary", ["has_oxygen"], ["no", "yes"])
    pred = LightGBMPredictor(task, "smiles", CFG, seed=3, n_jobs=1)
    pred.fit([smiles[i] for i in tr], y[tr], [smiles[i] for i in va], y[va])
    p = pred.predict([smiles[i] for i in te])
    assert p.shape == (len(te), 1)
    assert roc_auc_score(y[te, 0], p[:, 0]) > 0.9
    assert pred.history_ and "val_loss" in pred.history_[0]
    loaded = _roundtrip(pred, smiles + ["not a smiles"], tmp_path)
    assert np.isfinite(loaded.predict(["not a smiles"])).all()
    meta = json.loads((tmp_path / "model" / MODEL_META).read_text())
    assert meta["family"] == "lightgbm" and meta["modality"] == "smiles"
    assert meta["task"] == task.to_dict() and meta["seed"] == 3
    assert meta["params"]["n_estimators"] == 60 and meta["n_jobs"] == 1
    # a model saved before the family registry (one "lightgbm" section) still loads
    legacy = {k: v for k, v in meta.items() if k not in ("params", "features", "n_jobs")}
    legacy["lightgbm"] = {**meta["params"], "features": meta["features"], "n_jobs": 1}
    (tmp_path / "model" / MODEL_META).write_text(json.dumps(legacy))
    (tmp_path / "model" / MANIFEST).unlink()  # such folders have no manifest (issue 9)
    np.testing.assert_array_equal(load_predictor(tmp_path / "model").predict(smiles[:5]),
                                  loaded.predict(smiles[:5]))
    assert meta["best_iterations"] == pred.model.best_iterations_
    assert (tmp_path / "model" / "featurizer.json").exists()
    assert (tmp_path / "model" / "booster_0.txt").exists()


def test_predictor_dna_regression(tmp_path):
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACGT"), size=40, p=rng.dirichlet([2] * 4)))
            for _ in range(90)]
    gc = np.array([[(s.count("G") + s.count("C")) / len(s)] for s in seqs])
    task = TaskSpec("regression", ["gc"])
    pred = LightGBMPredictor(task, "dna", CFG.model_copy(update={"n_estimators": 200}), seed=0,
                             n_jobs=1)
    pred.fit(seqs[:60], gc[:60], seqs[60:75], gc[60:75])
    assert r2_score(gc[75:], pred.predict(seqs[75:])) > 0.5
    _roundtrip(pred, seqs, tmp_path)


def test_predictor_text_and_protein_multiclass(tmp_path):
    bio = ["enzyme kinase binds substrate", "protein folding of enzyme", "kinase inhibitor assay"]
    astro = ["galaxy rotation curve", "dark matter in the galaxy", "telescope observes a star"]
    texts = [t + f" sample {i}" for i in range(8) for t in bio + astro]
    y = np.array([[float(t.split()[0] in {w.split()[0] for w in bio})] for t in texts])
    text_pred = LightGBMPredictor(TaskSpec("binary", ["bio"]), "text", CFG,
                                  n_jobs=1).fit(texts, y)
    p = text_pred.predict(["a kinase enzyme", "a distant galaxy"])
    assert p[0, 0] > p[1, 0]
    _roundtrip(text_pred, texts[:10], tmp_path / "text")

    rng = np.random.default_rng(0)
    aa = ["AAAAG", "KKKKG", "WWWWG"]  # class = dominant residue
    prots = [[("".join(rng.choice(list(aa[c]), size=30))), c] for c in range(3) for _ in range(15)]
    x = [s for s, _ in prots]
    yc = np.array([[c] for _, c in prots], dtype=float)
    task = TaskSpec("multiclass", ["family"], ["A", "K", "W"])
    prot_pred = LightGBMPredictor(task, "protein", CFG, n_jobs=1).fit(x, yc)
    probs = prot_pred.predict(x)
    assert probs.shape == (45, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs.argmax(axis=1) == yc[:, 0]).mean() > 0.9
    _roundtrip(prot_pred, x, tmp_path / "protein")


def test_load_errors_are_run_dir_errors(tmp_path):
    with pytest.raises(RunDirError, match="missing"):
        load_predictor(tmp_path / "nothing")
    smiles, y = _molecules()
    pred = LightGBMPredictor(TaskSpec("binary", ["o"]), "smiles", CFG, features="ecfp",
                             n_jobs=1).fit(smiles, y)
    pred.save(tmp_path / "m")
    (tmp_path / "m" / "booster_0.txt").write_text("garbage")
    with pytest.raises(RunDirError, match="booster_0"):
        LightGBMPredictor.load(tmp_path / "m")
    (tmp_path / "m" / "booster_0.txt").unlink()
    with pytest.raises(RunDirError, match="missing"):
        LightGBMPredictor.load(tmp_path / "m")
    (tmp_path / "m" / MODEL_META).write_text("{not json")
    with pytest.raises(RunDirError):
        load_predictor(tmp_path / "m")
    (tmp_path / "m" / MODEL_META).write_text(json.dumps({"family": "mystery"}))
    with pytest.raises(RunDirError, match="unknown model family"):
        load_predictor(tmp_path / "m")


def test_build_predictor_and_feature_modality_mismatch(tmp_path):
    cfg = ExperimentConfig(seed=11, params={"lightgbm": {"n_estimators": 5}},
                           model={"class_weight": "balanced"})
    task = TaskSpec("binary", ["y"])
    pred = build_predictor("lightgbm", task, "dna", cfg, tmp_path)
    assert isinstance(pred, LightGBMPredictor) and pred.seed == 11
    assert pred.class_weight == "balanced" and pred.params.n_estimators == 5
    with pytest.raises(ConfigError):
        build_predictor("catboost", task, "dna", cfg, tmp_path)
    bad = LightGBMPredictor(task, "dna", LightGBMParams(), features="ecfp")
    with pytest.raises(ConfigError, match="does not apply"):
        bad.fit(["ACGT", "GGCC"], np.array([[0.0], [1.0]]))


@pytest.mark.parametrize("layout", ["registry", "lightgbm_section"])
def test_folder_written_by_the_old_lightgbm_predictor_loads(layout, tmp_path):
    """``data/lightgbm_v1`` was written by the LightGBMPredictor of before the shared
    FeaturePredictor (``booster_<j>.txt``; ``scifm.json`` with params / features / n_jobs /
    best_iterations); the older layout had one ``lightgbm`` section. Both load and predict what
    the old class predicted."""
    folder = tmp_path / "model"
    shutil.copytree(DATA / "lightgbm_v1", folder)
    if layout == "lightgbm_section":
        meta = json.loads((folder / MODEL_META).read_text())
        meta["lightgbm"] = {**meta.pop("params"), "features": meta.pop("features"),
                            "n_jobs": meta.pop("n_jobs")}
        (folder / MODEL_META).write_text(json.dumps(meta))
    expected = json.loads((DATA / "lightgbm_v1_expected.json").read_text())
    loaded = load_predictor(folder)
    assert isinstance(loaded, LightGBMPredictor) and isinstance(loaded, FeaturePredictor)
    assert loaded.family == "lightgbm" and loaded.features == "maccs" and loaded.seed == 1
    assert loaded.params == LightGBMParams(n_estimators=6, num_leaves=4, min_child_samples=3,
                                           early_stopping_rounds=3)
    assert loaded.model.best_iterations_ == [6, 1] and loaded.history_
    np.testing.assert_allclose(loaded.predict(expected["inputs"]), expected["predictions"],
                               rtol=1e-12)
    np.testing.assert_allclose(FeaturePredictor.load(folder).predict(expected["inputs"]),
                               expected["predictions"], rtol=1e-12)
    loaded.save(tmp_path / "again")  # saved again in today's layout: the same files + manifest
    assert sorted(f.name for f in (tmp_path / "again").iterdir()) == sorted(
        [f.name for f in (DATA / "lightgbm_v1").iterdir()] + [MANIFEST])
    np.testing.assert_array_equal(load_predictor(tmp_path / "again").predict(expected["inputs"]),
                                  loaded.predict(expected["inputs"]))
