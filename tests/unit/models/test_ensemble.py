"""The ensemble family: greedy weights, cross-fitted choice, save/load without pickle."""

from __future__ import annotations

import json

import numpy as np
import pytest

from scifm.errors import RunDirError
from scifm.evaluation.metrics import compute_metrics
from scifm.models import load_predictor
from scifm.models.ensemble import EnsemblePredictor, greedy_weights
from scifm.tasks import TaskSpec
from scifm.tuning.ensembling import choose_ensemble, fold_scores, holds_up, selection_scores

REG = TaskSpec("regression", ["y"])


def _rmse(y):
    return lambda p: compute_metrics(REG, y, p)["rmse"]


def test_greedy_weights_average_independent_noise():
    rng = np.random.default_rng(0)
    y = rng.normal(size=(400, 1))
    preds = {"a": y + rng.normal(scale=1.0, size=y.shape),
             "b": y + rng.normal(scale=1.0, size=y.shape),
             "bad": rng.normal(scale=3.0, size=y.shape)}
    w = greedy_weights(preds, _rmse(y), higher_is_better=False, rounds=20)
    assert abs(sum(w.values()) - 1) < 1e-12 and all(v > 0 for v in w.values())
    assert w.get("bad", 0) <= 0.1 and w["a"] > 0.3 and w["b"] > 0.3
    avg = sum(wf * preds[f] for f, wf in w.items())
    assert _rmse(y)(avg) < min(_rmse(y)(preds["a"]), _rmse(y)(preds["b"]))


def test_choose_ensemble_keeps_it_only_when_better_out_of_fold():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(300, 1))
    idx = np.arange(300)
    folds = [(np.setdiff1d(idx, va), va) for va in np.array_split(idx, 3)]
    noisy = {"a": y + rng.normal(size=y.shape), "b": y + rng.normal(size=y.shape)}
    keep = choose_ensemble(REG, y, noisy, "rmse", False, folds)
    assert keep.keep and keep.cv_mean < keep.single_mean and len(keep.fold_scores) == 3
    # a member that is just the other plus noise cannot help: the single family wins
    good = y + 0.1 * rng.normal(size=y.shape)
    same = {"good": good, "worse": good + rng.normal(size=y.shape)}
    no = choose_ensemble(REG, y, same, "rmse", False, folds)
    assert no.best_single == "good" and not no.keep
    assert choose_ensemble(REG, y, {"only": good}, "rmse", False, folds).weights == {}


def test_holds_up_is_the_paired_one_standard_error_rule():
    # higher is better: the single family ahead by 0.01 on average, but the folds disagree
    # (differences -0.05, +0.03, -0.01; se 0.0231): the combination holds up
    assert holds_up([0.80, 0.93, 0.89], [0.85, 0.90, 0.90], True)
    # ahead by 0.03 on every fold (se 0): the single family wins
    assert not holds_up([0.80, 0.85, 0.90], [0.83, 0.88, 0.93], True)
    # lower is better (RMSE): the sign of the differences flips
    assert holds_up([1.0, 1.1], [1.05, 1.2], False)
    assert not holds_up([1.05, 1.2], [1.0, 1.1], False)
    # a tie on every fold is not enough (the simpler single family stays)
    assert not holds_up([0.5, 0.6], [0.5, 0.6], True)
    # folds either side did not score are left out; none scored never holds up
    assert holds_up([0.9, float("nan")], [0.8, 0.99], True)
    assert not holds_up([0.7, 0.9], [float("nan"), 0.95], True)
    assert holds_up([0.7], [float("nan")], True)  # the single family scored no fold
    assert not holds_up([float("nan")], [0.8], True)
    assert not holds_up([0.9], [0.8, 0.7], True)  # not the same folds


def test_choosing_the_best_single_family_is_cross_fitted():
    # two families off by a constant per fold (RMSE = that offset): a 0.1 / 1.0 / 1.0, b 1.0 /
    # 0.2 / 0.9. Both average 0.7, but the family best on the other folds scores 1.0 on every
    # held-out fold: the best single family's own fold scores are optimistic
    y = np.zeros((30, 1))
    folds = [(np.setdiff1d(np.arange(30), va), va) for va in np.array_split(np.arange(30), 3)]
    offset = {"a": [0.1, 1.0, 1.0], "b": [1.0, 0.2, 0.9]}
    oof = {f: np.repeat(np.asarray(o), 10)[:, None] for f, o in offset.items()}
    assert np.allclose(fold_scores(REG, y, oof["a"], "rmse", folds), offset["a"])
    assert np.allclose(selection_scores(REG, y, oof, "rmse", False, folds), [1.0, 1.0, 1.0])
    # higher is better: the choice flips with the direction
    neg = selection_scores(REG, y, oof, "rmse", True, folds)  # "best" = largest RMSE
    assert np.allclose(neg, [0.1, 0.2, 0.9])
    ens = choose_ensemble(REG, y, oof, "rmse", False, folds)
    assert np.allclose(ens.selected_scores, [1.0, 1.0, 1.0]) and ens.single_mean < 0.71


def test_ensemble_saves_members_and_loads(tmp_path, molecules):
    from scifm.models.feature import FeaturePredictor

    x = molecules["smiles"].tolist()[:60]
    y = molecules[["logp"]].to_numpy(dtype=float)[:60]
    members = {f: FeaturePredictor(f, REG, "smiles", features="ecfp", seed=0, n_jobs=1).fit(x, y)
               for f in ("linear", "knn")}
    ens = EnsemblePredictor(REG, "smiles", members, {"linear": 3.0, "knn": 1.0})
    assert ens.weights == {"linear": 0.75, "knn": 0.25}
    ens.save(tmp_path / "model")
    meta = json.loads((tmp_path / "model" / "scifm.json").read_text())
    assert meta["family"] == "ensemble" and meta["members"] == ["linear", "knn"]
    back = load_predictor(tmp_path / "model")
    expected = 0.75 * members["linear"].predict(x) + 0.25 * members["knn"].predict(x)
    assert np.allclose(back.predict(x), expected)
    # zero weights drop a member; a broken member folder is a RunDirError
    assert list(EnsemblePredictor(REG, "smiles", members, {"linear": 1, "knn": 0}).members) == \
        ["linear"]
    with pytest.raises(ValueError):
        EnsemblePredictor(REG, "smiles", members, {"linear": 0.0})
    (tmp_path / "model" / "members" / "knn" / "scifm.json").unlink()
    with pytest.raises(RunDirError):
        load_predictor(tmp_path / "model")
