"""Split-conformal intervals and sets (crepes) cover what they promise on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.trust.conformal import (
    IntervalRegressor,
    SetClassifier,
    choose_method,
    fit_regressor,
    fit_sets,
)


def _hetero(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Residuals whose spread grows with a known difficulty in [0, 1]."""
    rng = np.random.default_rng(seed)
    d = rng.uniform(0.0, 1.0, n)
    return rng.normal(0.0, 0.1 + 2.0 * d), d


@pytest.mark.parametrize("method", ["standard", "normalized", "mondrian"])
def test_interval_coverage_is_nominal(method: str) -> None:
    r_cal, d_cal = _hetero(2000, 0)
    r_new, d_new = _hetero(20000, 1)
    reg = fit_regressor(method, r_cal, d_cal)
    iv = reg.interval(np.zeros(len(r_new)), d_new, 0.9)
    covered = ((iv[:, 0] <= r_new) & (r_new <= iv[:, 1])).mean()
    assert 0.88 <= covered <= 0.925, (method, covered)


def test_normalized_is_narrower_when_errors_follow_the_difficulty() -> None:
    r_cal, d_cal = _hetero(2000, 0)
    widths = {}
    for method in ("standard", "normalized"):
        iv = fit_regressor(method, r_cal, d_cal).interval(np.zeros(500), d_cal[:500], 0.9)
        widths[method] = float(np.mean(iv[:, 1] - iv[:, 0]))
    assert widths["normalized"] < 0.9 * widths["standard"]
    best, source, measured = choose_method(r_cal, {"distance": d_cal}, 0.9)
    assert best != "standard" and source == "distance"
    assert set(measured) == {"standard", "normalized/distance", "mondrian/distance"}


def test_choose_method_finds_the_informative_difficulty() -> None:
    r_cal, d_cal = _hetero(2000, 0)
    noise = np.random.default_rng(9).uniform(size=len(r_cal))
    best, source, measured = choose_method(r_cal, {"distance": noise, "spread": d_cal}, 0.9)
    assert source == "spread" and best in ("normalized", "mondrian")
    assert measured[f"{best}/spread"] < measured["normalized/distance"]


def test_choose_method_keeps_standard_when_difficulty_is_noise() -> None:
    rng = np.random.default_rng(3)
    r = rng.normal(size=400)
    best, _, measured = choose_method(r, {"distance": rng.uniform(size=400)}, 0.9)
    assert measured["standard"] <= 1.1 * min(measured.values())
    assert choose_method(r, {}, 0.9) == ("standard", None, {})


@pytest.mark.parametrize("method", ["standard", "normalized", "mondrian"])
def test_regressor_round_trips_through_its_dict(method: str) -> None:
    r, d = _hetero(300, 5)
    reg = fit_regressor(method, r, d)
    again = IntervalRegressor.from_dict(reg.to_dict())
    y_hat = np.linspace(-1, 1, 50)
    np.testing.assert_array_equal(reg.interval(y_hat, d[:50], 0.8),
                                  again.interval(y_hat, d[:50], 0.8))


def test_too_few_rows_give_infinite_intervals_not_a_crash() -> None:
    reg = fit_regressor("standard", np.array([0.1, -0.2, 0.3]), None)
    iv = reg.interval(np.zeros(2), None, 0.95)
    assert np.isinf(iv).all()


def test_label_conditional_sets_cover_every_class() -> None:
    rng = np.random.default_rng(0)
    n = 6000
    y = (rng.uniform(size=n) < 0.2).astype(int)  # imbalanced
    p1 = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    probs = np.stack([1 - p1, p1], axis=1)
    cal, new = slice(0, 3000), slice(3000, n)
    sets = fit_sets(probs[cal], y[cal]).sets(probs[new], 0.9)
    yn = y[new]
    for c in (0, 1):
        coverage = sets[yn == c, c].mean()
        assert 0.87 <= coverage <= 0.94, (c, coverage)
    again = SetClassifier.from_dict(fit_sets(probs[cal], y[cal]).to_dict())
    np.testing.assert_array_equal(again.sets(probs[new], 0.9), sets)


def test_an_ensemble_spread_drives_the_intervals_end_to_end(tmp_path) -> None:
    """The layer fitted with an ensemble's spread uses it: wider intervals where members
    disagree, a spread column, and the same intervals after a JSON round trip."""
    from scifm.config.trust import UncertaintyConfig
    from scifm.tasks import TaskSpec
    from scifm.trust.uncertainty import Uncertainty

    r, d = _hetero(600, 11)
    task = TaskSpec("regression", ["y"])
    layer = Uncertainty.fit(task, UncertaintyConfig(domain=False), "smiles", r[:, None],
                            np.zeros((600, 1)), [], [], spread_val=d[:, None])
    assert layer.intervals[0].source == "spread"
    spread = np.array([[0.05], [0.95]])
    applied = layer.apply(np.zeros((2, 1)), ["C", "C"], spread)
    width = applied.upper[:, 0] - applied.lower[:, 0]
    assert width[1] > 2 * width[0]
    cols = layer.columns(applied)
    np.testing.assert_array_equal(cols["spread_y"], spread[:, 0])
    np.testing.assert_array_equal(cols["uncertainty_y"], spread[:, 0])
    layer.save(tmp_path)
    again = Uncertainty.load(tmp_path)
    np.testing.assert_array_equal(again.apply(np.zeros((2, 1)), ["C", "C"], spread).upper,
                                  applied.upper)
