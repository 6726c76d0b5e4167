"""Test-set metrics with bootstrap confidence intervals that contain their estimate (BCa, with
a documented fallback: :mod:`scifm.evaluation.intervals`; each entry names its ``ci_method``).

All metrics are computed by one vectorised kernel that evaluates a whole batch of bootstrap
resamples at once (``B x n`` row indices). Calling scikit-learn once per resample and metric costs
about 6 ms per binary resample (about 6 s for 1000 resamples), so the kernel re-implements the
formulas with numpy/scipy; the unit tests check every metric against scikit-learn / scipy.

Conventions (mirroring scikit-learn unless the metric is undefined, which gives ``NaN``):

* binary: label metrics use the threshold 0.5; ``precision``/``recall`` are those of the positive
  class (``NaN`` when nothing is predicted positive / no positive is present); ``roc_auc`` and
  ``pr_auc`` (average precision) need both classes / at least one positive.
* multiclass: ``precision``/``recall``/``f1_macro`` are macro averages over the labels present in
  ``y_true`` or the predictions (scikit-learn's default, ``zero_division=0``); ``roc_auc`` is the
  one-vs-rest macro average over the classes present (``NaN`` with fewer than two);
  ``pr_auc`` is the macro average precision over the classes present.
* ``mcc`` follows scikit-learn (0.0 when a marginal is constant).
* regression: ``r2``, ``pearson`` and ``spearman`` are ``NaN`` for a constant target or fewer
  than two rows.
* several tasks: each metric is the NaN-mean over tasks of the per-task values; rows with a
  missing label (``NaN``) are ignored per task.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.stats import rankdata

from scifm.errors import ConfigError
from scifm.evaluation.intervals import (
    bca_interval,
    bootstrap_indices,
    jackknife_indices,
    replicate_values,
)
from scifm.tasks import TaskSpec

CLASSIFICATION_METRICS: tuple[str, ...] = (
    "accuracy", "balanced_accuracy", "precision", "recall", "f1_macro", "f1_micro",
    "roc_auc", "pr_auc", "mcc",
)
REGRESSION_METRICS: tuple[str, ...] = ("rmse", "mae", "r2", "pearson", "spearman")
LOWER_IS_BETTER: frozenset[str] = frozenset({"rmse", "mae"})
_RANGE = {"rmse": (0.0, math.inf), "mae": (0.0, math.inf), "r2": (-math.inf, 1.0),
          "pearson": (-1.0, 1.0), "spearman": (-1.0, 1.0), "mcc": (-1.0, 1.0)}
"""Range of each metric that is not a share in [0, 1] (intervals are clipped to it)."""


def metric_names(task: TaskSpec) -> tuple[str, ...]:
    """Names of the metrics reported for ``task``, in display order."""
    return CLASSIFICATION_METRICS if task.is_classification else REGRESSION_METRICS


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of ``metric`` is better (False for ``rmse`` and ``mae``)."""
    return metric not in LOWER_IS_BETTER


def primary_metric(task: TaskSpec) -> tuple[str, bool]:
    """The metric used to rank models: ``(name, higher_is_better)``.

    ``roc_auc`` for binary, ``f1_macro`` for multiclass, ``rmse`` (lower is better) for regression.
    """
    name = {"binary": "roc_auc", "multiclass": "f1_macro", "regression": "rmse"}[task.task_type]
    return name, higher_is_better(name)


# --------------------------------------------------------------------------- input checking
def _check(task: TaskSpec, y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, ...]:
    y_true = np.asarray(y_true, dtype=float)
    y_pred = np.asarray(y_pred, dtype=float)
    if y_true.ndim == 1:
        y_true = y_true[:, None]
    if y_pred.ndim == 1 and task.n_outputs == 1:
        y_pred = y_pred[:, None]
    if y_true.shape != (y_true.shape[0], task.n_tasks):
        raise ValueError(f"y_true must be n x {task.n_tasks}, got {y_true.shape}")
    if y_pred.shape != (y_true.shape[0], task.n_outputs):
        raise ValueError(f"y_pred must be {y_true.shape[0]} x {task.n_outputs}, got {y_pred.shape}")
    labels = y_true[np.isfinite(y_true)]
    if task.task_type == "binary" and not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("binary labels must be 0/1 (NaN = missing)")
    if task.task_type == "multiclass" and not (
        np.isin(labels, np.arange(len(task.classes))).all()
    ):
        raise ValueError(f"multiclass labels must be class indices 0..{len(task.classes) - 1}")
    return y_true, y_pred


# --------------------------------------------------------------------------- kernels (B x n)
def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _auc(y: np.ndarray, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    """ROC-AUC per row via the Mann-Whitney rank sum; invalid entries (``~m``) are ignored."""
    ranks = rankdata(np.where(m, s, np.inf), axis=1)  # invalid entries rank above all valid ones
    pos = m & (y == 1)
    n_pos, n_neg = pos.sum(1), (m & (y == 0)).sum(1)
    u = (ranks * pos).sum(1) - n_pos * (n_pos + 1) / 2
    return _safe_div(u, n_pos * n_neg)


def _average_precision(y: np.ndarray, s: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Average precision per row (scikit-learn's step-wise definition, ties handled)."""
    order = np.argsort(-np.where(m, s, -np.inf), axis=1, kind="stable")
    s_sorted = np.take_along_axis(np.where(m, s, -np.inf), order, 1)
    valid = np.take_along_axis(m, order, 1)
    pos = np.take_along_axis(y == 1, order, 1) & valid
    tp = np.cumsum(pos, 1)
    prec = _safe_div(tp, np.cumsum(valid, 1))
    n = s_sorted.shape[1]
    last_of_tie = np.ones_like(valid)
    last_of_tie[:, :-1] = s_sorted[:, 1:] != s_sorted[:, :-1]
    # each positive takes the precision at the end of its block of tied scores
    idx = np.where(last_of_tie, np.arange(n), n - 1)
    nxt = np.minimum.accumulate(idx[:, ::-1], axis=1)[:, ::-1]
    p_at = np.take_along_axis(prec, nxt, 1)
    return _safe_div(np.where(pos, p_at, 0.0).sum(1), pos.sum(1))


def _label_metrics(y: np.ndarray, yhat: np.ndarray, m: np.ndarray, k: int,
                   binary: bool) -> dict[str, np.ndarray]:
    """Confusion-matrix metrics for ``k`` classes; ``y``/``yhat`` hold class indices."""
    b = y.shape[0]
    flat = (np.arange(b)[:, None] * k * k + y.clip(0, k - 1).astype(int) * k + yhat)[m]
    cm = np.bincount(flat, minlength=b * k * k).reshape(b, k, k).astype(float)
    tp = np.einsum("bii->bi", cm)
    t_cnt, p_cnt = cm.sum(2), cm.sum(1)
    n = cm.sum((1, 2))
    present = (t_cnt + p_cnt) > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        prec_c = np.nan_to_num(_safe_div(tp, p_cnt))
        rec_c = np.nan_to_num(_safe_div(tp, t_cnt))
        f1_c = np.nan_to_num(_safe_div(2 * tp, t_cnt + p_cnt))
        n_present = present.sum(1)
        out = {
            "accuracy": _safe_div(tp.sum(1), n),
            "balanced_accuracy": np.nanmean(np.where(t_cnt > 0, rec_c, np.nan), axis=1),
            "f1_macro": _safe_div((f1_c * present).sum(1), n_present),
        }
        if binary:
            out["precision"] = _safe_div(tp[:, 1], p_cnt[:, 1])
            out["recall"] = _safe_div(tp[:, 1], t_cnt[:, 1])
        else:
            out["precision"] = _safe_div((prec_c * present).sum(1), n_present)
            out["recall"] = _safe_div((rec_c * present).sum(1), n_present)
        out["f1_micro"] = out["accuracy"]
        cov_tp = tp.sum(1) * n - (t_cnt * p_cnt).sum(1)
        den = (n**2 - (p_cnt**2).sum(1)) * (n**2 - (t_cnt**2).sum(1))
        mcc = np.where(den > 0, cov_tp / np.sqrt(np.where(den > 0, den, 1.0)), 0.0)
        out["mcc"] = np.where(n > 0, mcc, np.nan)
    return out


def _classification(task: TaskSpec, y: np.ndarray, p: np.ndarray,
                    m: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics of one task for a batch; ``y``/``m`` are ``B x n``, ``p`` is ``B x n [x K]``."""
    if task.task_type == "binary":
        out = _label_metrics(y, (p >= 0.5).astype(int), m, 2, binary=True)
        out["roc_auc"] = _auc(y, p, m)
        out["pr_auc"] = _average_precision(y, p, m)
        return out
    k = p.shape[2]
    out = _label_metrics(y, p.argmax(2), m, k, binary=False)
    aucs, aps = [], []
    for c in range(k):
        yc = (y == c).astype(float)
        aucs.append(_auc(yc, p[:, :, c], m))
        aps.append(_average_precision(yc, p[:, :, c], m))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        auc = np.nanmean(np.stack(aucs), axis=0)  # NaN for classes absent (or alone)
        out["pr_auc"] = np.nanmean(np.stack(aps), axis=0)
    counts = np.stack([((y == c) & m).sum(1) for c in range(k)], axis=1)
    out["roc_auc"] = np.where((counts > 0).sum(1) >= 2, auc, np.nan)
    return out


def _pearson_masked(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> np.ndarray:
    n = m.sum(1)
    ma = _safe_div((a * m).sum(1), n)[:, None]
    mb = _safe_div((b * m).sum(1), n)[:, None]
    da, db = np.where(m, a - ma, 0.0), np.where(m, b - mb, 0.0)
    sab, saa, sbb = (da * db).sum(1), (da**2).sum(1), (db**2).sum(1)
    # relative threshold so that float noise in a constant column counts as zero variance
    scale_a = np.where(m, np.abs(a), 0.0).max(1, initial=0.0) ** 2 * n
    scale_b = np.where(m, np.abs(b), 0.0).max(1, initial=0.0) ** 2 * n
    ok = (saa > 1e-24 * scale_a) & (sbb > 1e-24 * scale_b) & (n >= 2)
    r = _safe_div(sab, np.sqrt(saa * sbb) * ok)
    return np.clip(r, -1.0, 1.0)


def _regression(y: np.ndarray, p: np.ndarray, m: np.ndarray) -> dict[str, np.ndarray]:
    n = m.sum(1)
    err = np.where(m, p - y, 0.0)
    mean_y = _safe_div(np.where(m, y, 0.0).sum(1), n)[:, None]
    ss_res = (err**2).sum(1)
    ss_tot = (np.where(m, y - mean_y, 0.0) ** 2).sum(1)
    scale = np.where(m, np.abs(y), 0.0).max(1, initial=0.0) ** 2 * n
    ss_tot_ok = np.where((ss_tot > 1e-24 * scale) & (n >= 2), ss_tot, 0.0)
    ry = rankdata(np.where(m, y, np.inf), axis=1)
    rp = rankdata(np.where(m, p, np.inf), axis=1)
    return {
        "rmse": np.sqrt(_safe_div(ss_res, n)),
        "mae": _safe_div(np.abs(err).sum(1), n),
        "r2": 1.0 - _safe_div(ss_res, ss_tot_ok),
        "pearson": _pearson_masked(y, p, m),
        "spearman": _pearson_masked(ry, rp, m),
    }


def _batch(task: TaskSpec, y_true: np.ndarray, y_pred: np.ndarray,
           idx: np.ndarray) -> dict[str, np.ndarray]:
    """Per-task metric values for resamples ``idx`` (``B x n``): ``{metric: n_tasks x B}``."""
    per_task: list[dict[str, np.ndarray]] = []
    for j in range(task.n_tasks):
        y = y_true[idx, j]
        if task.task_type == "multiclass":
            p = y_pred[idx]
            m = np.isfinite(y) & np.isfinite(p).all(2)
            per_task.append(_classification(task, np.nan_to_num(y), np.nan_to_num(p), m))
            continue
        p = y_pred[idx, j]
        m = np.isfinite(y) & np.isfinite(p)
        y0, p0 = np.nan_to_num(y), np.nan_to_num(p)
        if task.task_type == "binary":
            per_task.append(_classification(task, y0, p0, m))
        else:
            per_task.append(_regression(y0, p0, m))
    return {k: np.stack([d[k] for d in per_task]) for k in metric_names(task)}


def _nanmean_tasks(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=0)


# --------------------------------------------------------------------------- public API
def compute_metrics(task: TaskSpec, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """All metrics of ``task`` on one prediction set.

    Parameters
    ----------
    task : TaskSpec
    y_true : np.ndarray, shape (n, n_tasks)
        Labels; ``NaN`` = missing (ignored per task).
    y_pred : np.ndarray, shape (n, n_outputs)
        Probabilities (binary: ``n x n_tasks``; multiclass: ``n x n_classes``) or values.

    Returns
    -------
    dict[str, float]
        ``{metric: value}``; for several tasks the NaN-mean over tasks; undefined -> ``NaN``.
    """
    y_true, y_pred = _check(task, y_true, y_pred)
    vals = _batch(task, y_true, y_pred, np.arange(len(y_true))[None, :])
    return {k: float(_nanmean_tasks(v)[0]) for k, v in vals.items()}


def per_task_metrics(task: TaskSpec, y_true: np.ndarray,
                     y_pred: np.ndarray) -> dict[str, dict[str, float]]:
    """Metrics of each target column: ``{target: {metric: value}}`` (shapes as
    :func:`compute_metrics`)."""
    y_true, y_pred = _check(task, y_true, y_pred)
    vals = _batch(task, y_true, y_pred, np.arange(len(y_true))[None, :])
    return {t: {k: float(v[j, 0]) for k, v in vals.items()}
            for j, t in enumerate(task.target_cols)}


def _resampled(task: TaskSpec, y_true: np.ndarray, preds: list[np.ndarray], n_bootstrap: int,
               seed: int) -> tuple[list[dict[str, np.ndarray]], list[dict[str, np.ndarray]]]:
    """Bootstrap and jackknife values of each prediction set (empty dicts without resamples)."""
    n = len(y_true)
    if not (n and n_bootstrap):
        return [{} for _ in preds], [{} for _ in preds]
    width = task.n_outputs * max(1, len(preds)) * 4

    def values(p: np.ndarray, idx: np.ndarray) -> dict[str, np.ndarray]:
        return _batch(task, y_true, p, idx)

    return (replicate_values(values, preds, bootstrap_indices(n, n_bootstrap, width, seed)),
            replicate_values(values, preds, jackknife_indices(n, seed, width)))


def _interval(metric: str, theta: float, boot: np.ndarray, jack: np.ndarray, ci: float,
              delta: bool = False) -> dict[str, Any]:
    """``{"ci95": [lo, hi], "ci_method": ...}`` of one metric (``delta``: of a difference)."""
    lo, hi = _RANGE.get(metric, (0.0, 1.0))
    interval, method = bca_interval(boot, theta, jack, ci, (lo - hi, hi - lo) if delta
                                    else (lo, hi))
    return {"ci95": interval, "ci_method": method}


def evaluate_predictions(task: TaskSpec, y_true: np.ndarray, y_pred: np.ndarray,
                         n_bootstrap: int = 1000, ci: float = 0.95,
                         seed: int = 0) -> dict[str, Any]:
    """Metrics with bootstrap confidence intervals (BCa) over test rows.

    Parameters
    ----------
    task, y_true, y_pred
        As in :func:`compute_metrics` (``n`` rows).
    n_bootstrap : int
        Number of resamples of the rows (with replacement); 0 gives ``[nan, nan]`` intervals.
    ci : float
        Confidence level in (0, 1); the key is ``ci95`` whatever the level (see ``ci_level``).
    seed : int
        Seed of the resampling; same inputs and seed give identical intervals.

    Returns
    -------
    dict
        ``{metric: {"value": float, "ci95": [lo, hi], "ci_method": "bca" |
        "centered_percentile" | None}, ..., "per_task": {target: {metric: {...}}} (only when
        n_tasks > 1), "n": n, "ci_level": ci, "n_bootstrap": n_bootstrap}``; ``lo <= value <=
        hi`` (:mod:`scifm.evaluation.intervals`). Resamples where a metric is undefined are
        skipped; if fewer than half remain the interval is ``[nan, nan]``.
    """
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    y_true, y_pred = _check(task, y_true, y_pred)
    n = len(y_true)
    point = _batch(task, y_true, y_pred, np.arange(n)[None, :])
    (boot,), (jack,) = _resampled(task, y_true, [y_pred], n_bootstrap, seed)
    none = np.full((task.n_tasks, 0), np.nan)  # no resamples: [nan, nan] intervals
    out: dict[str, Any] = {}
    per_task: dict[str, dict[str, Any]] = {t: {} for t in task.target_cols}
    for k, v in point.items():
        b, j = boot.get(k, none), jack.get(k, none)
        value = float(_nanmean_tasks(v)[0])
        out[k] = {"value": value, **_interval(k, value, _nanmean_tasks(b), _nanmean_tasks(j),
                                              ci)}
        for i, t in enumerate(task.target_cols):
            per_task[t][k] = {"value": float(v[i, 0]),
                              **_interval(k, float(v[i, 0]), b[i], j[i], ci)}
    if task.n_tasks > 1:
        out["per_task"] = per_task
    out.update(n=int(n), ci_level=float(ci), n_bootstrap=int(n_bootstrap))
    return out


def paired_bootstrap(task: TaskSpec, y_true: np.ndarray, pred_a: np.ndarray,
                     pred_b: np.ndarray, metric: str, n_bootstrap: int = 1000, seed: int = 0,
                     ci: float = 0.95, name_a: str = "a", name_b: str = "b") -> dict[str, Any]:
    """Compare two models on the same test rows with a paired bootstrap.

    Both prediction sets are scored on identical resamples, so the interval of the difference
    accounts for the correlation between the two models' errors.

    Parameters
    ----------
    task, y_true
        As in :func:`compute_metrics`.
    pred_a, pred_b : np.ndarray, shape (n, n_outputs)
        Predictions of model A and model B for the same rows.
    metric : str
        One of :func:`metric_names` for the task.

    Returns
    -------
    dict
        ``{"metric", "model_a", "model_b", "value_a", "value_b", "delta" (a - b), "ci95",
        "ci_method", "ci_level", "p_a_better", "higher_is_better", "n"}``; the interval of the
        difference is made like the metrics' (BCa on the paired resamples, jackknife of the
        difference; it contains ``delta``); ``p_a_better`` is the fraction of valid resamples in
        which A is strictly better (direction-aware).
    """
    if metric not in metric_names(task):
        raise ConfigError(f"metric {metric!r} is not available for a {task.task_type} task; "
                          f"choose one of {', '.join(metric_names(task))}")
    y_true, pred_a = _check(task, y_true, pred_a)
    _, pred_b = _check(task, y_true, pred_b)
    n = len(y_true)
    full = np.arange(n)[None, :]
    va = float(_nanmean_tasks(_batch(task, y_true, pred_a, full)[metric])[0])
    vb = float(_nanmean_tasks(_batch(task, y_true, pred_b, full)[metric])[0])
    (ba, bb), (ja, jb) = _resampled(task, y_true, [pred_a, pred_b], n_bootstrap, seed)
    deltas = _nanmean_tasks(ba[metric]) - _nanmean_tasks(bb[metric]) if ba else np.array([])
    jack = _nanmean_tasks(ja[metric]) - _nanmean_tasks(jb[metric]) if ja else np.array([])
    ok = deltas[np.isfinite(deltas)]
    hib = higher_is_better(metric)
    p_better = float(np.mean(ok > 0 if hib else ok < 0)) if ok.size else math.nan
    interval = _interval(metric, va - vb, deltas, jack, ci, delta=True)
    return {"metric": metric, "model_a": name_a, "model_b": name_b, "value_a": va,
            "value_b": vb, "delta": va - vb, **interval, "ci_level": float(ci),
            "p_a_better": p_better, "higher_is_better": hib, "n": int(n)}
