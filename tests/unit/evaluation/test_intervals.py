"""Bootstrap intervals contain their estimate (issue 9): BCa, and the centred fallback when BCa
is degenerate; deterministic; point estimates unchanged."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from scifm.evaluation.intervals import MAX_JACKKNIFE_BLOCKS, bca_interval, jackknife_indices
from scifm.evaluation.metrics import compute_metrics, evaluate_predictions, paired_bootstrap
from scifm.evaluation.token_metrics import evaluate_tokens
from scifm.tasks import TaskSpec

REG = TaskSpec("regression", ["y"])
REG2 = TaskSpec("regression", ["a", "b"])
BIN = TaskSpec("binary", ["y"], ["0", "1"])
MC = TaskSpec("multiclass", ["c"], ["a", "b", "c"])


def _cases(rng: np.random.Generator, n: int) -> list[tuple[TaskSpec, np.ndarray, np.ndarray]]:
    y = rng.normal(size=n)
    y2 = rng.normal(size=(n, 2))
    yb = (rng.random(n) < 0.4).astype(float)
    yb[:2] = [0.0, 1.0]
    return [
        (REG, y, y + rng.normal(size=n)),
        (REG, y, y.mean() + 1.9996 * (y - y.mean())),  # r2 ~ 0.0008, the finding's shape
        (REG, y, np.full(n, y.mean()) + 0.01 * rng.normal(size=n)),  # near-constant predictor
        (REG2, y2, y2 + 0.5 * rng.normal(size=(n, 2))),
        (BIN, yb, rng.random(n)),
        (BIN, yb, np.clip(0.5 * yb + 0.5 * rng.random(n), 0, 1)),
        (MC, rng.integers(0, 3, n).astype(float), rng.dirichlet(np.ones(3), n)),
    ]


def _entries(res: dict) -> list[tuple[str, dict]]:
    out = [(k, v) for k, v in res.items() if isinstance(v, dict) and "value" in v]
    for task, metrics in res.get("per_task", {}).items():
        out += [(f"{task}.{k}", v) for k, v in metrics.items()]
    return out


def test_every_interval_contains_its_estimate_on_small_samples() -> None:
    methods: Counter[str | None] = Counter()
    for seed in range(6):
        rng = np.random.default_rng(seed)
        for n in (8, 20, 45):
            for task, y, p in _cases(rng, n):
                res = evaluate_predictions(task, y, p, n_bootstrap=200, seed=seed)
                for name, e in _entries(res):
                    methods[e["ci_method"]] += 1
                    lo, hi = e["ci95"]
                    if math.isnan(e["value"]) or e["ci_method"] is None:
                        assert e["ci_method"] is None and math.isnan(lo) and math.isnan(hi)
                        continue
                    assert lo <= e["value"] <= hi, (seed, n, task.task_type, name, e)
    assert methods["bca"] > 0.9 * sum(methods.values()), methods  # the fallback is the exception


def test_near_zero_r2_that_the_percentile_interval_missed() -> None:
    """r2 = 0.0008 had the percentile interval [-0.198, 0.00077]; now the interval holds it."""
    rng = np.random.default_rng(0)
    y = rng.normal(size=30)
    p = y.mean() + 1.9996 * (y - y.mean())
    res = evaluate_predictions(REG, y, p, n_bootstrap=1000)["r2"]
    percentile = (-0.198, 0.000768)  # what the percentile interval said (before issue 9)
    assert res["value"] == pytest.approx(0.0008, abs=1e-4) and res["value"] > percentile[1]
    assert res["ci95"][0] <= res["value"] <= res["ci95"][1]
    assert res["ci_method"] == "centered_percentile" and res["ci95"][1] <= 1.0


def test_paired_and_token_intervals_contain_their_estimate() -> None:
    for seed in range(4):
        rng = np.random.default_rng(seed)
        y = rng.normal(size=25)
        a, b = y + rng.normal(size=25), y.mean() + 1.9996 * (y - y.mean())
        for metric in ("rmse", "r2", "spearman"):
            res = paired_bootstrap(REG, y, a, b, metric, n_bootstrap=200, seed=seed)
            assert res["ci95"][0] <= res["delta"] <= res["ci95"][1], (seed, metric, res)
            assert res["ci_method"] in ("bca", "centered_percentile")
        tags = [["H", "E", "C", "C"][: 2 + i % 3] for i in range(15)]
        pred = [[t if rng.random() < 0.7 else "C" for t in s] for s in tags]
        q3 = evaluate_tokens("residue", tags, pred, n_bootstrap=200, seed=seed)["q3"]
        assert q3["ci95"][0] <= q3["value"] <= q3["ci95"][1]


def test_point_estimates_unchanged_and_same_seed_same_numbers() -> None:
    rng = np.random.default_rng(3)
    for task, y, p in _cases(rng, 40):
        r1 = evaluate_predictions(task, y, p, n_bootstrap=100, seed=7)
        r2 = evaluate_predictions(task, y, p, n_bootstrap=100, seed=7)
        assert str(r1) == str(r2)  # identical, NaN included
        point = compute_metrics(task, y, p)
        for k, v in point.items():
            assert r1[k]["value"] == pytest.approx(v, nan_ok=True)


def test_jackknife_is_leave_one_out_then_blocks() -> None:
    small = np.concatenate(list(jackknife_indices(5, seed=0, width=1)))
    assert small.shape == (5, 4)
    assert [sorted(set(range(5)) - set(r)) for r in small] == [[i] for i in range(5)]
    n = 2003
    rows = [r for m in jackknife_indices(n, seed=1, width=4) for r in m]
    assert len(rows) == MAX_JACKKNIFE_BLOCKS
    left_out = np.concatenate([np.setdiff1d(np.arange(n), r) for r in rows])
    assert sorted(left_out) == list(range(n))  # a partition: every row left out exactly once
    again = [r for m in jackknife_indices(n, seed=1, width=4) for r in m]
    assert all((a == b).all() for a, b in zip(rows, again, strict=True))


def test_bca_degenerate_cases() -> None:
    boot = np.linspace(-1.0, 0.0, 101)  # the estimate is the maximum: z0 is infinite
    interval, method = bca_interval(boot, 0.0, np.zeros(5), 0.95, (-math.inf, 1.0))
    assert method == "centered_percentile" and interval[0] <= 0.0 <= interval[1] <= 1.0
    assert bca_interval(np.full(50, 0.7), 0.7, np.full(5, 0.7), 0.95) == ([0.7, 0.7], "bca")
    assert bca_interval(np.array([np.nan] * 10 + [1.0]), 1.0, np.array([]), 0.95)[1] is None
    undefined, method = bca_interval(boot, math.nan, np.zeros(5), 0.95)
    assert method is None and all(math.isnan(v) for v in undefined)
    res = evaluate_predictions(REG, np.arange(10.0), np.arange(10.0) + 1, n_bootstrap=0)
    assert res["rmse"]["ci_method"] is None and math.isnan(res["rmse"]["ci95"][0])


def test_statistic_interval_of_a_vectorised_statistic() -> None:
    from scifm.evaluation.intervals import statistic_interval

    rng = np.random.default_rng(7)
    x = rng.normal(1.0, 2.0, 300)

    def mean(idx: np.ndarray) -> np.ndarray:
        return x[idx].mean(axis=1)

    out = statistic_interval(mean, len(x), n_bootstrap=500, ci=0.95, seed=3)
    assert out["value"] == pytest.approx(x.mean())
    lo, hi = out["ci95"]
    assert lo <= out["value"] <= hi and out["ci_method"] in ("bca", "centered_percentile")
    half = 1.96 * x.std(ddof=1) / np.sqrt(len(x))  # the normal-theory interval of a mean
    assert hi - lo == pytest.approx(2 * half, rel=0.2)
    assert statistic_interval(mean, len(x), n_bootstrap=500, ci=0.95, seed=3) == out
    assert statistic_interval(mean, len(x), n_bootstrap=0)["ci95"] != out["ci95"]
