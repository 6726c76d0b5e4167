"""Cross-fitted stacking: no row predicted by a meta-model fitted on it (spy), chosen only when
better out of fold, multi-task / multiclass / uncovered rows, the report's OOF comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

import scifm.tuning.stacking as stacking
from scifm.evaluation.report_data import ReportData
from scifm.evaluation.report_sections import leaderboard_section
from scifm.tasks import TaskSpec
from scifm.tuning.ensembling import EnsembleChoice, choose_ensemble
from scifm.tuning.stacking import StackChoice, choose_stacking, keep_stacking, oof_comparison

REG = TaskSpec("regression", ["y"])
BIN = TaskSpec("binary", ["a"])


def _folds(n: int, k: int = 4) -> list[tuple[np.ndarray, np.ndarray]]:
    idx = np.random.default_rng(0).permutation(n)
    return [(np.setdiff1d(idx, va), np.sort(va)) for va in np.array_split(idx, k)]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@pytest.mark.parametrize("task", [REG, BIN], ids=["regression", "binary"])
def test_no_row_is_predicted_by_a_meta_model_fitted_on_it(task, monkeypatch):
    n = 120
    rng = np.random.default_rng(1)
    signal = rng.normal(size=(n, 1))
    y = signal if task is REG else (signal > 0).astype(float)
    # the "id" member's prediction names its row (distinct values), so the spy reads row indices
    ids = (np.arange(n)[:, None] + 1.0) / (n + 2) if task is BIN else np.arange(n)[:, None] * 1.0
    good = signal + 0.5 * rng.normal(size=(n, 1))
    oof = {"good": _sigmoid(good) if task is BIN else good, "id": ids}
    row_of = {float(v): i for i, v in enumerate(ids[:, 0])}
    fitted: list[set[int]] = []
    predicted: list[tuple[int, set[int]]] = []
    real_fit, real_apply = stacking.fit_meta, stacking.apply_meta

    def spy_fit(task, preds, y, **kw):
        fitted.append({row_of[float(v)] for v in preds["id"][:, 0]})
        return {**real_fit(task, preds, y, **kw), "spy": len(fitted) - 1}

    def spy_apply(meta, preds):
        predicted.append((meta["spy"], {row_of[float(v)] for v in preds["id"][:, 0]}))
        return real_apply(meta, preds)

    monkeypatch.setattr(stacking, "fit_meta", spy_fit)
    monkeypatch.setattr(stacking, "apply_meta", spy_apply)
    folds = _folds(n)
    metric = "rmse" if task is REG else "roc_auc"
    choice = choose_stacking(task, y, oof, metric, task is BIN, folds, seed=0)
    assert len(predicted) == len(folds) and len(fitted) == len(folds) + 1
    for spy, rows in predicted:
        assert rows and not rows & fitted[spy]  # cross-fitted: never predicts its own rows
    assert sorted(r for _, rows in predicted for r in rows) == list(range(n))  # each row once
    assert fitted[-1] == set(range(n))  # the final meta-model: every pool row
    assert np.isfinite(choice.fold_scores).all() and choice.members == ["good", "id"]


def test_stacking_fixes_a_miscalibrated_member_and_is_kept():
    n = 200
    rng = np.random.default_rng(2)
    y = rng.normal(size=(n, 1))
    oof = {"scaled": 3.0 * y + 5.0 + 0.05 * rng.normal(size=(n, 1)),  # monotone, miscalibrated
           "noisy": y + 0.8 * rng.normal(size=(n, 1))}
    folds = _folds(n)
    ens = choose_ensemble(REG, y, oof, "rmse", False, folds)
    stack = choose_stacking(REG, y, oof, "rmse", False, folds, seed=0, ensemble=ens)
    assert stack.best_single == ens.best_single == "noisy"
    assert stack.best_single_scores == ens.best_single_scores
    assert stack.cv_mean < 0.1 < ens.cv_mean <= stack.single_mean
    assert stack.keep and keep_stacking(stack, ens, False)
    coef = stack.coefficients
    assert coef["members"] == ["scaled", "noisy"] and abs(coef["coef"][0][0] - 1 / 3) < 0.05
    json.dumps(stack.meta)  # plain JSON numbers


def test_binary_stacking_combines_members_in_logit_space_and_is_kept():
    n = 300
    rng = np.random.default_rng(0)
    f = rng.normal(size=(n, 2))
    y = ((f[:, 0] + f[:, 1] + 0.3 * rng.normal(size=n)) > 0).astype(float)[:, None]
    # "flipped" ranks the rows backwards (a monotone decreasing transform): a weighted average
    # (non-negative weights) cannot use it, a logistic meta-model can
    oof = {"flipped": _sigmoid(-3 * f[:, :1]), "weak": _sigmoid(0.3 * f[:, 1:])}
    folds = _folds(n)
    ens = choose_ensemble(BIN, y, oof, "roc_auc", True, folds)
    stack = choose_stacking(BIN, y, oof, "roc_auc", True, folds, seed=0, ensemble=ens)
    assert stack.cv_mean > max(ens.cv_mean, stack.single_mean) + 0.05 and stack.keep
    assert stack.meta["coef"][0][0] < 0 < stack.meta["coef"][0][1]


@pytest.mark.parametrize("task", [REG, BIN], ids=["regression", "binary"])
def test_a_perfect_member_among_noise_is_not_beaten(task):
    n = 160
    rng = np.random.default_rng(3)
    signal = rng.normal(size=(n, 1))
    y = signal if task is REG else (signal > 0).astype(float)
    perfect = signal if task is REG else _sigmoid(4 * signal)
    noise = {f"noise{i}": rng.normal(size=(n, 1)) for i in range(2)}
    if task is BIN:
        noise = {k: _sigmoid(v) for k, v in noise.items()}
    oof = {**noise, "perfect": perfect}
    metric, higher = ("rmse", False) if task is REG else ("roc_auc", True)
    folds = _folds(n)
    ens = choose_ensemble(task, y, oof, metric, higher, folds)
    stack = choose_stacking(task, y, oof, metric, higher, folds, seed=0, ensemble=ens)
    assert stack.best_single == "perfect" and stack.meta and not stack.keep
    better = stack.cv_mean < stack.single_mean if task is REG else stack.cv_mean > stack.single_mean
    assert not better


def test_keep_needs_to_beat_both_the_single_and_the_weighted_average():
    stack = StackChoice({"kind": "ridge"}, fold_scores=[1.0, 1.0, float("nan")],
                        best_single_scores=[2.0, 2.0, 0.1])
    # the unscored third fold is left out of every mean (paired comparison)
    assert keep_stacking(stack, None, higher_is_better=False)
    ens = EnsembleChoice({"a": 0.5, "b": 0.5}, fold_scores=[0.9, 0.9, 5.0])
    assert not keep_stacking(stack, ens, higher_is_better=False)
    ens.fold_scores = [1.5, 1.5, 0.0]
    assert keep_stacking(stack, ens, higher_is_better=False)
    assert not keep_stacking(StackChoice({}), None, False)
    # behind the best single family on average, within one paired standard error: kept
    noisy = StackChoice({"kind": "ridge"}, fold_scores=[1.0, 1.2, float("nan")],
                        best_single_scores=[1.1, 1.0, 0.1])
    assert noisy.cv_mean > 1.05 and keep_stacking(noisy, None, higher_is_better=False)
    # behind on every scored fold by the same amount (no spread): not kept
    behind = StackChoice({"kind": "ridge"}, fold_scores=[1.2, 1.3, 9.0],
                         best_single_scores=[1.1, 1.2, 0.1])
    assert not keep_stacking(behind, None, higher_is_better=False)


def test_multitask_binary_with_missing_labels():
    n = 150
    rng = np.random.default_rng(4)
    task = TaskSpec("binary", ["a", "b"])
    signal = rng.normal(size=(n, 2))
    y = (signal > 0).astype(float)
    y[rng.random(n) < 0.3, 1] = np.nan
    oof = {"m1": _sigmoid(2 * signal + rng.normal(size=(n, 2))),
           "m2": _sigmoid(signal + rng.normal(size=(n, 2)))}
    stack = choose_stacking(task, y, oof, "roc_auc", True, _folds(n), seed=0)
    assert len(stack.fold_scores) == 4 and np.isfinite(stack.fold_scores).all()
    assert np.asarray(stack.meta["coef"]).shape == (2, 2) and len(stack.meta["intercept"]) == 2
    assert stack.cv_mean > 0.7


def test_multiclass_stacks_on_log_probabilities():
    n, k = 180, 3
    rng = np.random.default_rng(5)
    task = TaskSpec("multiclass", ["c"], classes=["x", "y", "z"])
    y = rng.integers(0, k, size=(n, 1)).astype(float)
    onehot = np.eye(k)[y[:, 0].astype(int)]

    def member(strength):
        z = strength * onehot + rng.normal(size=(n, k))
        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)

    oof = {"m1": member(2.0), "m2": member(1.0)}
    stack = choose_stacking(task, y, oof, "f1_macro", True, _folds(n), seed=0)
    assert np.asarray(stack.meta["coef"]).shape == (k, 2 * k)
    p = stacking.apply_meta(stack.meta, oof)
    assert p.shape == (n, k) and np.allclose(p.sum(axis=1), 1.0)
    assert np.isfinite(stack.fold_scores).all() and stack.cv_mean > 0.5


def test_rows_a_member_did_not_predict_are_left_out():
    n = 120
    rng = np.random.default_rng(6)
    y = rng.normal(size=(n, 1))
    folds = _folds(n)
    partial = y + 0.3 * rng.normal(size=(n, 1))
    partial[folds[0][1]] = np.nan  # this family did not finish the first fold
    oof = {"full": y + 0.5 * rng.normal(size=(n, 1)), "partial": partial}
    stack = choose_stacking(REG, y, oof, "rmse", False, folds, seed=0)
    assert np.isnan(stack.fold_scores[0]) and np.isfinite(stack.fold_scores[1:]).all()
    assert stack.n_uncovered == len(folds[0][1]) and stack.n_rows == n - stack.n_uncovered
    assert choose_stacking(REG, y, {"full": oof["full"]}, "rmse", False, folds).meta == {}


def test_report_shows_the_oof_comparison():
    ens = EnsembleChoice({"a": 0.6, "b": 0.4}, fold_scores=[0.8, 0.9], best_single="a",
                         best_single_scores=[1.0, 1.2])
    stack = StackChoice({"kind": "ridge"}, members=["a", "b"], fold_scores=[0.5, 0.7],
                        best_single="a", best_single_scores=[1.0, 1.2])
    rows = oof_comparison(ens, stack, winner="stacking")
    assert [r["kind"] for r in rows] == ["best single family", "weighted average", "stacking"]
    assert [r["selected"] for r in rows] == [False, False, True]
    html = leaderboard_section(ReportData("run", REG, oof_comparison=rows))
    assert "Ensembles out of fold" in html and "weighted average" in html
    assert "★ stacking" in html and "0.600 ± 0.100" in html and "1.100 ± 0.100" in html
    assert leaderboard_section(ReportData("run", REG)) == ""
    # with the cross-fitted choice of the single family known, it is shown (never selected)
    stack.selected_scores = [1.3, 1.5]
    rows = oof_comparison(ens, stack, winner="a")
    assert [r["kind"] for r in rows][:2] == ["best single family",
                                             "best single family, its choice cross-fitted"]
    assert [r["selected"] for r in rows] == [True, False, False, False]
    assert abs(rows[1]["cv_mean"] - 1.4) < 1e-12


def test_a_combination_of_weaker_families_does_not_beat_an_outranking_one():
    from scifm.tuning.combining import Combination, selection_note

    ens = EnsembleChoice({"linear": 0.7, "knn": 0.3}, fold_scores=[1.2, 1.25],
                         best_single="linear", best_single_scores=[1.3, 1.35],
                         selected_scores=[1.3, 1.35], keep=True)
    stack = StackChoice({"kind": "ridge"}, members=["linear", "knn"], fold_scores=[1.22, 1.3],
                        best_single="linear", best_single_scores=[1.3, 1.35], keep=True)
    comb = Combination(ens, stack)
    comb.outranked("linear", 1.3, higher_is_better=False)  # a member: nothing changes
    assert ens.keep and stack.keep
    comb.outranked("rf", float("nan"), higher_is_better=False)  # no score: nothing changes
    assert comb.winner("rf") == "stacking"
    comb.outranked("rf", 1.24, higher_is_better=False)  # rf (RMSE 1.24) beats the stacker only
    assert ens.keep and not stack.keep and comb.winner("rf") == "ensemble"
    comb.outranked("rf", 0.9, higher_is_better=False)  # and the weighted average too
    assert not ens.keep and comb.winner("rf") == "rf"
    note = selection_note("rf", comb, "rmse", "rf", 0.9, higher_is_better=False)
    assert "other families not better than rf's score" in note
    # rf cut after two folds (k-fold CV): it must beat a combination clearly on those folds
    ens.keep = stack.keep = True
    comb.outranked("rf", 1.19, False, fold_scores=np.array([1.12, 1.26]))  # better mean only
    assert ens.keep and stack.keep
    comb.outranked("rf", 1.21, False, fold_scores=np.array([1.17, 1.25]))  # 0.05 on both
    assert ens.keep and not stack.keep  # folds of the stacker; 0.03 and 0 of the average

