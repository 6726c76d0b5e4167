"""Metrics against direct scikit-learn / scipy calls, bootstrap intervals, paired comparison."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from scipy import stats
from sklearn import metrics as skm

from scifm.errors import ConfigError
from scifm.evaluation.metrics import (
    CLASSIFICATION_METRICS,
    REGRESSION_METRICS,
    compute_metrics,
    evaluate_predictions,
    paired_bootstrap,
    per_task_metrics,
    primary_metric,
)
from scifm.tasks import TaskSpec

BINARY = TaskSpec("binary", ["y"], ["inactive", "active"])
MULTI = TaskSpec("multiclass", ["c"], ["a", "b", "c"])


def _binary_data(n: int, seed: int = 0, signal: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n).astype(float)
    # rounded scores create ties, which exercise the tie handling of AUC / AP
    p = np.clip(signal * y + (1 - signal) * rng.random(n), 0, 1).round(2)
    return y, p


def _sk_binary(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    yh = (p >= 0.5).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, yh),
        "balanced_accuracy": skm.balanced_accuracy_score(y, yh),
        "precision": skm.precision_score(y, yh, zero_division=np.nan),
        "recall": skm.recall_score(y, yh, zero_division=np.nan),
        "f1_macro": skm.f1_score(y, yh, average="macro"),
        "f1_micro": skm.f1_score(y, yh, average="micro"),
        "roc_auc": skm.roc_auc_score(y, p),
        "pr_auc": skm.average_precision_score(y, p),
        "mcc": skm.matthews_corrcoef(y, yh),
    }


def _sk_regression(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "rmse": math.sqrt(skm.mean_squared_error(y, p)),
        "mae": skm.mean_absolute_error(y, p),
        "r2": skm.r2_score(y, p),
        "pearson": stats.pearsonr(y, p)[0],
        "spearman": stats.spearmanr(y, p)[0],
    }


def _assert_close(got: dict[str, float], want: dict[str, float]) -> None:
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-10, nan_ok=True), k


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_matches_sklearn(seed: int) -> None:
    y, p = _binary_data(150, seed)
    got = compute_metrics(BINARY, y[:, None], p[:, None])
    assert set(got) == set(CLASSIFICATION_METRICS)
    _assert_close(got, _sk_binary(y, p))


def test_multiclass_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    n = 120
    y = rng.integers(0, 3, n)
    p = rng.dirichlet([1, 1, 1], n)
    p[np.arange(n), y] += 0.4
    p /= p.sum(1, keepdims=True)
    yh = p.argmax(1)
    got = compute_metrics(MULTI, y[:, None].astype(float), p)
    onehot = np.eye(3)[y]
    want = {
        "accuracy": skm.accuracy_score(y, yh),
        "balanced_accuracy": skm.balanced_accuracy_score(y, yh),
        "precision": skm.precision_score(y, yh, average="macro"),
        "recall": skm.recall_score(y, yh, average="macro"),
        "f1_macro": skm.f1_score(y, yh, average="macro"),
        "f1_micro": skm.f1_score(y, yh, average="micro"),
        "roc_auc": skm.roc_auc_score(y, p, multi_class="ovr", average="macro"),
        "pr_auc": skm.average_precision_score(onehot, p, average="macro"),
        "mcc": skm.matthews_corrcoef(y, yh),
    }
    _assert_close(got, want)


def test_multiclass_absent_class_uses_present_classes_only() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 60)  # class "c" never occurs
    p = rng.dirichlet([1, 1, 1], 60)
    got = compute_metrics(MULTI, y[:, None].astype(float), p)
    want_auc = np.mean([skm.roc_auc_score(y == c, p[:, c]) for c in (0, 1)])
    want_ap = np.mean([skm.average_precision_score(y == c, p[:, c]) for c in (0, 1)])
    assert got["roc_auc"] == pytest.approx(want_auc)
    assert got["pr_auc"] == pytest.approx(want_ap)
    one = compute_metrics(MULTI, np.zeros((10, 1)), p[:10])
    assert math.isnan(one["roc_auc"])  # one class present: undefined


def test_multitask_binary_with_missing_labels() -> None:
    task = TaskSpec("binary", ["t1", "t2", "t3"])
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, (100, 3)).astype(float)
    p = np.clip(0.3 * y + 0.7 * rng.random((100, 3)), 0, 1)
    y[rng.random((100, 3)) < 0.3] = np.nan
    y[:, 2] = np.where(np.isnan(y[:, 2]), np.nan, 0.0)  # t3: one class only -> AUC undefined
    per = per_task_metrics(task, y, p)
    assert list(per) == ["t1", "t2", "t3"]
    for j, t in enumerate(task.target_cols[:2]):
        m = ~np.isnan(y[:, j])
        _assert_close(per[t], _sk_binary(y[m, j], p[m, j]))
    assert math.isnan(per["t3"]["roc_auc"]) and math.isnan(per["t3"]["recall"])
    agg = compute_metrics(task, y, p)
    for k in CLASSIFICATION_METRICS:
        assert agg[k] == pytest.approx(np.nanmean([per[t][k] for t in per]), nan_ok=True)
    # roc_auc averages only the two tasks where it is defined
    assert agg["roc_auc"] == pytest.approx((per["t1"]["roc_auc"] + per["t2"]["roc_auc"]) / 2)


def test_regression_multitarget_matches_sklearn() -> None:
    task = TaskSpec("regression", ["logS", "logP"])
    rng = np.random.default_rng(6)
    y = rng.normal(size=(80, 2)) * [1.0, 3.0] + [0.0, 10.0]
    p = y + rng.normal(scale=0.7, size=(80, 2))
    y[::5, 1] = np.nan
    per = per_task_metrics(task, y, p)
    for j, t in enumerate(task.target_cols):
        m = ~np.isnan(y[:, j])
        _assert_close(per[t], _sk_regression(y[m, j], p[m, j]))
    agg = compute_metrics(task, y, p)
    assert set(agg) == set(REGRESSION_METRICS)
    assert agg["rmse"] == pytest.approx((per["logS"]["rmse"] + per["logP"]["rmse"]) / 2)


def test_spearman_with_ties() -> None:
    task = TaskSpec("regression", ["y"])
    y = np.array([1.0, 2.0, 2.0, 3.0, 4.0, 4.0, 5.0])
    p = np.array([1.0, 1.0, 2.0, 3.0, 3.0, 5.0, 4.0])
    got = compute_metrics(task, y[:, None], p[:, None])
    assert got["spearman"] == pytest.approx(stats.spearmanr(y, p)[0])


def test_undefined_metrics_are_nan_not_errors() -> None:
    y = np.zeros((20, 1))
    p = np.linspace(0, 0.4, 20)[:, None]  # nothing predicted positive
    got = compute_metrics(BINARY, y, p)
    for k in ("roc_auc", "pr_auc", "precision", "recall"):
        assert math.isnan(got[k]), k
    assert got["accuracy"] == 1.0
    reg = TaskSpec("regression", ["y"])
    const = compute_metrics(reg, np.ones((5, 1)), np.arange(5.0)[:, None])
    assert math.isnan(const["r2"]) and math.isnan(const["pearson"])
    assert const["mae"] == pytest.approx(np.mean(np.abs(np.arange(5.0) - 1)))
    empty = compute_metrics(BINARY, np.full((4, 1), np.nan), np.full((4, 1), 0.3))
    assert all(math.isnan(v) for v in empty.values())
    res = evaluate_predictions(BINARY, y, p, n_bootstrap=50)
    assert math.isnan(res["roc_auc"]["value"])
    assert all(math.isnan(c) for c in res["roc_auc"]["ci95"])


def test_shape_and_label_validation() -> None:
    with pytest.raises(ValueError, match="y_pred"):
        compute_metrics(MULTI, np.zeros((5, 1)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="0/1"):
        compute_metrics(BINARY, np.full((3, 1), 2.0), np.zeros((3, 1)))


def test_bootstrap_schema_and_interval_contains_value() -> None:
    y, p = _binary_data(400)
    res = evaluate_predictions(BINARY, y, p, n_bootstrap=300, seed=1)
    assert res["n"] == 400 and res["ci_level"] == 0.95 and "per_task" not in res
    for k in CLASSIFICATION_METRICS:
        lo, hi = res[k]["ci95"]
        assert lo <= res[k]["value"] <= hi, k
        assert hi - lo > 0, k
    assert res["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, p))


def test_bootstrap_ci_narrows_with_n_and_level() -> None:
    widths = []
    for n in (100, 1600):
        y, p = _binary_data(n, seed=7)
        lo, hi = evaluate_predictions(BINARY, y, p, n_bootstrap=300)["roc_auc"]["ci95"]
        widths.append(hi - lo)
    # width shrinks roughly like 1/sqrt(n): 4x fewer would be exact, require at least 2.5x
    assert widths[1] < widths[0] / 2.5
    y, p = _binary_data(300, seed=8)
    w90 = np.diff(evaluate_predictions(BINARY, y, p, 300, ci=0.90)["mcc"]["ci95"])[0]
    w99 = np.diff(evaluate_predictions(BINARY, y, p, 300, ci=0.99)["mcc"]["ci95"])[0]
    assert w90 < w99


def test_bootstrap_matches_naive_bca() -> None:
    """The vectorised bootstrap gives the BCa interval of sklearn applied to each resample and
    to each leave-one-out replicate (issue 9: BCa replaced the percentile interval)."""
    y, p = _binary_data(60, seed=9)
    res = evaluate_predictions(BINARY, y, p, n_bootstrap=40, seed=3)
    rng = np.random.default_rng(3)
    idx = rng.integers(0, 60, size=(40, 60))  # same draws as the implementation
    aucs = np.array([skm.roc_auc_score(y[i], p[i]) for i in idx if len(np.unique(y[i])) == 2])
    theta = skm.roc_auc_score(y, p)
    z0 = stats.norm.ppf((np.sum(aucs < theta) + 0.5 * np.sum(aucs == theta)) / len(aucs))
    jack = np.array([skm.roc_auc_score(np.delete(y, i), np.delete(p, i)) for i in range(60)])
    d = jack.mean() - jack
    a = (d**3).sum() / (6 * (d**2).sum() ** 1.5)
    z = stats.norm.ppf([0.025, 0.975])
    levels = stats.norm.cdf(z0 + (z0 + z) / (1 - a * (z0 + z)))
    assert res["roc_auc"]["ci_method"] == "bca"
    assert res["roc_auc"]["ci95"] == pytest.approx(list(np.quantile(aucs, levels)))


def test_bootstrap_is_deterministic_given_seed() -> None:
    task = TaskSpec("regression", ["a", "b"])
    rng = np.random.default_rng(10)
    y = rng.normal(size=(200, 2))
    p = y + rng.normal(size=(200, 2))
    y[::3, 0] = np.nan
    r1 = evaluate_predictions(task, y, p, n_bootstrap=200, seed=5)
    r2 = evaluate_predictions(task, y, p, n_bootstrap=200, seed=5)
    r3 = evaluate_predictions(task, y, p, n_bootstrap=200, seed=6)
    assert r1 == r2
    assert r1["rmse"]["ci95"] != r3["rmse"]["ci95"]
    assert set(r1["per_task"]) == {"a", "b"}
    assert r1["per_task"]["a"]["rmse"]["value"] == pytest.approx(
        math.sqrt(np.nanmean((p[:, 0] - y[:, 0]) ** 2)))
    lo, hi = r1["per_task"]["b"]["r2"]["ci95"]
    assert lo <= r1["per_task"]["b"]["r2"]["value"] <= hi


def test_bootstrap_is_fast() -> None:
    y, p = _binary_data(1000, seed=11)
    t0 = time.perf_counter()
    evaluate_predictions(BINARY, y, p, n_bootstrap=1000)
    assert time.perf_counter() - t0 < 5.0


def test_paired_bootstrap_perfect_vs_random() -> None:
    rng = np.random.default_rng(12)
    y = rng.integers(0, 2, 200).astype(float)
    perfect = y * 0.8 + 0.1
    random = rng.random(200)
    res = paired_bootstrap(BINARY, y, perfect, random, "roc_auc", n_bootstrap=300, seed=0,
                           name_a="perfect", name_b="random")
    assert res["metric"] == "roc_auc" and res["model_a"] == "perfect"
    assert res["delta"] == pytest.approx(1.0 - skm.roc_auc_score(y, random))
    assert res["ci95"][0] > 0 and res["p_a_better"] == 1.0
    reg = TaskSpec("regression", ["y"])
    yr = rng.normal(size=100)
    worse = paired_bootstrap(reg, yr, yr + rng.normal(size=100), yr + 0.01, "rmse",
                             n_bootstrap=200)
    assert worse["delta"] > 0 and worse["ci95"][0] > 0 and worse["p_a_better"] == 0.0
    assert worse["higher_is_better"] is False
    with pytest.raises(ConfigError, match="rmse"):
        paired_bootstrap(BINARY, y, perfect, random, "rmse")


def test_primary_metric() -> None:
    assert primary_metric(BINARY) == ("roc_auc", True)
    assert primary_metric(MULTI) == ("f1_macro", True)
    assert primary_metric(TaskSpec("regression", ["y"])) == ("rmse", False)
