"""Calibrators lower the calibration error of a miscalibrated model and keep a good one."""

from __future__ import annotations

import numpy as np

from scifm.trust.calibration import (
    Calibrator,
    choose,
    expected_calibration_error,
    fit_calibrator,
    reliability_bins,
)


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true probabilities; the model reports them sharpened (logit x 3)."""
    rng = np.random.default_rng(seed)
    true = rng.uniform(0.05, 0.95, n)
    y = (rng.uniform(size=n) < true).astype(int)
    z = 3.0 * np.log(true / (1 - true))
    return 1 / (1 + np.exp(-z)), y


def test_ece_by_hand() -> None:
    p = np.array([0.9, 0.9, 0.2, 0.6])
    y = np.array([1, 0, 0, 1])
    # top-class confidences 0.9, 0.9, 0.8, 0.6 in bins (0.867,0.933], (0.733,0.8], (0.533,0.6]
    # accuracies: bin 0.9 -> 0.5, bin 0.8 -> 1, bin 0.6 -> 1
    want = (2 * abs(0.5 - 0.9) + abs(1 - 0.8) + abs(1 - 0.6)) / 4
    assert abs(expected_calibration_error(p, y) - want) < 1e-12
    assert sum(b["n"] for b in reliability_bins(p, y)) == 4


def test_calibration_lowers_the_ece_of_an_overconfident_model() -> None:
    p_cal, y_cal = _overconfident(1500, 0)
    p_new, y_new = _overconfident(5000, 1)
    cal, losses = choose(p_cal, y_cal, ("none", "platt", "isotonic"))
    assert cal.kind in ("platt", "isotonic") and losses[cal.kind] < losses["none"]
    before = expected_calibration_error(p_new, y_new)
    after = expected_calibration_error(cal(p_new), y_new)
    assert after < 0.5 * before, (before, after)
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_allclose(again(p_new), cal(p_new))


def test_a_calibrated_model_keeps_its_probabilities() -> None:
    rng = np.random.default_rng(2)
    p = rng.uniform(0.05, 0.95, 800)
    y = (rng.uniform(size=800) < p).astype(int)
    cal, losses = choose(p, y, ("none", "platt"))
    assert losses["platt"] >= losses["none"] - 0.01  # nothing to gain
    assert np.max(np.abs(cal(p) - p)) < 0.1


def test_temperature_scaling_for_multiclass() -> None:
    rng = np.random.default_rng(4)
    n, k = 3000, 4
    logits = rng.normal(0, 1.0, (n, k))
    true = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in true])
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(1, keepdims=True)
    cal = fit_calibrator("temperature", sharp[:1500], y[:1500])
    assert 2.0 < cal.params["t"] < 4.5
    assert np.allclose(cal(sharp).sum(axis=1), 1.0)
    assert expected_calibration_error(cal(sharp[1500:]), y[1500:]) < \
        0.5 * expected_calibration_error(sharp[1500:], y[1500:])
