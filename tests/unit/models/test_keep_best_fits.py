"""Under a deadline that keeps the best (``fit_deadline(..., keep_best=True)``: ``auto``'s search on
the validation rows, where a fit is all or nothing), a forest or a booster that runs out of time
ends with what it has, each task of a multi-task fit in its share of the time, instead of
raising ``TimeUp``; with time to spare the fit is the same as one without a deadline."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scifm.models.baselines import LGBMTaskModel
from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.utils.deadline import TimeUp, fit_deadline, seconds_left, task_share

PAST, FUTURE = -1.0, 3600.0


def _data(n: int = 200, tasks: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6))
    y = (X[:, :tasks] + 0.3 * rng.normal(size=(n, tasks)) > 0).astype(float)
    y[::5, 1] = np.nan
    return X, y


def _taskwise(family: str, params: dict, class_weight: str | None = None) -> TaskwiseEstimator:
    return TaskwiseEstimator(make_estimator(family, "binary", params, 0, n_jobs=1),
                             task_type="binary", class_weight=class_weight)


def test_each_task_gets_an_equal_share_of_the_time_left():
    with fit_deadline(time.time() + 8.0, keep_best=True):
        with task_share(0, 4):
            assert 1.5 < seconds_left() <= 2.0
        with task_share(3, 4):  # the last task: all that is left
            assert 7.0 < seconds_left() <= 8.0
    with fit_deadline(time.time() + 8.0):  # a deadline that raises: no shares
        with task_share(0, 4):
            assert seconds_left() > 7.0


@pytest.mark.parametrize("class_weight", [None, "balanced"])  # one joint forest, one per task
def test_forest_out_of_time_keeps_its_first_trees_on_every_task(class_weight):
    X, y = _data()
    with fit_deadline(time.time() + PAST, keep_best=True):
        est = _taskwise("rf", {"n_estimators": 60}, class_weight).fit(X, y)
    forests = [e for e in est.estimators_ if e is not None]
    assert len(forests) == (1 if class_weight is None else 3)
    for forest in forests:
        assert len(forest.estimators_) == 5 and forest.n_estimators == 5
        assert forest.get_params()["warm_start"] is False
    pred = est.predict(X)
    assert pred.shape == (200, 3) and np.isfinite(pred).all()
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp):  # without keep_best: cut
        _taskwise("rf", {"n_estimators": 60}, class_weight).fit(X, y)


def test_forest_with_time_to_spare_is_the_same_forest():
    X, y = _data()
    plain = _taskwise("extratrees", {"n_estimators": 60}, "balanced").fit(X, y)
    with fit_deadline(time.time() + FUTURE, keep_best=True):
        timed = _taskwise("extratrees", {"n_estimators": 60}, "balanced").fit(X, y)
    assert all(len(e.estimators_) == 60 for e in timed.estimators_)
    np.testing.assert_array_equal(timed.predict(X), plain.predict(X))


@pytest.mark.serial
def test_forest_stops_growing_near_its_deadline():
    X, y = _data(n=400)
    t0 = time.perf_counter()
    with fit_deadline(time.time() + 1.0, keep_best=True):
        est = _taskwise("rf", {"n_estimators": 5000}, "balanced").fit(X, y)
    took = time.perf_counter() - t0
    sizes = [len(e.estimators_) for e in est.estimators_]
    assert all(5 <= s < 5000 for s in sizes), sizes
    assert took < 4.0  # 1 s and at most a chunk of trees past it, not 3 x 5,000 trees


def _lgbm() -> LGBMTaskModel:
    return LGBMTaskModel("binary", n_estimators=80, learning_rate=0.2, min_child_samples=5,
                         early_stopping_rounds=10, n_jobs=1, random_state=0)


def test_lightgbm_out_of_time_keeps_the_rounds_done_on_every_task():
    X, y = _data()
    with fit_deadline(time.time() + PAST, keep_best=True):
        est = _lgbm().fit(X[:150], y[:150], X[150:], y[150:])
    assert est.best_iterations_ == [1, 1, 1]
    assert [b.current_iteration() for b in est.boosters_] == [1, 1, 1]
    assert np.isfinite(est.predict(X)).all()
    plain = _lgbm().fit(X[:150], y[:150], X[150:], y[150:])
    with fit_deadline(time.time() + FUTURE, keep_best=True):
        timed = _lgbm().fit(X[:150], y[:150], X[150:], y[150:])
    assert timed.best_iterations_ == plain.best_iterations_ and plain.best_iterations_[0] > 1
    np.testing.assert_array_equal(timed.predict(X), plain.predict(X))


def test_xgboost_out_of_time_keeps_its_rounds_and_otherwise_is_cut():
    X, y = _data()
    params = {"n_estimators": 80}
    with fit_deadline(time.time() + PAST, keep_best=True):
        est = _taskwise("xgboost", params).fit(X, y)
    for model in est.estimators_:
        assert model.get_booster().num_boosted_rounds() == 1
        assert model.get_params()["callbacks"] is None  # nothing of the deadline is kept
    assert np.isfinite(est.predict(X)).all()
    with fit_deadline(time.time() + PAST), pytest.raises(TimeUp):
        _taskwise("xgboost", params).fit(X, y)
    plain = _taskwise("xgboost", params).fit(X, y)
    with fit_deadline(time.time() + FUTURE, keep_best=True):
        timed = _taskwise("xgboost", params).fit(X, y)
    np.testing.assert_array_equal(timed.predict(X), plain.predict(X))
