"""CV folds on train+val only, scaffold-grouped; the objective reports per-fold scores."""

from __future__ import annotations

import time

import numpy as np
import optuna
import pytest

from scifm.config.schema import ExperimentConfig
from scifm.data.clean import clean_table
from scifm.data.splitting import make_split
from scifm.modalities.smiles import scaffolds
from scifm.tuning.folds import search_folds, search_pool
from scifm.tuning.objective import CVObjective
from scifm.tuning.search_spaces import space_for


def _setup(molecules, target="logp"):
    cfg = ExperimentConfig(data={"target_cols": [target]}, model={"n_jobs": 1},
                           automl={"tune": {"folds": 3}})
    ds = clean_table(molecules.head(100), cfg.data, source="mem").dataset
    splits = make_split(ds, cfg.split, seed=0)
    return cfg, ds, splits


def _linear(molecules):
    """A linear model's objective on MACCS keys over 3 scaffold folds of the train+val rows."""
    cfg, ds, splits = _setup(molecules)
    pool = search_pool(splits)
    folds, _ = search_folds(ds, pool, cfg)
    obj = CVObjective("linear", ds.task, "smiles", [ds.inputs[i] for i in pool], ds.y[pool],
                      folds, space_for("linear", "regression"), "maccs", cfg)
    return cfg, ds, pool, folds, obj


def test_folds_are_scaffold_grouped_and_never_touch_test(molecules):
    cfg, ds, splits = _setup(molecules)
    pool = search_pool(splits)
    folds, _ = search_folds(ds, pool, cfg)
    assert not set(pool) & set(splits["test"])
    assert set(pool) == set(splits["train"]) | set(splits["val"])
    scaf = np.asarray(scaffolds([ds.inputs[i] for i in pool]), dtype=object)
    for tr, va in folds:
        assert not set(tr) & set(va) and len(tr) + len(va) == len(pool)
        assert not set(scaf[tr]) & set(scaf[va])  # one scaffold never on both sides


def test_objective_scores_folds_and_sees_only_its_pool(molecules, monkeypatch):
    cfg, ds, splits = _setup(molecules)
    pool = search_pool(splits)
    folds, _ = search_folds(ds, pool, cfg)
    seen: list[str] = []
    import scifm.tuning.objective as objective_mod

    real = objective_mod.featurize
    monkeypatch.setattr(objective_mod, "featurize",
                        lambda f, xs: (seen.extend(xs), real(f, xs))[1])
    obj = CVObjective("linear", ds.task, "smiles", [ds.inputs[i] for i in pool], ds.y[pool],
                      folds, space_for("linear", "regression"), "maccs", cfg)
    assert obj.direction == "minimize"  # rmse
    study = optuna.create_study(direction=obj.direction,
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(obj, n_trials=2)
    t = study.trials[0]
    assert len(t.user_attrs["fold_scores"]) == 3 and sorted(t.intermediate_values) == [0, 1, 2]
    assert t.value == np.mean(t.user_attrs["fold_scores"])
    assert t.user_attrs["cv_std"] == np.std(t.user_attrs["fold_scores"])
    assert seen and not set(seen) & {ds.inputs[i] for i in splits["test"]}


def test_a_trial_past_the_deadline_stops_between_folds(molecules):
    cfg, ds, pool, folds, obj = _linear(molecules)
    fitted = obj._fold_predictions

    def then_time_is_up(*args):  # the budget runs out as the first fold finishes
        pred = fitted(*args)
        obj.deadline = time.time() - 1.0
        return pred

    obj._fold_predictions = then_time_is_up
    obj.deadline = time.time() + 3600
    study = optuna.create_study(direction=obj.direction,
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(obj, n_trials=2)
    first, second = study.trials
    # a study's first trial is cut: scored on the fold it finished, and says so
    assert first.state == optuna.trial.TrialState.COMPLETE
    assert first.user_attrs["n_folds_done"] == 1
    assert "1 of 3 folds" in first.user_attrs["cut"]
    assert first.value == pytest.approx(first.user_attrs["fold_scores"][0])
    assert second.state == optuna.trial.TrialState.PRUNED  # later trials are pruned
    assert second.user_attrs["n_folds_done"] <= 1


def test_a_fold_still_running_at_the_deadline_is_stopped_inside_its_fit(molecules):
    cfg, ds, pool, folds, obj = _linear(molecules)
    obj.deadline = time.time() - 1.0  # spent before the first fold: featurising stops at once
    study = optuna.create_study(direction=obj.direction)
    study.optimize(obj, n_trials=1)
    (trial,) = study.trials
    assert trial.state == optuna.trial.TrialState.PRUNED  # no fold finished: no score at all
    assert trial.user_attrs["n_folds_done"] == 0




def test_a_cut_configuration_run_again_fits_only_the_folds_it_had_not_finished(molecules):
    cfg, ds, pool, folds, obj = _linear(molecules)
    fitted, calls = obj._fold_predictions, []

    def counted(*args):
        calls.append(args[2])  # the fold's training rows
        pred = fitted(*args)
        if len(calls) == 1:  # the budget runs out as the first fold finishes
            obj.deadline = time.time() - 1.0
        return pred

    obj._fold_predictions = counted
    obj.deadline = time.time() + 3600
    study = optuna.create_study(direction=obj.direction)
    study.optimize(obj, n_trials=1)
    (cut,) = study.trials
    assert cut.user_attrs["n_folds_done"] == 1 and len(calls) == 1
    obj.deadline = None
    study.enqueue_trial(cut.params)  # the same configuration, resumed
    study.optimize(obj, n_trials=1)
    resumed = study.trials[1]
    assert len(calls) == 3  # folds 2 and 3 only: fold 1 was not fitted again
    assert [len(tr) for tr in calls[1:]] == [len(folds[1][0]), len(folds[2][0])]
    assert resumed.user_attrs["n_folds_done"] == 3 and "1 fold(s) reused" in \
        resumed.user_attrs["resumed"]
    assert resumed.user_attrs["fold_scores"][0] == cut.user_attrs["fold_scores"][0]
    assert resumed.user_attrs["folds_seconds"] >= cut.user_attrs["folds_seconds"]  # counted
    fresh = CVObjective("linear", ds.task, "smiles", [ds.inputs[i] for i in pool], ds.y[pool],
                        folds, space_for("linear", "regression"), "maccs", cfg)
    again = optuna.create_study(direction=obj.direction)
    again.enqueue_trial(cut.params)
    again.optimize(fresh, n_trials=1)  # all three folds fitted in one go: the same scores
    assert again.trials[0].user_attrs["fold_scores"] == resumed.user_attrs["fold_scores"]
    other = dict(cut.params, alpha=cut.params["alpha"] / 10)  # another configuration
    study.enqueue_trial(other)
    study.optimize(obj, n_trials=1)
    assert len(calls) == 6 and "resumed" not in study.trials[2].user_attrs

def test_a_holdout_trial_keeps_its_fitted_feature_model_as_the_refit(molecules, tmp_path):
    from scifm.models.registry import load_predictor

    cfg, ds, splits = _setup(molecules)
    pool = search_pool(splits)
    where = {int(p): k for k, p in enumerate(pool)}
    tr = np.array([where[i] for i in splits["train"]])
    va = np.array([where[i] for i in splits["val"]])
    obj = CVObjective("rf", ds.task, "smiles", [ds.inputs[i] for i in pool], ds.y[pool],
                      [(tr, va)], space_for("rf", "regression"), "maccs", cfg,
                      oof_dir=tmp_path / "oof")
    obj.holdout = True
    study = optuna.create_study(direction=obj.direction, study_name="s",
                                sampler=optuna.samplers.TPESampler(seed=0))
    study.optimize(obj, n_trials=4)
    values = [t.value for t in study.trials]
    kept = [t.number for t in study.trials if (tmp_path / "oof" / f"s-{t.number}.model").is_dir()]
    # trial 0, then only a trial better than every one before it
    assert kept == [k for k in range(4) if k == 0 or values[k] < min(values[:k])], values
    assert 1 < len(kept) < 4, values  # on this seed a later trial is kept and one is not
    best = study.best_trial.number
    model = load_predictor(tmp_path / "oof" / f"s-{best}.model")
    oof = np.load(tmp_path / "oof" / f"s-{best}.npy")
    np.testing.assert_allclose(model.predict([ds.inputs[pool[i]] for i in va]), oof[va])
    assert model.family == "rf" and model.features == "maccs"
    # a kept model records what reusing it will cost (the search's tail estimate uses it)
    attrs = study.trials[best].user_attrs
    assert attrs["save_seconds"] > 0 and attrs["predict_seconds"] > 0
    assert "save_seconds" not in study.trials[next(k for k in range(4) if k not in kept)].user_attrs


def test_inner_split_is_seeded_disjoint_and_a_share_of_the_rows():
    from scifm.tuning.inner_split import INNER_VAL_SHARE, inner_split

    fit, stop = inner_split(200, seed=3)
    assert len(stop) == round(INNER_VAL_SHARE * 200) and len(fit) + len(stop) == 200
    assert not set(fit) & set(stop) and sorted([*fit, *stop]) == list(range(200))
    again, other = inner_split(200, seed=3), inner_split(200, seed=4)
    assert np.array_equal(again[1], stop) and not np.array_equal(other[1], stop)
    groups = np.repeat(np.arange(40), 5)  # 40 groups of 5 rows
    groups[:65] = 999  # and one group too large to be the stop set (65 rows > 2 x 30)
    fit, stop = inner_split(200, seed=3, groups=groups)
    assert not set(groups[fit]) & set(groups[stop])  # whole groups on one side
    assert 999 not in set(groups[stop]) and len(stop) == 30  # 15 % of 200, in whole groups
    assert np.array_equal(inner_split(200, seed=3, groups=groups)[1], stop)
    one = np.zeros(200, dtype=int)  # a single group: random rows instead
    assert len(inner_split(200, seed=3, groups=one)[1]) == 30


@pytest.mark.parametrize("family,stops", [("lightgbm", True), ("rf", False)])
def test_boosted_trees_early_stop_on_an_inner_split_of_each_fold(molecules, monkeypatch, family,
                                                                  stops):
    """In k-fold CV a boosted-tree fold stops on rows held out of its own training rows (never
    the scored fold), as the refit stops on val; a forest fits all its training rows."""
    from scifm.models.registry import get_family
    from scifm.tuning import objective as objective_mod

    cfg, ds, splits = _setup(molecules)
    pool = search_pool(splits)
    folds, _ = search_folds(ds, pool, cfg)
    calls: list[tuple[int, int | None]] = []
    real = objective_mod.task_estimator

    def spy(*args, **kwargs):
        est = real(*args, **kwargs)
        fit = est.fit

        def recorded(X, y, X_val=None, y_val=None):
            calls.append((X.shape[0], None if X_val is None else X_val.shape[0]))
            return fit(X, y, X_val, y_val)

        est.fit = recorded
        return est

    monkeypatch.setattr(objective_mod, "task_estimator", spy)
    obj = CVObjective(family, ds.task, "smiles", [ds.inputs[i] for i in pool], ds.y[pool],
                      folds, space_for(family, "regression"), "maccs", cfg)
    study = optuna.create_study(direction=obj.direction)
    study.enqueue_trial({"n_estimators": 100} if family == "rf" else {"n_estimators": 400})
    study.optimize(obj, n_trials=1)
    assert get_family(family).early_stopping is stops
    assert len(calls) == len(folds)
    for (tr, _), (n_fit, n_stop) in zip(folds, calls, strict=True):
        if stops:
            assert n_stop is not None and n_fit + n_stop == len(tr) and n_stop < n_fit
            assert obj._groups() is not None  # scaffold groups: the stop rows are new ones
        else:
            assert n_stop is None and n_fit == len(tr)
