"""A kernel machine (SVM), whose fit nothing can stop, is given up before it starts when its
estimated time exceeds the deadline; without a deadline, or for other families, nothing changes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.models.kernel_budget import PILOT_ROWS, is_kernel_machine, kernel_fit_seconds
from scifm.utils.deadline import TimeUp, fit_deadline


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2400, 40))
    y = (X[:, :3].sum(axis=1) + rng.normal(size=2400) > 0).astype(float)
    return X, np.column_stack([y, y])


def test_only_libsvm_estimators_count_as_kernel_machines():
    assert is_kernel_machine(make_estimator("svm", "binary"))
    assert is_kernel_machine(make_estimator("svm", "regression"))
    assert not is_kernel_machine(make_estimator("linear", "binary"))
    assert not is_kernel_machine(make_estimator("rf", "binary", {"n_estimators": 5}))


def test_the_estimate_needs_a_deadline_and_enough_rows(data):
    X, y = data
    svm = make_estimator("svm", "binary")
    assert kernel_fit_seconds(svm, X, y[:, 0]) is None  # no deadline: nothing is timed
    with fit_deadline(time.time() + 60):
        assert kernel_fit_seconds(svm, X[:2 * PILOT_ROWS], y[:2 * PILOT_ROWS, 0]) is None
        assert kernel_fit_seconds(make_estimator("linear", "binary"), X, y[:, 0]) is None
        estimate = kernel_fit_seconds(svm, X, y[:, 0])
    assert estimate is not None and estimate > 0


def test_an_svm_that_cannot_finish_is_given_up_at_once(data, monkeypatch):
    import scifm.models.estimators as estimators

    X, y = data
    fitted_tasks = []
    monkeypatch.setattr(estimators, "kernel_fit_seconds", lambda *a: 1000.0)
    monkeypatch.setattr(TaskwiseEstimator, "_fit_task", lambda *a: fitted_tasks.append(a))
    svm = TaskwiseEstimator(make_estimator("svm", "binary"), task_type="binary")
    with pytest.raises(TimeUp, match="kernel fit on 2400 rows would take about 1000 s"):
        with fit_deadline(time.time() + 60):  # 60 s left < 1000 s: no task is fitted
            svm.fit(X, y)
    assert fitted_tasks == []
    monkeypatch.undo()
    with fit_deadline(time.time() + 600):  # time enough: fitted as before
        fitted = TaskwiseEstimator(make_estimator("svm", "binary"), task_type="binary").fit(X, y)
    assert fitted.predict(X[:5]).shape == (5, 2)
