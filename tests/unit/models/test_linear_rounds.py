"""A logistic regression under a deadline fits in rounds of iterations: the same model as one
fit when time allows, ``TimeUp`` once a plain deadline passes, the coefficients reached when the
deadline keeps the best."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.models.linear_rounds import fit_in_rounds, fits_in_rounds
from scifm.utils.deadline import TimeUp, fit_deadline


def _data(n: int = 400, d: int = 60, classes: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, d))
    y = np.argmax(X[:, :classes] + 0.5 * rng.normal(size=(n, classes)), axis=1)
    return X, y


class Clock:
    """A fake clock for the deadline and the round timing: each lbfgs iteration takes 0.1 s."""

    def __init__(self) -> None:
        self.now, self.rounds = 1000.0, []

    def time(self) -> float:
        return self.now

    perf_counter = time


@pytest.fixture
def clock(monkeypatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("scifm.utils.deadline.time", fake)
    monkeypatch.setattr("scifm.models.linear_rounds.time", fake)
    monkeypatch.setattr("scifm.models.linear_rounds.ROUND_ITERS", 2)
    real_fit = LogisticRegression.fit

    def fit(self, X, y, **kwargs):
        out = real_fit(self, X, y, **kwargs)
        fake.rounds.append(int(self.n_iter_.max()))
        fake.now += 0.1 * int(self.n_iter_.max())
        return out

    monkeypatch.setattr(LogisticRegression, "fit", fit)
    return fake


def _model() -> object:
    return make_estimator("linear", "multiclass", {"C": 1.0}, n_jobs=1)


def test_only_under_a_deadline_and_only_a_logistic_regression():
    assert not fits_in_rounds(_model())  # no deadline: scifm train's one plain fit
    with fit_deadline(time.time() + 60):
        assert fits_in_rounds(_model())
        assert not fits_in_rounds(make_estimator("linear", "regression", {}, n_jobs=1))
        assert not fits_in_rounds(LogisticRegression(solver="liblinear"))


def test_rounds_reach_the_model_of_one_fit():
    X, y = _data()
    plain = _model().fit(X, y)
    with fit_deadline(time.time() + 600):
        rounds = fit_in_rounds(_model(), X, y)
    final = rounds.steps[-1][1]
    assert final.get_params()["max_iter"] == plain.steps[-1][1].get_params()["max_iter"]
    assert not final.get_params()["warm_start"]
    np.testing.assert_allclose(rounds.predict_proba(X), plain.predict_proba(X), atol=5e-3)
    assert (rounds.predict(X) == plain.predict(X)).mean() > 0.99


def test_sample_weights_reach_the_last_step():
    X, y = _data()
    w = np.where(y == 0, 5.0, 1.0)
    plain = _model().fit(X, y, model__sample_weight=w)
    with fit_deadline(time.time() + 600):
        rounds = fit_in_rounds(_model(), X, y, model__sample_weight=w)
    np.testing.assert_allclose(rounds.predict_proba(X), plain.predict_proba(X), atol=5e-3)
    with fit_deadline(time.time() + 600), pytest.raises(ValueError, match="other than"):
        fit_in_rounds(_model(), X, y, scale__sample_weight=w)


def test_a_plain_deadline_cuts_the_fit_between_rounds(clock):
    X, y = _data()
    assert _model().fit(X, y).steps[-1][1].n_iter_.max() > 8  # enough rounds of 2 to cut
    clock.rounds.clear()
    with fit_deadline(clock.now + 0.5), pytest.raises(TimeUp, match="iteration"):
        fit_in_rounds(_model(), X, y)
    assert clock.rounds[0] == 2 and len(clock.rounds) >= 3
    assert 0.5 <= sum(clock.rounds) * 0.1 <= 0.5 + 0.1 + 1e-9  # at most one iteration over


def test_a_deadline_that_keeps_the_best_ends_with_a_usable_model(clock):
    X, y = _data()
    with fit_deadline(clock.now + 0.55, keep_best=True):
        kept = fit_in_rounds(_model(), X, y)
    assert sum(clock.rounds) == 5 and clock.rounds[-1] == 1  # 2 + 2 + the 1 that fitted
    assert kept.predict_proba(X).shape == (len(y), 4)
    assert (kept.predict(X) == y).mean() > 0.6  # fewer iterations, still a model
    with fit_deadline(clock.now - 1.0, keep_best=True):  # no time at all: one round still
        kept = fit_in_rounds(_model(), X, y)
    assert clock.rounds[-1] == 2 and kept.predict(X).shape == (len(y),)


def test_the_taskwise_linear_family_is_cut_inside_its_one_task(clock):
    X, y = _data()
    est = TaskwiseEstimator(_model(), task_type="multiclass")
    with fit_deadline(clock.now + 0.3), pytest.raises(TimeUp, match="LogisticRegression"):
        est.fit(X, y.astype(float))
    assert len(clock.rounds) >= 2  # cut inside the fit, not before it
