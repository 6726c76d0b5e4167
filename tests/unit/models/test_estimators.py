"""Feature-based families: sklearn contract, label conventions, learning, pickle-free round trip."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from scifm.config.schema import ExperimentConfig
from scifm.errors import RunDirError
from scifm.models import build_predictor, load_predictor
from scifm.models.base import Predictor
from scifm.models.estimators import TaskwiseEstimator, make_estimator
from scifm.models.feature import FeaturePredictor
from scifm.models.knn import KNNClassifier, KNNRegressor, tanimoto_similarity
from scifm.models.stores import load_skops
from scifm.tasks import TaskSpec

LABELS_1_2 = "binary task_type takes the 0/1 labels of scifm.tasks; this check uses {1, 2}"


def _expected_failed(est) -> dict[str, str]:
    if getattr(est, "task_type", None) == "binary":
        return {"check_estimators_dtypes": LABELS_1_2, "check_fit2d_1feature": LABELS_1_2}
    return {}


@parametrize_with_checks(
    [TaskwiseEstimator(make_estimator("linear", "regression", n_jobs=1)),
     TaskwiseEstimator(make_estimator("linear", "binary", n_jobs=1), task_type="binary"),
     TaskwiseEstimator(make_estimator("xgboost", "regression",
                                      {"n_estimators": 30, "learning_rate": 0.3}, n_jobs=1)),
     KNNRegressor(metric="euclidean"), KNNClassifier(metric="euclidean")],
    expected_failed_checks=_expected_failed,
)
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def test_tanimoto_similarity_matches_definition():
    a = np.array([[1, 1, 0, 0], [0, 0, 0, 0]])
    b = np.array([[1, 0, 1, 0], [3, 2, 0, 0]])  # counts are binarised
    sim = tanimoto_similarity(a, b)
    np.testing.assert_allclose(sim, [[1 / 3, 1.0], [0.0, 0.0]], rtol=1e-6)


def test_wrapper_multitask_nan_labels_multiclass_and_single_class():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = np.column_stack([(X[:, 0] > 0), (X[:, 1] > 0)]).astype(float)
    y[::3, 1] = np.nan  # missing labels of task 1 are skipped, not treated as 0
    est = TaskwiseEstimator(make_estimator("linear", "binary"), task_type="binary").fit(X, y)
    p = est.predict(X)
    assert p.shape == (200, 2) and ((p >= 0) & (p <= 1)).all()
    assert roc_auc_score(y[:, 0], p[:, 0]) > 0.95
    ok = ~np.isnan(y[:, 1])
    assert roc_auc_score(y[ok, 1], p[ok, 1]) > 0.95
    # multiclass with a class (3) that never occurs in training: its column is 0
    ym = np.digitize(X[:, 0], [-0.5, 0.5]).astype(float)[:, None]
    mc = TaskwiseEstimator(make_estimator("rf", "multiclass", {"n_estimators": 20}, n_jobs=1),
                           task_type="multiclass", n_classes=4).fit(X, ym)
    pm = mc.predict(X)
    assert pm.shape == (200, 4)
    np.testing.assert_allclose(pm.sum(axis=1), 1.0)
    assert (pm[:, 3] == 0).all() and (pm.argmax(1) == ym[:, 0]).mean() > 0.9
    # a task with one class only is predicted as that class
    y1 = np.column_stack([y[:, 0], np.ones(200)])
    p1 = TaskwiseEstimator(make_estimator("linear", "binary"), task_type="binary").fit(
        X, y1).predict(X)
    assert (p1[:, 1] == 1.0).all()


def test_xgboost_early_stops_on_validation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    y = X[:, :1] + 0.1 * rng.normal(size=(300, 1))
    est = TaskwiseEstimator(make_estimator("xgboost", "regression",
                                           {"n_estimators": 2000, "learning_rate": 0.3,
                                            "early_stopping_rounds": 10}, n_jobs=1))
    est.fit(X[:200], y[:200], X[200:], y[200:])
    assert est.estimators_[0].best_iteration < 1999
    assert est.history_ and "val_loss" in est.history_[-1]


@pytest.fixture
def mols(molecules):
    df = molecules  # 120 generated molecules
    return df["smiles"].tolist(), df[["active"]].to_numpy(float), df[["logp"]].to_numpy(float)


@pytest.mark.parametrize("family", ["xgboost", "rf", "extratrees", "linear", "knn", "svm"])
def test_family_learns_and_round_trips_without_pickle(family, mols, tmp_path):
    x, y_bin, y_reg = mols
    params = {"n_estimators": 60} if family in ("xgboost", "rf", "extratrees") else {}
    cfg = ExperimentConfig(model={"features": "ecfp+maccs", "n_jobs": 1},
                           params={family: params})
    task = TaskSpec("binary", ["active"], ["0", "1"])
    pred = build_predictor(family, task, "smiles", cfg, tmp_path)
    assert isinstance(pred, Predictor) and pred.family == family
    pred.fit(x[:80], y_bin[:80], x[80:90], y_bin[80:90])
    p = pred.predict(x[90:])
    assert p.shape == (30, 1)
    assert roc_auc_score(y_bin[90:, 0], p[:, 0]) > 0.75
    pred.save(tmp_path / "model")
    files = [f.name for f in (tmp_path / "model").iterdir()]
    assert not [f for f in files if f.endswith((".pkl", ".pickle", ".joblib"))], files
    loaded = load_predictor(tmp_path / "model")
    np.testing.assert_array_equal(loaded.predict(x[90:]), p)
    # regression: shape and an identical round trip too
    reg = FeaturePredictor(family, TaskSpec("regression", ["logp"]), "smiles", "maccs", params,
                           n_jobs=1).fit(x[:100], y_reg[:100])
    reg.save(tmp_path / "reg")
    np.testing.assert_array_equal(load_predictor(tmp_path / "reg").predict(x[100:]),
                                  reg.predict(x[100:]))


def test_knn_defaults_to_tanimoto_on_fingerprints():
    task = TaskSpec("regression", ["y"])
    assert FeaturePredictor("knn", task, "smiles").params.metric == "tanimoto"
    assert FeaturePredictor("knn", task, "smiles", "rdkit2d").params.metric == "euclidean"


class NotAnEstimator:
    """A type that is in no trusted list."""

    def __init__(self) -> None:
        self.payload = [1, 2]


def test_untrusted_skops_content_is_refused(tmp_path):
    import skops.io as sio

    sio.dump([NotAnEstimator()], tmp_path / "estimators.skops")
    with pytest.raises(RunDirError, match="does not trust"):
        load_skops(tmp_path / "estimators.skops")
