"""How good the uncertainty is, measured on labelled rows (the test split), every figure with its
bootstrap interval (:func:`scifm.evaluation.intervals.statistic_interval`).

Per target:

* regression: empirical ``coverage`` of the intervals (nominal: the layer's confidence),
  ``mean_width`` (finite intervals), the conformal method;
* classification: ``ece_before`` / ``ece_after`` (top-class expected calibration error of the
  raw and calibrated probabilities), reliability bins before/after, ``set_coverage`` (the true
  label is in the prediction set), ``mean_set_size``, the calibrator;
* both: how well the uncertainty ranks the errors: ``spearman`` (uncertainty vs absolute error,
  regression, or vs ``1 - p(true)``, classification) and ``auroc_worst10`` (the uncertainty as a
  score for the rows whose error is in the worst 10%).

And the applicability domain: its threshold, the share of rows in domain, the error in and out
of domain and the error by similarity bin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import rankdata

from scifm.evaluation.intervals import statistic_interval
from scifm.trust.calibration import N_BINS, reliability_bins, top_class
from scifm.trust.domain import error_by_similarity
from scifm.trust.uncertainty import Applied, Uncertainty

WORST_SHARE = 0.1
"""``auroc_worst10``: the rows whose error is at or above this upper quantile are the positives."""


def mean_of(x: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The statistic "mean of ``x`` over the resampled rows" (NaN entries skipped)."""
    x = np.asarray(x, float)

    def stat(idx: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.nanmean(x[idx], axis=1)

    return stat


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(all="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def spearman_of(u: np.ndarray, e: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Spearman correlation of ``u`` and ``e`` on each resample (NaN when one is constant)."""

    def stat(idx: np.ndarray) -> np.ndarray:
        return _pearson_rows(rankdata(u[idx], axis=1), rankdata(e[idx], axis=1))

    return stat


def auroc_of(score: np.ndarray, positive: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """ROC-AUC of ``score`` for the ``positive`` rows on each resample (Mann-Whitney; NaN when
    a resample has one class only)."""
    pos = np.asarray(positive, bool)

    def stat(idx: np.ndarray) -> np.ndarray:
        ranks = rankdata(score[idx], axis=1)
        p = pos[idx]
        n1 = p.sum(axis=1).astype(float)
        n0 = p.shape[1] - n1
        with np.errstate(all="ignore"):
            auc = ((ranks * p).sum(axis=1) - n1 * (n1 + 1) / 2) / (n1 * n0)
        return np.where((n1 > 0) & (n0 > 0), auc, np.nan)

    return stat


def ece_of(p: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The expected calibration error (:func:`~scifm.trust.calibration.
    expected_calibration_error`) on each resample: the sum over bins of ``|sum(right - conf)|``
    divided by the rows."""
    conf, right = top_class(p, y)
    gap = right.astype(float) - conf
    which = np.clip(np.digitize(conf, np.linspace(0, 1, N_BINS + 1)[1:-1], right=True), 0,
                    N_BINS - 1)

    def stat(idx: np.ndarray) -> np.ndarray:
        b, m = idx.shape
        flat = (which[idx] + N_BINS * np.arange(b)[:, None]).ravel()
        sums = np.bincount(flat, weights=gap[idx].ravel(), minlength=b * N_BINS)
        return np.abs(sums.reshape(b, N_BINS)).sum(axis=1) / m

    return stat


def _ranking(u: np.ndarray, e: np.ndarray, boot: dict[str, Any]) -> dict[str, Any]:
    worst = e >= np.quantile(e, 1 - WORST_SHARE)
    return {"spearman": statistic_interval(spearman_of(u, e), len(e), bounds=(-1.0, 1.0),
                                           **boot),
            "auroc_worst10": statistic_interval(auroc_of(u, worst), len(e), bounds=(0.0, 1.0),
                                                **boot)}


def _regression(j: int, a: Applied, y: np.ndarray, p: np.ndarray,
                boot: dict[str, Any]) -> dict[str, Any]:
    lo, hi = a.lower[:, j], a.upper[:, j]
    inside = ((lo <= y) & (y <= hi)).astype(float)
    width = hi - lo
    finite = np.isfinite(width)
    return {"coverage": statistic_interval(mean_of(inside), len(y), bounds=(0.0, 1.0), **boot),
            "mean_width": statistic_interval(mean_of(np.where(finite, width, np.nan)), len(y),
                                             bounds=(0.0, np.inf), **boot),
            "infinite_intervals": int((~finite).sum()),
            **_ranking(a.uncertainty[:, j], np.abs(y - p[:, j]), boot)}


def _classification(j: int, a: Applied, y: np.ndarray, raw: np.ndarray, cal: np.ndarray,
                    boot: dict[str, Any]) -> dict[str, Any]:
    yi = y.astype(int)
    sets = a.sets[j]
    probs = cal if cal.ndim == 2 else np.stack([1 - cal, cal], axis=1)
    covered = sets[np.arange(len(yi)), yi].astype(float)
    size = sets.sum(axis=1).astype(float)
    err = 1.0 - probs[np.arange(len(yi)), yi]
    n = len(yi)
    return {"ece_before": statistic_interval(ece_of(raw, yi), n, bounds=(0.0, 1.0), **boot),
            "ece_after": statistic_interval(ece_of(cal, yi), n, bounds=(0.0, 1.0), **boot),
            "set_coverage": statistic_interval(mean_of(covered), n, bounds=(0.0, 1.0), **boot),
            "mean_set_size": float(size.mean()),
            "singleton_share": float((size == 1).mean()),
            "reliability_before": reliability_bins(raw, yi),
            "reliability_after": reliability_bins(cal, yi),
            **_ranking(a.uncertainty[:, j], err, boot)}


def _row_error(layer: Uncertainty, a: Applied, y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """One error per row, averaged over its labelled targets: absolute error (regression) or
    ``1 - p(true)`` (classification, calibrated)."""
    if layer.task.task_type == "regression":
        return np.nanmean(np.abs(y - p), axis=1) if y.size else np.zeros(0)
    if layer.task.task_type == "multiclass":
        ok = ~np.isnan(y[:, 0])
        out = np.full(len(y), np.nan)
        out[ok] = 1.0 - a.calibrated[ok][np.arange(ok.sum()), y[ok, 0].astype(int)]
        return out
    return np.nanmean(np.abs(y - a.calibrated), axis=1)


def domain_measures(layer: Uncertainty, a: Applied, y: np.ndarray,
                    p: np.ndarray) -> dict[str, Any] | None:
    """Threshold, share in domain, error in / out of domain and by similarity bin."""
    if layer.domain is None or a.similarity is None:
        return None
    with np.errstate(all="ignore"):
        err = _row_error(layer, a, y, p)
    inside = layer.domain.in_domain(a.similarity)
    ok = np.isfinite(err)

    def mean(m: np.ndarray) -> float | None:
        return float(err[m & ok].mean()) if (m & ok).any() else None

    return {"similarity": layer.domain.name, "metric": layer.domain.metric,
            "threshold": layer.domain.threshold, "quantile": layer.domain.quantile,
            "share_in_domain": float(inside.mean()) if len(inside) else None,
            "error_in_domain": mean(inside), "error_out_of_domain": mean(~inside),
            "error_kind": ("absolute error" if layer.task.task_type == "regression"
                           else "1 - calibrated p(true class)"),
            "by_similarity": error_by_similarity(a.similarity, err)}


def uncertainty_measures(layer: Uncertainty, y: np.ndarray, p: np.ndarray, a: Applied,
                         n_bootstrap: int = 1000, ci: float = 0.95,
                         seed: int = 0) -> dict[str, Any]:
    """Every measure of the module doc on labelled rows ``y`` predicted ``p``, with the layer
    applied to them (``a``: :meth:`~scifm.trust.uncertainty.Uncertainty.apply`)."""
    y = np.asarray(y, float).reshape(len(y), -1)
    boot = {"n_bootstrap": n_bootstrap, "ci": ci, "seed": seed}
    targets: dict[str, Any] = {}
    for j, t in enumerate(layer.task.target_cols):
        m = ~np.isnan(y[:, j])
        note = dict(layer.notes.get(t, {}))
        if "skipped" in note or not m.any():
            targets[t] = {**note, "n": int(m.sum())}
            continue
        sub = Applied(a.calibrated[m], a.lower[m], a.upper[m],
                      [None if s is None else s[m] for s in a.sets], a.uncertainty[m],
                      None if a.similarity is None else a.similarity[m])  # spread: not needed
        if layer.task.task_type == "regression":
            vals = _regression(j, sub, y[m, j], p[m], boot)
        else:
            multi = layer.task.task_type == "multiclass"
            raw = p[m] if multi else p[m, j]
            cal = sub.calibrated if multi else sub.calibrated[:, j]
            vals = _classification(j, sub, y[m, j], raw, cal, boot)
        targets[t] = {"n": int(m.sum()), **note, **vals}
    return {"confidence": layer.confidence, "targets": targets,
            "domain": domain_measures(layer, a, y, np.asarray(p, float))}
