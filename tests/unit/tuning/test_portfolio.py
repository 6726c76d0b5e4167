"""The budget arithmetic of ``auto``'s family search: the clock, the tail estimate, which families
a combination may use, and which feature sets a budget affords."""

from __future__ import annotations

import sys
import time
import types
from pathlib import Path

import numpy as np
import optuna
import pytest

from scifm.config.schema import ExperimentConfig
from scifm.tuning.portfolio import (
    REPORT_SECONDS,
    FamilySearch,
    RunClock,
    affordable_features,
    affordable_members,
    refit_seconds,
    report_seconds,
    reuse_seconds,
    tail_seconds,
)
from scifm.tuning.tail import MEMBER_SECONDS, REPORT_ROWS_CAP, SKOPS_IMPORT_SECONDS


def _search(family: str, value: float, fit_seconds: float, folds_done: int = 5,
            nan_rows: int = 0) -> FamilySearch:
    trial = optuna.trial.create_trial(
        value=value, params={}, distributions={},
        user_attrs={"fit_seconds": fit_seconds, "n_folds_done": folds_done})
    oof = np.ones((10, 1))
    oof[:nan_rows] = np.nan
    return FamilySearch(family, None, trial, oof)  # type: ignore[arg-type]


def test_the_clock_counts_from_the_start_it_is_given():
    clock = RunClock(100.0, started=time.monotonic() - 30.0)
    assert clock.limited and 69.0 < clock.left() <= 70.0
    assert RunClock(None).left() == float("inf") and not RunClock(None).limited
    kept = RunClock(100.0, started=time.monotonic() - 30.0, reserve=5.0)  # a command's exit
    assert kept.left() == pytest.approx(65.0, abs=1.0) and kept.seconds == 100.0


def test_a_cut_search_is_incomplete_and_its_fold_time_is_per_fold_done():
    cut = _search("rf", 0.8, fit_seconds=12.0, folds_done=2, nan_rows=4)
    assert not cut.complete and cut.fold_seconds == pytest.approx(6.0)
    assert _search("knn", 0.7, 1.0).complete
    # a refit on 100 rows takes a fold's time scaled from 80 rows
    assert refit_seconds(cut, 100, 80) == pytest.approx(7.5)


def test_the_tail_reserves_the_best_families_refits_scoring_and_report():
    searches = {"slow": _search("slow", 0.9, 50.0), "fast": _search("fast", 0.8, 5.0),
                "worst": _search("worst", 0.1, 500.0, nan_rows=2),  # cut: no combination
                "mid": _search("mid", 0.85, 10.0)}
    tail = tail_seconds(searches, 80, 80, higher_is_better=True, score_s=1.0, n_outputs=1)
    # the three best by CV (slow, mid, fast): 10 + 2 + 1 s of refits, 3 + 2 scorings, two
    # paired comparisons, each of the two combinations running its three members again, the
    # report
    assert tail == pytest.approx(report_seconds(80) + 0.5 + 7 * 1.0 + 10 + 2 + 1
                                 + 2 * 3 * MEMBER_SECONDS)
    more = {**searches, "fourth": _search("fourth", 0.7, 5.0)}  # complete, among the 5 best:
    assert tail_seconds(more, 80, 80, True, 1.0, 1) == pytest.approx(  # refitted as a member
        tail + 1.0 + 1.0 + 2 * MEMBER_SECONDS)
    lower = tail_seconds(searches, 80, 80, higher_is_better=False)  # rmse: worst is best
    assert lower > 100


def test_the_report_estimate_grows_with_the_rows_up_to_a_cap(monkeypatch):
    monkeypatch.delitem(sys.modules, "skops.io", raising=False)  # no model saved yet
    first = report_seconds(80)
    monkeypatch.setitem(sys.modules, "skops.io", types.ModuleType("skops.io"))  # one was
    assert first == pytest.approx(report_seconds(80) + SKOPS_IMPORT_SECONDS)
    # 80 rows: about the 1.6-1.8 s measured; a flat 4 s left a 9 s budget one family
    assert REPORT_SECONDS < report_seconds(80) < 2.0
    assert report_seconds(80) < report_seconds(642) < report_seconds(1128)
    assert report_seconds(REPORT_ROWS_CAP) == report_seconds(10 * REPORT_ROWS_CAP)
    searches = {"a": _search("a", 0.9, 5.0)}
    grown = tail_seconds(searches, 1000, 800, True) - tail_seconds(searches, 100, 80, True)
    assert grown == pytest.approx(report_seconds(1000) - report_seconds(100)) and grown > 2.0


def test_combinations_use_only_families_whose_refits_fit_in_the_time_left():
    searches = {"a": _search("a", 0.9, 5.0), "b": _search("b", 0.8, 500.0),
                "c": _search("c", 0.7, 10.0)}
    clock = RunClock(30.0)
    # a (1 s per fold) and c (2 s) fit in 30 s; b (100 s) does not
    assert affordable_members(["a", "b", "c"], searches, clock, 80, 80) == ["a", "c"]
    # the best family is always kept, even when nothing fits
    assert affordable_members(["b", "a"], searches, RunClock(1.0), 80, 80) == ["b"]


def test_feature_sets_too_slow_for_the_budget_are_left_out(molecules):
    cfg = ExperimentConfig(data={"target_cols": ["logp"]})
    smiles = molecules["smiles"].tolist() * 20  # 2,400 inputs
    everything = affordable_features(cfg, smiles, 1e6)
    assert "ecfp+rdkit2d" in everything and "ecfp" in everything
    tight = affordable_features(cfg, smiles, 0.5)  # RDKit 2D descriptors cannot make it
    assert tight and not any("rdkit2d" in name for name in tight)
    assert affordable_features(cfg, smiles, 0.0)  # never empty: the cheapest set


def test_a_holdout_search_is_complete_on_its_val_rows_and_its_kept_model_costs_no_refit(
        tmp_path):
    trial = optuna.trial.create_trial(value=0.7, params={}, distributions={},
                                      user_attrs={"fit_seconds": 90.0, "n_folds_done": 1})
    oof = np.full((10, 1), np.nan)
    oof[7:] = 1.0  # the 3 val rows
    held = FamilySearch("mpnn", None, trial, oof, holdout=True,  # type: ignore[arg-type]
                        model_dir=tmp_path)
    assert held.complete and refit_seconds(held, 100, 80) == 0.0
    assert refit_seconds(FamilySearch("mpnn", None, trial, oof,  # type: ignore[arg-type]
                                      holdout=True), 100, 80) == pytest.approx(112.5)
    # a kept model joins a combination even when no time is left for refits
    searches = {"a": _search("a", 0.9, 5.0), "mpnn": held}
    assert affordable_members(["a", "mpnn"], searches, RunClock(1.0), 80, 80) == ["a", "mpnn"]


def test_families_are_ranked_on_the_validation_rows_or_by_cv_when_cut():
    from scifm.tasks import TaskSpec
    from scifm.tuning.combining import on_validation_rows

    pool = np.array([0, 2, 3, 5, 6, 8])  # dataset positions of train + val
    val = np.array([3, 6, 8])  # positions 2, 4, 5 of the pool
    y_pool = np.array([[0.0], [1.0], [1.0], [2.0], [2.0], [3.0]])
    exact = y_pool.copy()
    oof = {"cv_good_elsewhere": np.where(np.arange(6)[:, None] < 2, exact, exact + 1.0),
           "holdout": np.where(np.isin(pool, val)[:, None], exact + 0.1, np.nan),
           "cut": np.where(np.arange(6)[:, None] == 5, np.nan, exact)}
    ranked, sub, y = on_validation_rows(TaskSpec("regression", ["y"]), y_pool, pool, val, oof,
                                        {"cv_good_elsewhere": 0.5, "holdout": 0.1, "cut": 0.05},
                                        "rmse", higher_is_better=False)
    np.testing.assert_array_equal(y[:, 0], [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(sub["holdout"][:, 0], [1.1, 2.1, 3.1])
    # on the val rows: holdout 0.1 < cv_good_elsewhere 1.0; "cut" misses a val row: its CV 0.05
    assert ranked == ["cut", "holdout", "cv_good_elsewhere"]


class _FakeSearch:
    """What ``_round`` reads of a search: the search time left and the families found."""

    def __init__(self, left: float, cost: float, n_train: int = 100) -> None:
        self.left, self.cost, self.found, self.slots = left, cost, {}, []
        self.n_train, self.holdout = n_train, None

    def search_left(self) -> float:
        return self.left

    def run_family(self, family: str, n_trials: int | None, slot: float | None) -> None:
        self.slots.append((family, slot))
        self.left -= self.cost
        self.found[family] = object()


@pytest.mark.parametrize("left, ran", [
    (10.0, ["a", "b", "c", "d"]),  # time for every family
    (1.5, ["a", "b"]),  # spent after two: the others are left out, not run 1 s each
    (-3.0, ["a"]),  # already spent: one family still runs, so the run has a model
])
def test_round_one_leaves_out_families_once_the_search_time_is_spent(left, ran):
    from scifm.tuning.portfolio import _round

    names = dict(zip("abcd", ["linear", "knn", "lightgbm", "rf"], strict=True))
    search = _FakeSearch(left, cost=1.0)
    _round(search, list(names.values()), 1)  # type: ignore[arg-type]
    assert [f for f, _ in search.slots] == [names[f] for f in ran]
    assert all(slot >= 1.0 for _, slot in search.slots)


def test_a_family_whose_share_cannot_hold_one_useful_fit_is_not_started(caplog):
    from scifm.models.mpnn_budget import mpnn_min_seconds
    from scifm.tuning.portfolio import _round

    need = mpnn_min_seconds(600)
    assert mpnn_min_seconds(6000) > need > 0  # more molecules, more seconds per epoch
    short = _FakeSearch(left=need / 2, cost=0.5, n_train=600)
    _round(short, ["mpnn", "linear"], 1)  # type: ignore[arg-type]
    assert [f for f, _ in short.slots] == ["linear"]  # its time went to the next family
    assert "mpnn left out: one fit on 600 rows needs about" in caplog.text
    roomy = _FakeSearch(left=4 * need, cost=0.5, n_train=600)
    _round(roomy, ["mpnn", "linear"], 1)  # type: ignore[arg-type]
    assert [f for f, _ in roomy.slots] == ["mpnn", "linear"]


def _kept(family: str, value: float, save_s: float, predict_s: float) -> FamilySearch:
    search = _search(family, value, fit_seconds=1000.0)  # its fit is not repeated
    search.best.user_attrs.update(save_seconds=save_s, predict_seconds=predict_s)
    search.model_dir = Path("kept")
    return search


def test_kept_holdout_models_cost_their_reuse_in_every_model_that_holds_them():
    # a kept model is loaded, saved again and predicts val and test: 2 x (save + predict)
    kept = _kept("rf", 0.9, save_s=1.0, predict_s=0.5)
    assert reuse_seconds(kept) == refit_seconds(kept, 80, 80) == pytest.approx(3.0)
    searches = {f"f{i}": _kept(f"f{i}", 0.9 - i / 100, 1.0, 0.5) for i in range(6)}
    tail = tail_seconds(searches, 80, 80, higher_is_better=True, score_s=1.0, n_outputs=12,
                        top=3, members=5)
    # the five best are all scored (3 s each), and each of the two combinations runs them again
    assert tail == pytest.approx(report_seconds(80) + 0.5 * 12 + (5 + 2 + 2) * 1.0 + 5 * 3.0
                                 + 2 * 5 * (3.0 + MEMBER_SECONDS))
    # k-fold families: the five best are complete, so all five are refitted as members
    plain = {f: _search(f, 0.9 - i / 100, 5.0) for i, f in enumerate("abcdef")}
    assert tail_seconds(plain, 80, 80, True, 1.0, 12, members=5) == pytest.approx(
        report_seconds(80) + 6 + 9 * 1.0 + 5 * 1.0 + 2 * 5 * MEMBER_SECONDS)


@pytest.mark.parametrize("direction,values,expected", [
    ("minimize", [2.0, 1.0, 1.5], 2),  # trial 1 (cut, best value) loses to trial 2's 1.5
    ("maximize", [0.7, 0.9, 0.8], 2),
])
def test_a_family_best_trial_is_one_that_fitted_the_most_folds(direction, values, expected):
    """A trial cut by the time budget is scored on fewer folds: not comparable, not combinable;
    it is the family's best only when no trial fitted more folds."""
    from scifm.tuning.study import family_best

    study = optuna.create_study(direction=direction)
    for value, folds in zip(values, (5, 1, 5), strict=True):
        study.add_trial(optuna.trial.create_trial(
            value=value, params={}, distributions={}, user_attrs={"n_folds_done": folds}))
    assert study.best_trial.number == 1  # what Optuna alone would pick
    assert family_best(study).number == expected
    cut_only = optuna.create_study(direction=direction)
    cut_only.add_trial(optuna.trial.create_trial(value=values[1], params={}, distributions={},
                                                 user_attrs={"n_folds_done": 1}))
    assert family_best(cut_only).number == 0
    with pytest.raises(ValueError, match="no completed trial"):
        family_best(optuna.create_study(direction=direction))


def test_a_cut_trial_fold_time_leaves_out_its_unfinished_fold():
    trial = optuna.trial.create_trial(
        value=1.0, params={}, distributions={},
        user_attrs={"fit_seconds": 3.0, "folds_seconds": 1.2, "n_folds_done": 2})
    assert FamilySearch("rf", None, trial, np.ones((4, 1))).fold_seconds == pytest.approx(0.6)


def _scored(value: float, fold_scores: list[float], holdout: bool = False) -> FamilySearch:
    trial = optuna.trial.create_trial(value=value, params={}, distributions={},
                                      user_attrs={"fold_scores": fold_scores,
                                                  "n_folds_done": len(fold_scores)})
    return FamilySearch("x", None, trial, np.ones((4, 1)), holdout=holdout)  # type: ignore


def test_a_cut_family_ranks_behind_complete_ones_unless_its_folds_clearly_favour_it():
    """FreeSolv: a forest cut after two easy folds, then XGBoost cut after one, outranked
    complete families (test RMSE 3.40 and 1.98-3.09)."""
    from scifm.tuning.ranking import beats_on_its_folds, comparable_scores, rank_families

    searches = {"svm": _scored(1.63, [1.1, 1.3, 1.8, 2.0, 1.95]),
                "extratrees": _scored(1.25, [1.2, 1.3]),  # cut after fold 2: best mean
                "xgboost": _scored(0.9, [0.9]),  # cut after fold 1: no standard error
                "linear": _scored(1.9, [1.0, 1.2, 2.5, 2.6, 2.2])}
    assert comparable_scores(searches)["extratrees"] == 1.25
    # the complete ones by their CV means; the cut ones behind (not better on their folds)
    assert rank_families(searches, higher_is_better=False) == [
        "svm", "linear", "xgboost", "extratrees"]
    clear = {**searches, "rf": _scored(1.0, [0.7, 0.85, 1.45])}  # 0.4, 0.45, 0.35 below svm
    assert beats_on_its_folds(clear["rf"], clear["svm"], higher_is_better=False)
    assert not beats_on_its_folds(clear["rf"], clear["svm"], higher_is_better=True)
    assert rank_families(clear, False)[:3] == ["rf", "svm", "linear"]
    between = {**searches, "knn": _scored(1.33, [0.8, 1.0, 2.2])}  # beats linear, not svm
    assert rank_families(between, False) == ["svm", "knn", "linear", "xgboost", "extratrees"]
    held = {**searches, "mpnn": _scored(1.5, [1.5], holdout=True)}  # its own val-row score
    assert rank_families(held, False)[:3] == ["mpnn", "svm", "linear"]
    assert not beats_on_its_folds(clear["rf"], held["mpnn"], False)  # no folds to pair with
    # higher is better: the forest beats linear on both its folds (by 0.2 and 0.1: t = 3.0),
    # short of 90 % confidence on two folds (t > 3.08)
    assert not beats_on_its_folds(held["extratrees"], held["linear"], True)
    assert beats_on_its_folds(_scored(1.3, [1.2, 1.4]), held["linear"], True)  # 0.2, 0.2
    assert rank_families(held, True) == ["linear", "svm", "mpnn", "extratrees", "xgboost"]


class _Studies:
    """What ``_complete`` reads of a family's study: the configurations enqueued."""

    def __init__(self) -> None:
        self.enqueued: list[dict] = []

    def enqueue_trial(self, params: dict) -> None:
        self.enqueued.append(params)


def _cut(family: str, folds_done: int, folds_seconds: float, holdout: bool = False,
         ) -> FamilySearch:
    trial = optuna.trial.create_trial(
        value=1.0, params={"n": folds_done}, distributions={
            "n": optuna.distributions.IntDistribution(0, 9)},
        user_attrs={"folds_seconds": folds_seconds, "n_folds_done": folds_done})
    return FamilySearch(family, None, trial, np.ones((4, 1)), holdout=holdout)  # type: ignore


def test_cut_default_trials_are_resumed_cheapest_first_while_the_time_lasts(caplog):
    """FreeSolv seed 1: forests cut after two or three folds ranked first on those folds and
    had no full out-of-fold predictions to combine."""
    from scifm.tuning.portfolio import _complete

    search = _FakeSearch(left=10.0, cost=0.0)
    search.folds = [None] * 5
    search.found = {"rf": _cut("rf", 2, 2.0),  # 1 s a fold, 3 to go: 3 s
                    "lightgbm": _cut("lightgbm", 4, 2.0),  # 0.5 s a fold, 1 to go: 0.5 s
                    "xgboost": _cut("xgboost", 1, 4.0),  # 16 s to go: more than is left
                    "linear": _cut("linear", 5, 1.0),  # complete: nothing to resume
                    "mpnn": _cut("mpnn", 1, 9.0, holdout=True)}  # one fit on val rows
    studies = {f: _Studies() for f in search.found}
    search.studies = studies
    caplog.set_level("INFO", logger="scifm.tuning.portfolio")
    assert _complete(search, list(search.found))  # type: ignore[arg-type]
    assert [f for f, _ in search.slots] == ["lightgbm", "rf"]
    assert [slot for _, slot in search.slots] == pytest.approx([1.75, 5.5])  # 1.5 x + 1 s
    assert studies["rf"].enqueued == [{"n": 2}]  # its best trial's configuration again
    assert not studies["xgboost"].enqueued and not studies["mpnn"].enqueued
    assert "xgboost's cut trial not resumed (about 16 s to finish" in caplog.text
    none_cut = _FakeSearch(left=10.0, cost=0.0)
    none_cut.folds, none_cut.studies = [None] * 5, studies
    none_cut.found = {"linear": search.found["linear"]}
    assert not _complete(none_cut, ["linear"]) and not none_cut.slots  # type: ignore[arg-type]
