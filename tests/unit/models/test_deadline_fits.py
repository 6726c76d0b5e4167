"""Fits stop with ``TimeUp`` once the deadline of ``fit_deadline`` has passed (between tasks, every
boosting round, every training batch, every chunk of trees); with a future deadline a fit is
identical to one without."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scifm.models.baselines import LGBMTaskModel
from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.tasks import TaskSpec
from scifm.utils.deadline import TimeUp, fit_deadline
from tests.conftest import make_molecules

PAST, FUTURE = -1.0, 3600.0


def _data(n: int = 160, tasks: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 5))
    y = (X[:, :tasks] + 0.3 * rng.normal(size=(n, tasks)) > 0).astype(float)
    y[::4, 0] = np.nan
    return X, y


def _lgbm() -> LGBMTaskModel:
    return LGBMTaskModel("binary", n_estimators=60, learning_rate=0.2, min_child_samples=5,
                         early_stopping_rounds=10, n_jobs=1, random_state=0)


def test_lightgbm_multitask_is_cut_between_tasks_and_rounds(monkeypatch):
    X, y = _data()
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp, match="lightgbm task 1"):
        _lgbm().fit(X, y)
    # the per-round callback alone also stops a booster
    monkeypatch.setattr("scifm.models.baselines.check_deadline", lambda where: None)
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp, match="boosting round"):
        _lgbm().fit(X, y)


def test_lightgbm_future_deadline_changes_nothing():
    X, y = _data()
    plain = _lgbm().fit(X[:120], y[:120], X[120:], y[120:])
    with fit_deadline(time.time() + FUTURE):
        timed = _lgbm().fit(X[:120], y[:120], X[120:], y[120:])
    assert timed.best_iterations_ == plain.best_iterations_
    np.testing.assert_array_equal(timed.predict(X), plain.predict(X))


@pytest.mark.parametrize(("family", "where"), [("linear", "task 1/3"),
                                               ("rf", "forest tree 1/60")])
def test_taskwise_and_joint_fits_are_cut(family, where):
    X, y = _data()
    params = {"n_estimators": 60} if family == "rf" else {}
    est = TaskwiseEstimator(make_estimator(family, "binary", params, n_jobs=1),
                            task_type="binary")
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp, match=where):
        est.fit(X, y)


@pytest.mark.parametrize("class_weight", [None, "balanced"])  # joint, per task
def test_forest_grown_in_chunks_under_a_deadline_equals_one_fit(class_weight):
    X, y = _data()
    make = lambda: TaskwiseEstimator(  # noqa: E731
        make_estimator("extratrees", "binary", {"n_estimators": 60}, 1, n_jobs=1),
        task_type="binary", class_weight=class_weight)
    plain = make().fit(X, y)
    with fit_deadline(time.time() + FUTURE):
        timed = make().fit(X, y)
    assert len(timed.estimators_[0].estimators_) == 60
    assert timed.estimators_[0].get_params()["warm_start"] is False
    np.testing.assert_array_equal(timed.predict(X), plain.predict(X))


@pytest.fixture(scope="module")
def mols():
    pytest.importorskip("chemprop", reason="the mpnn extra (chemprop) is not installed")
    return make_molecules(30)


def _mpnn():
    from scifm.models.mpnn import MPNNPredictor

    return MPNNPredictor(TaskSpec("regression", ["logp"]), "smiles",
                         {"hidden": 32, "ffn_hidden": 32, "batch_size": 10, "threads": 1,
                          "epochs": 2}, seed=0)


def test_mpnn_is_cut_inside_lightning_training(mols, monkeypatch):
    x, y = mols["smiles"].tolist(), mols[["logp"]].to_numpy()
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp, match="mpnn member 1"):
        _mpnn().fit(x, y)
    # the Lightning callback alone: TimeUp comes out of trainer.fit unwrapped
    monkeypatch.setattr("scifm.models.mpnn.check_deadline", lambda where: None)
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp, match="mpnn epoch 1, batch 1"):
        _mpnn().fit(x, y)


def test_mpnn_future_deadline_changes_nothing(mols):
    x, y = mols["smiles"].tolist(), mols[["logp"]].to_numpy()
    plain = _mpnn().fit(x, y).predict(x)
    with fit_deadline(time.time() + FUTURE):
        timed = _mpnn().fit(x, y).predict(x)
    np.testing.assert_array_equal(timed, plain)


def test_single_task_forest_is_cut_between_chunks_of_trees(monkeypatch):
    X, y = _data()
    make = lambda: TaskwiseEstimator(  # noqa: E731
        make_estimator("rf", "binary", {"n_estimators": 60}, 2, n_jobs=1), task_type="binary")
    plain = make().fit(X, y[:, 1])
    with fit_deadline(time.time() + FUTURE):
        np.testing.assert_array_equal(make().fit(X, y[:, 1]).predict(X), plain.predict(X))
    monkeypatch.setattr("scifm.models.estimators.check_deadline", lambda where: None)
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp, match="forest tree 1/60"):
        make().fit(X, y[:, 1])
