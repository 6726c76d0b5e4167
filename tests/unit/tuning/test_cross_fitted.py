"""Cross-fitted predictions of the combinations: each fold's rows predicted without them, their
fold scores reproduced, and the calibration of an ``auto`` combination chosen on the val rows
uses them instead of its own (optimistic) predictions there."""

from __future__ import annotations

import numpy as np
import pytest

from scifm.evaluation.metrics import compute_metrics
from scifm.tasks import TaskSpec
from scifm.trust.fitting import _with_held_out
from scifm.tuning.combining import ENSEMBLE, STACKING, Combination
from scifm.tuning.ensembling import choose_ensemble
from scifm.tuning.stacking import choose_stacking

REG = TaskSpec("regression", ["y"])
MULTI = TaskSpec("multiclass", ["c"], classes=["x", "y", "z"])


def _folds(n: int, k: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    idx = np.random.default_rng(0).permutation(n)
    return [(np.setdiff1d(idx, va), np.sort(va)) for va in np.array_split(idx, k)]


def _regression(n: int = 160):
    rng = np.random.default_rng(3)
    y = rng.normal(size=(n, 1))
    return y, {"a": y + 0.4 * rng.normal(size=(n, 1)), "b": y + 0.6 * rng.normal(size=(n, 1)),
               "c": 0.5 * y + 0.3 * rng.normal(size=(n, 1))}


def test_each_folds_scores_are_those_of_its_cross_fitted_predictions():
    y, oof = _regression()
    folds = _folds(len(y))
    ens = choose_ensemble(REG, y, oof, "rmse", False, folds)
    stack = choose_stacking(REG, y, oof, "rmse", False, folds, seed=0, ensemble=ens)
    for choice in (ens, stack):
        assert choice.cross_fitted.shape == (len(y), 1) and np.isfinite(choice.cross_fitted).all()
        for (_, va), score in zip(folds, choice.fold_scores, strict=True):
            assert compute_metrics(REG, y[va], choice.cross_fitted[va])["rmse"] == \
                pytest.approx(score)
    # the final meta-model, fitted on every row, predicts them differently
    from scifm.models.stacked import apply_meta

    final = np.asarray(apply_meta(stack.meta, oof)).reshape(len(y), 1)
    assert not np.allclose(final, stack.cross_fitted)


def test_multiclass_and_an_unscored_fold():
    n, k = 150, 3
    rng = np.random.default_rng(5)
    y = rng.integers(0, k, size=(n, 1)).astype(float)
    onehot = np.eye(k)[y[:, 0].astype(int)]
    oof = {f"m{s}": np.exp(s * onehot + rng.normal(size=(n, k))) for s in (1, 2)}
    oof = {f: p / p.sum(axis=1, keepdims=True) for f, p in oof.items()}
    folds = _folds(n)
    oof["m1"][folds[0][1]] = np.nan  # m1 did not finish the first fold
    stack = choose_stacking(MULTI, y, oof, "f1_macro", True, folds, seed=0)
    assert stack.cross_fitted.shape == (n, k)
    assert np.isnan(stack.cross_fitted[folds[0][1]]).all()
    assert np.isfinite(stack.cross_fitted[np.concatenate([va for _, va in folds[1:]])]).all()


def test_held_out_maps_the_cross_fitted_rows_to_dataset_rows_only_on_validation_rows():
    y, oof = _regression(80)
    folds = _folds(80)
    ens = choose_ensemble(REG, y, oof, "rmse", False, folds)
    ens.cross_fitted[folds[1][1]] = np.nan
    comb = Combination(ens)
    assert comb.held_out(ENSEMBLE) is None  # chosen on train+val folds: no held-out rows
    comb.rows = np.arange(80) + 1000  # the val rows' dataset positions
    rows, preds = comb.held_out(ENSEMBLE)
    kept = np.setdiff1d(np.arange(80), folds[1][1])
    assert np.array_equal(rows, kept + 1000) and np.array_equal(preds, ens.cross_fitted[kept])
    assert comb.held_out(STACKING) is None and comb.held_out("lightgbm") is None


def test_calibration_predictions_are_replaced_row_by_row():
    va = np.array([7, 3, 9, 5])  # the split's val rows, in its order
    p_val = np.array([[1.0], [2.0], [3.0], [4.0]])
    out, note = _with_held_out(p_val, va, (np.array([9, 3, 42]), np.array([[30.0], [20.0],
                                                                           [99.0]])))
    assert out.tolist() == [[1.0], [20.0], [30.0], [4.0]] and p_val[1, 0] == 2.0
    assert "2 of 4 rows" in note
    assert _with_held_out(p_val, va, None) == (p_val, "")
