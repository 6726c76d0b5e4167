"""Native multi-output models of several tasks (forests, kNN): one model instead of one per task,
missing labels masked, same kNN predictions as the per-task models, saved and loaded without
pickle."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.metrics import roc_auc_score

from scifm.models import load_predictor
from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.models.feature import FeaturePredictor
from scifm.models.joint import joint_targets
from scifm.models.knn import KNNRegressor, tanimoto_similarity
from scifm.tasks import TaskSpec


def _binary_tasks(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    y = np.column_stack([X[:, 0] > 0, X[:, 1] > 0.3, X[:, 0] + X[:, 2] > 0]).astype(float)
    y[rng.random(y.shape) < 0.3] = np.nan
    return X, y


@pytest.mark.parametrize(("family", "cls"), [("rf", RandomForestRegressor),
                                             ("extratrees", ExtraTreesRegressor)])
def test_forest_fits_one_multi_output_model_with_missing_labels(family, cls):
    X, y = _binary_tasks()
    est = TaskwiseEstimator(make_estimator(family, "binary", {"n_estimators": 30}, 3, n_jobs=1),
                            task_type="binary").fit(X[:180], y[:180])
    assert isinstance(est.estimators_[0], cls) and est.estimators_[0].n_outputs_ == 3
    assert est.estimators_[1:] == [None, None]
    p = est.predict(X[180:])
    assert p.shape == (60, 3) and ((p >= 0) & (p <= 1)).all()
    for j in range(3):
        ok = ~np.isnan(y[180:, j])
        assert roc_auc_score(y[180:, j][ok], p[ok, j]) > 0.8
    # deterministic with a seed, and a fit without missing labels equals a plain sklearn forest
    again = TaskwiseEstimator(make_estimator(family, "binary", {"n_estimators": 30}, 3, n_jobs=1),
                              task_type="binary").fit(X[:180], y[:180])
    np.testing.assert_array_equal(again.predict(X[180:]), p)
    full = np.nan_to_num(y, nan=1.0)
    est.fit(X, full)
    ref = cls(**est.estimators_[0].get_params()).fit(X, full)
    np.testing.assert_allclose(est.predict(X), np.clip(ref.predict(X), 0, 1))


def test_forest_leaves_use_labelled_rows_only():
    # each leaf value of a task is the mean of the labelled rows in it (imputed labels never
    # enter a prediction); a leaf with no labelled row keeps the imputed task mean
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 3))
    y = np.column_stack([X[:, 0], np.where(X[:, 1] > 0, 5.0 + X[:, 0], np.nan)])
    est = TaskwiseEstimator(make_estimator("rf", "regression", {"n_estimators": 5}, n_jobs=1),
                            task_type="regression", multi_output=True).fit(X, y)
    labelled = ~np.isnan(y[:, 1])
    mean = y[labelled, 1].mean()
    for tree in est.estimators_[0].estimators_:
        leaves = tree.apply(X)
        for leaf in np.unique(leaves):
            rows = (leaves == leaf) & labelled
            want = y[rows, 1].mean() if rows.any() else mean
            assert tree.tree_.value[leaf, 1, 0] == pytest.approx(want)
    p = est.predict(X)
    assert p.shape == (200, 2) and (p[:, 1] > 5.0 + X[:, 0].min() - 1e-9).all()


def test_forest_regression_and_per_task_switch():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 4))
    y = np.column_stack([X[:, 0], 2 * X[:, 1] + 1])
    y[::4, 0] = np.nan
    est = TaskwiseEstimator(make_estimator("rf", "regression", {"n_estimators": 25}, n_jobs=1),
                            multi_output=True)
    p = est.fit(X, y).predict(X)
    assert len([e for e in est.estimators_ if e is not None]) == 1 and p.shape == (150, 2)
    assert np.corrcoef(p[:, 1], y[:, 1])[0, 1] > 0.9
    for never in (False, "auto"):  # regression forests stay per task unless asked
        per_task = TaskwiseEstimator(make_estimator("rf", "regression", {"n_estimators": 25},
                                                    n_jobs=1), multi_output=never).fit(X, y)
        assert all(e is not None and e.n_outputs_ == 1 for e in per_task.estimators_)
    # one task, or multiclass: per-task as before
    single = TaskwiseEstimator(make_estimator("rf", "regression", {"n_estimators": 5},
                                              n_jobs=1)).fit(X, y[:, 1])
    assert single.predict(X).shape == (150,) and single.estimators_[0].n_outputs_ == 1


def test_balanced_binary_forests_stay_per_task_unless_forced():
    X, y = _binary_tasks()

    def fit(multi_output):
        return TaskwiseEstimator(make_estimator("rf", "binary", {"n_estimators": 10}, n_jobs=1),
                                 task_type="binary", class_weight="balanced",
                                 multi_output=multi_output).fit(X, y)

    assert [e.n_outputs_ for e in fit("auto").estimators_] == [1, 1, 1]
    forced = fit(True)
    assert forced.estimators_[0].n_outputs_ == 3 and forced.predict(X).shape == (240, 3)


def test_balanced_weights_average_the_labelled_tasks():
    y = np.array([[1, 0], [0, np.nan], [0, 0], [0, 1], [np.nan, np.nan]])
    rows, Y, w = joint_targets(y, binary=True, balanced=True, impute=True)
    assert rows.tolist() == [True, True, True, True, False]
    # task 0: 1 positive of 4 -> pos 2.0, neg 2/3; task 1: 1 of 3 -> pos 1.5, neg 0.75
    np.testing.assert_allclose(w, [(2.0 + 0.75) / 2, 2 / 3, (2 / 3 + 0.75) / 2, (2 / 3 + 1.5) / 2])
    np.testing.assert_allclose(Y[1], [0.0, 1 / 3])  # missing label -> the task's prevalence
    with pytest.raises(ValueError, match="task 1"):
        joint_targets(np.array([[1.0, np.nan], [0.0, np.nan]]), True, False, True)


def _brute_force_knn(Xtr, ytr, Xte, k):
    """Per task: the k most Tanimoto-similar labelled rows, weights 1 / (1 - sim + 1e-6); and
    where the k-th neighbour is unambiguous (no tie with the next one)."""
    sim = tanimoto_similarity(Xte, Xtr).astype(np.float64)
    out = np.empty((len(Xte), ytr.shape[1]))
    clear = np.empty(out.shape, dtype=bool)
    for j in range(ytr.shape[1]):
        cols = np.flatnonzero(~np.isnan(ytr[:, j]))
        d = 1.0 - sim[:, cols]
        for i in range(len(Xte)):
            order = np.argsort(d[i], kind="stable")
            near = order[:k]
            clear[i, j] = d[i, order[k]] > d[i, order[k - 1]]
            w = 1.0 / (d[i, near] + 1e-6)
            out[i, j] = (w * ytr[cols[near], j]).sum() / w.sum()
    return out, clear


def _fingerprints(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((n, 256)) < rng.uniform(0.05, 0.4, size=(n, 1))).astype(float)


def test_knn_masked_average_equals_brute_force_per_task():
    Xtr, Xte = _fingerprints(120, 0), _fingerprints(30, 1)
    rng = np.random.default_rng(2)
    ytr = (rng.random((120, 4)) < 0.4).astype(float)
    ytr[rng.random(ytr.shape) < 0.35] = np.nan
    ytr[:, 3] = ytr[:, 2]  # two tasks sharing a pattern of missing labels
    knn = KNNRegressor(n_neighbors=5).fit(Xtr, ytr)
    want, clear = _brute_force_knn(Xtr, ytr, Xte, 5)
    assert clear.mean() > 0.8  # ties at the k-th neighbour may be broken either way
    np.testing.assert_allclose(knn.predict(Xte)[clear], want[clear], rtol=1e-9)
    est = TaskwiseEstimator(make_estimator("knn", "binary", {"metric": "tanimoto"}),
                            task_type="binary").fit(Xtr, ytr)
    assert est.estimators_[0].n_outputs_ == 4 and est.estimators_[1:] == [None] * 3
    joint = est.predict(Xte)
    per_task = TaskwiseEstimator(make_estimator("knn", "binary", {"metric": "tanimoto"}),
                                 task_type="binary", multi_output=False).fit(Xtr, ytr)
    np.testing.assert_allclose(joint, per_task.predict(Xte), rtol=1e-9, atol=1e-12)


def test_knn_complete_labels_match_per_task_models():
    Xtr, Xte = _fingerprints(80, 3), _fingerprints(20, 4)
    ytr = np.random.default_rng(5).normal(size=(80, 3))
    for weights in ("distance", "uniform"):
        params = {"metric": "tanimoto", "weights": weights, "n_neighbors": 7}
        joint = TaskwiseEstimator(make_estimator("knn", "regression", params)).fit(Xtr, ytr)
        per = TaskwiseEstimator(make_estimator("knn", "regression", params),
                                multi_output=False).fit(Xtr, ytr)
        np.testing.assert_allclose(joint.predict(Xte), per.predict(Xte), rtol=1e-12)


@pytest.mark.parametrize(("family", "class_weight"), [("rf", None), ("knn", "balanced")])
def test_multi_task_model_round_trips_without_pickle(family, class_weight, molecules, tmp_path):
    x = molecules["smiles"].tolist()
    y = molecules[["active"]].to_numpy(float)
    y = np.column_stack([y[:, 0], 1 - y[:, 0], y[:, 0]])
    y[::5, 1] = np.nan
    task = TaskSpec("binary", ["a", "b", "c"], ["0", "1"])
    params = {"n_estimators": 20} if family == "rf" else {}
    pred = FeaturePredictor(family, task, "smiles", "ecfp", params, n_jobs=1,
                            class_weight=class_weight).fit(x[:100], y[:100])
    assert pred.model.estimators_[0].n_outputs_ == 3
    p = pred.predict(x[100:])
    pred.save(tmp_path / "model")
    loaded = load_predictor(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(x[100:]), p)
    assert p.shape == (len(x) - 100, 3)


def test_joint_regression_forest_is_unit_free():
    # targets are standardised per task for the split search: rescaling one task changes
    # neither the trees nor the other task's predictions
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 4))
    y = np.column_stack([X[:, 0] + 0.1 * rng.normal(size=120), X[:, 1] ** 2])
    y[::5, 1] = np.nan

    def fit(labels):
        return TaskwiseEstimator(make_estimator("extratrees", "regression", {"n_estimators": 15},
                                                n_jobs=1), multi_output=True).fit(
            X, labels).predict(X[:40])

    p = fit(y)
    q = fit(y * np.array([1.0, 1000.0]) + np.array([0.0, 5.0]))
    np.testing.assert_allclose(q[:, 0], p[:, 0], rtol=1e-9)
    np.testing.assert_allclose(q[:, 1], 1000.0 * p[:, 1] + 5.0, rtol=1e-9)
