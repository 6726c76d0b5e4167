"""Fairness metrics: is the model equally good for every group? (Fairlearn, with bootstrap CIs.)

Binary classification (labels and hard predictions 0/1, optional scores for ROC-AUC):

* per group (Fairlearn :class:`~fairlearn.metrics.MetricFrame`): ``count``, ``accuracy``,
  ``tpr`` (share of the true positives the model finds), ``fpr`` (share of the true negatives
  it calls positive), ``selection_rate`` (share predicted positive) and ``roc_auc``;
* three differences between groups, each the largest minus the smallest group value:
  ``demographic_parity_difference`` (selection rate), ``equal_opportunity_difference`` (TPR)
  and ``equalized_odds_difference`` (the larger of the TPR and FPR differences) — Fairlearn's
  ``between_groups`` definitions. A group where a rate is undefined (TPR of a group without
  positives) is left out of that difference and reported as NaN; Fairlearn would count it as 0.

Regression: per group ``count``, ``mae`` and ``rmse``; ``mae_gap`` and ``rmse_gap`` are the
worst minus the best group.

Each difference / gap has a bootstrap confidence interval over rows (BCa, with the fallback of
:func:`scifm.evaluation.intervals.bca_interval`; one vectorised kernel evaluates a batch of
resamples) and a plain-language ``verdict``: ``ok`` when the whole interval lies within the
tolerance, ``gap`` when the whole interval lies beyond it, ``uncertain`` otherwise. The tolerance
is an absolute difference of rates for classification (default 0.1, a common rule of thumb) and
a share of the overall error for regression (default 0.2: a gap of 20% of the overall MAE).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from fairlearn.metrics import (
    MetricFrame,
    count,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, roc_auc_score

from scifm.evaluation.intervals import bca_interval, bootstrap_indices, jackknife_indices

logger = logging.getLogger(__name__)

__all__ = ["DIFFERENCES", "GAPS", "MIN_GROUP_ROWS", "classification_fairness",
           "group_codes", "regression_fairness"]

DIFFERENCES: dict[str, str] = {
    "demographic_parity_difference": "the share of rows predicted positive (selection rate)",
    "equal_opportunity_difference": "the share of true positives the model finds (TPR)",
    "equalized_odds_difference": "the larger of the TPR gap and the false-positive-rate gap",
}
"""The classification differences and what each compares, in plain words."""
GAPS: dict[str, str] = {"mae_gap": "mae", "rmse_gap": "rmse"}
"""The regression gaps and the per-group error each compares."""
MIN_GROUP_ROWS = 10
"""A group with fewer rows gets a warning: its rates are too noisy to compare."""
Stat = Callable[[np.ndarray], dict[str, np.ndarray]]
"""``stat(idx)`` (``idx``: ``B x n`` row indices) -> ``{name: B values}``."""


def group_codes(groups: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Integer code of each row's group and the sorted group names (``names[code]``)."""
    names = sorted({str(g) for g in groups})
    lookup = {g: i for i, g in enumerate(names)}
    return np.array([lookup[str(g)] for g in groups], dtype=np.int64), names


def _per_group_counts(code: np.ndarray, mask: np.ndarray, n_groups: int) -> np.ndarray:
    """``B x G`` counts of ``mask`` per resample and group (``code``: ``B x n`` group codes)."""
    b = code.shape[0]
    flat = (np.arange(b)[:, None] * n_groups + code)[mask]
    return np.bincount(flat, minlength=b * n_groups).reshape(b, n_groups).astype(float)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _spread(values: np.ndarray) -> np.ndarray:
    """Largest minus smallest finite value per row (NaN with fewer than two)."""
    ok = np.isfinite(values)
    hi = np.where(ok, values, -np.inf).max(1)
    lo = np.where(ok, values, np.inf).min(1)
    return np.where(ok.sum(1) >= 2, hi - lo, np.nan)


def rate_kernel(y: np.ndarray, pred: np.ndarray, code: np.ndarray, n_groups: int) -> Stat:
    """The three differences on a batch of resamples (binary ``y`` / ``pred``: 0/1)."""

    def stat(idx: np.ndarray) -> dict[str, np.ndarray]:
        yi, pi, ci = y[idx], pred[idx], code[idx]
        counts = {k: _per_group_counts(ci, m, n_groups) for k, m in {
            "n": np.ones(yi.shape, bool), "pos": yi == 1, "neg": yi == 0, "sel": pi == 1,
            "tp": (yi == 1) & (pi == 1), "fp": (yi == 0) & (pi == 1)}.items()}
        tpr_gap = _spread(_ratio(counts["tp"], counts["pos"]))
        fpr_gap = _spread(_ratio(counts["fp"], counts["neg"]))
        return {"demographic_parity_difference": _spread(_ratio(counts["sel"], counts["n"])),
                "equal_opportunity_difference": tpr_gap,
                "equalized_odds_difference": _nanmax_pair(tpr_gap, fpr_gap)}

    return stat


def _nanmax_pair(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Element-wise max, NaN when either is NaN (both rates must be defined)."""
    return np.where(np.isfinite(a) & np.isfinite(b), np.maximum(a, b), np.nan)


def error_kernel(y: np.ndarray, pred: np.ndarray, code: np.ndarray, n_groups: int) -> Stat:
    """The MAE and RMSE gaps between groups on a batch of resamples."""
    abs_err, sq_err = np.abs(y - pred), (y - pred) ** 2

    def stat(idx: np.ndarray) -> dict[str, np.ndarray]:
        ci = code[idx]
        b = ci.shape[0]
        flat = (np.arange(b)[:, None] * n_groups + ci).ravel()
        shape = (b, n_groups)
        n = np.bincount(flat, minlength=b * n_groups).reshape(shape).astype(float)
        mae = _ratio(np.bincount(flat, abs_err[idx].ravel(), b * n_groups).reshape(shape), n)
        mse = _ratio(np.bincount(flat, sq_err[idx].ravel(), b * n_groups).reshape(shape), n)
        return {"mae_gap": _spread(mae), "rmse_gap": _spread(np.sqrt(mse))}

    return stat


def _intervals(stat: Stat, n: int, n_bootstrap: int, ci: float, seed: int,
               bounds: tuple[float, float]) -> dict[str, dict[str, Any]]:
    """Point value and bootstrap interval of every statistic of ``stat``."""
    theta = {k: float(v[0]) for k, v in stat(np.arange(n)[None, :]).items()}
    boot = [stat(idx) for idx in bootstrap_indices(n, n_bootstrap, 1, seed)]
    jack = [stat(idx) for idx in jackknife_indices(n, seed, 1)]
    out = {}
    for name, value in theta.items():
        interval, method = bca_interval(
            np.concatenate([b[name] for b in boot]), value,
            np.concatenate([j[name] for j in jack]) if jack else np.zeros(0), ci, bounds)
        out[name] = {"value": value, "ci95": interval, "ci_method": method, "ci_level": ci}
    return out


def _roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float:
    return float(roc_auc_score(y_true, y_score)) if len(np.unique(y_true)) == 2 else math.nan


def _group_rows(frame: MetricFrame, names: list[str]) -> list[dict[str, Any]]:
    table = frame.by_group
    return [{"group": g, **{k: int(table.loc[g, k]) if k == "count" else float(table.loc[g, k])
                            for k in table.columns}} for g in names]


def classification_fairness(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[str],
                            y_score: np.ndarray | None = None, *, tolerance: float = 0.1,
                            n_bootstrap: int = 1000, ci: float = 0.95,
                            seed: int = 0) -> dict[str, Any]:
    """Per-group metrics and the three differences with CIs and verdicts (binary task).

    Parameters
    ----------
    y_true, y_pred
        0/1 labels and hard predictions, shape ``n``.
    groups
        Group name of each row.
    y_score
        Scores / probabilities of the positive class (``roc_auc``); None: no AUC.
    tolerance
        The largest difference of rates called fair (see the module docstring).

    Returns
    -------
    dict
        ``{"task": "binary", "groups": [{"group", "count", "accuracy", "tpr", "fpr",
        "selection_rate", "roc_auc"}], "overall": {...}, "differences": {name: {"value",
        "ci95", "ci_method", "ci_level", "verdict", "text"}}, "warnings": [...]}``.
    """
    y, p = np.asarray(y_true, dtype=int), np.asarray(y_pred, dtype=int)
    code, names = group_codes(groups)
    metrics = {"count": count, "accuracy": accuracy_score, "tpr": true_positive_rate,
               "fpr": false_positive_rate, "selection_rate": selection_rate}
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=p, sensitive_features=np.array(
        names, dtype=object)[code])
    rows = _group_rows(frame, names)
    overall = {k: int(v) if k == "count" else float(v) for k, v in frame.overall.items()}
    if y_score is not None:
        s = np.asarray(y_score, dtype=float)
        auc = MetricFrame(metrics={"roc_auc": _roc_auc}, y_true=y, y_pred=s,
                          sensitive_features=np.array(names, dtype=object)[code])
        for row in rows:
            row["roc_auc"] = float(auc.by_group.loc[row["group"], "roc_auc"])
        overall["roc_auc"] = float(auc.overall["roc_auc"])
    warnings = _undefined_rates(rows, y, code)
    diffs = _intervals(rate_kernel(y, p, code, len(names)), len(y), n_bootstrap, ci, seed,
                       (0.0, 1.0))
    for name, entry in diffs.items():
        entry.update(rate_verdict(name, entry, rows, tolerance))
    return {"task": "binary", "groups": rows, "overall": overall, "differences": diffs,
            "tolerance": tolerance, "warnings": warnings + small_group_warnings(rows)}


def _undefined_rates(rows: list[dict[str, Any]], y: np.ndarray,
                     code: np.ndarray) -> list[str]:
    """Set TPR (FPR) of a group without positives (negatives) to NaN; one warning each."""
    out = []
    for i, row in enumerate(rows):
        for rate, label, what in (("tpr", 1, "positive"), ("fpr", 0, "negative")):
            if not np.any((code == i) & (y == label)):
                row[rate] = math.nan
                out.append(f"group {row['group']!r} has no {what} label: its {rate.upper()} is "
                           "undefined and left out of the differences")
    return out


def small_group_warnings(rows: list[dict[str, Any]]) -> list[str]:
    """A warning for each group with fewer than :data:`MIN_GROUP_ROWS` rows."""
    return [f"group {r['group']!r} has only {int(r['count'])} rows: its metrics are too noisy "
            "to compare" for r in rows if r["count"] < MIN_GROUP_ROWS]


def _extremes(rows: list[dict[str, Any]], key: str) -> tuple[dict, dict] | None:
    ok = [r for r in rows if math.isfinite(r.get(key, math.nan))]
    if len(ok) < 2:
        return None
    ranked = sorted(ok, key=lambda r: r[key])
    return ranked[-1], ranked[0]


def _level(entry: dict[str, Any], tolerance: float) -> str:
    lo, hi = entry["ci95"]
    if not math.isfinite(entry["value"]):
        return "undefined"
    if math.isfinite(hi) and hi <= tolerance:
        return "ok"
    if math.isfinite(lo) and lo > tolerance:
        return "gap"
    return "uncertain"


def _verdict_text(level: str, entry: dict[str, Any], gap_words: str, limit: str) -> str:
    lo, hi = entry["ci95"]
    shown = f"{entry['value']:.3f} (95% CI {lo:.3f} to {hi:.3f})"
    return {"ok": f"fair within {limit}: the difference is {shown}; {gap_words}.",
            "gap": f"a gap beyond {limit}: the difference is {shown}; {gap_words}.",
            "uncertain": f"not conclusive: the difference is {shown}, and the interval spans "
                         f"{limit}; {gap_words}. More rows per group would tell.",
            }[level]


def rate_verdict(name: str, entry: dict[str, Any], rows: list[dict[str, Any]],
                 tolerance: float) -> dict[str, str]:
    """``{"verdict": ok | gap | uncertain | undefined, "text": one plain sentence}``."""
    level = _level(entry, tolerance)
    key = {"demographic_parity_difference": "selection_rate",
           "equal_opportunity_difference": "tpr"}.get(name)
    if key is None:  # equalized odds: the larger of the two gaps
        gaps = {k: _extremes(rows, k) for k in ("tpr", "fpr")}
        widths = {k: (e[0][k] - e[1][k]) if e else -1.0 for k, e in gaps.items()}
        key = max(widths, key=lambda k: widths[k])
    ends = _extremes(rows, key)
    if level == "undefined" or ends is None:
        return {"verdict": "undefined", "text": f"undefined: fewer than two groups have a "
                f"defined {key.upper()}."}
    (hi_row, lo_row), label = ends, {"tpr": "TPR", "fpr": "false-positive rate",
                                      "selection_rate": "selection rate"}[key]
    words = (f"{label} is {hi_row[key]:.2f} for {hi_row['group']!r} and "
             f"{lo_row[key]:.2f} for {lo_row['group']!r}")
    return {"verdict": level, "text": _verdict_text(level, entry, words,
                                                    f"the tolerance {tolerance:g}")}


def regression_fairness(y_true: np.ndarray, y_pred: np.ndarray, groups: Sequence[str], *,
                        tolerance: float = 0.2, n_bootstrap: int = 1000, ci: float = 0.95,
                        seed: int = 0) -> dict[str, Any]:
    """Per-group MAE / RMSE and the gaps between groups with CIs and verdicts.

    ``tolerance`` is a share of the overall error: a MAE gap is ``ok`` when its interval lies
    below ``tolerance x overall MAE`` (the same for RMSE).

    Returns
    -------
    dict
        ``{"task": "regression", "groups": [{"group", "count", "mae", "rmse"}], "overall",
        "differences": {"mae_gap" | "rmse_gap": {"value", "ci95", ..., "verdict", "text"}},
        "warnings"}``.
    """
    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    code, names = group_codes(groups)
    metrics = {"count": count, "mae": _mae, "rmse": _rmse}
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=p,
                        sensitive_features=np.array(names, dtype=object)[code])
    rows = _group_rows(frame, names)
    overall = {k: int(v) if k == "count" else float(v) for k, v in frame.overall.items()}
    gaps = _intervals(error_kernel(y, p, code, len(names)), len(y), n_bootstrap, ci, seed,
                      (0.0, math.inf))
    for name, entry in gaps.items():
        metric = GAPS[name]
        limit = tolerance * overall[metric]
        level = _level(entry, limit)
        ends = _extremes(rows, metric)
        if level == "undefined" or ends is None:
            entry.update(verdict="undefined", text="undefined: fewer than two groups.")
            continue
        words = (f"{metric.upper()} is {ends[0][metric]:.3g} for {ends[0]['group']!r} (worst) "
                 f"and {ends[1][metric]:.3g} for {ends[1]['group']!r} (best)")
        entry.update(verdict=level, text=_verdict_text(
            level, entry, words, f"{tolerance:.0%} of the overall {metric.upper()} "
                                 f"({limit:.3g})"))
    return {"task": "regression", "groups": rows, "overall": overall, "differences": gaps,
            "tolerance": tolerance, "warnings": small_group_warnings(rows)}


def _mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y_true) - np.asarray(y_pred))))


def _rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y_true) - np.asarray(y_pred)) ** 2)))
