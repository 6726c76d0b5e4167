"""Is a model's output worth its metrics? Flags predictions that collapsed to one value or class.

A model that predicts the same class for every row, or probabilities / values that barely vary,
can still print an ROC-AUC or RMSE that looks like a result. :func:`collapse_warnings` names such
a model in one line per target with the evidence (share of rows, spread, MCC / ROC-AUC / R²), so
the CLI summary, ``metrics.json`` and the report say it where a reviewer would.

Thresholds (per target column; rows whose label or prediction is missing are left out):

* classification: one predicted class (argmax / p >= 0.5) for every row while the labels hold
  several classes, or for >= :data:`MAJORITY_SHARE` of at least :data:`MIN_ROWS_SHARE` rows while
  the labels are less lopsided; predicted probabilities whose standard deviation over the rows
  is below :data:`PROB_STD` (the same output for every input);
* regression: (numerically) one value for every row, or a standard deviation below
  :data:`REG_STD_RATIO` of the labels' standard deviation;
* predictions that are NaN / infinite are counted and named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scifm.tasks import TaskSpec

__all__ = ["MAJORITY_SHARE", "MIN_ROWS_SHARE", "PROB_STD", "REG_STD_RATIO", "collapse_warnings",
           "token_collapse_warnings"]

MAJORITY_SHARE = 0.95
"""One predicted class for at least this share of the rows is "nearly one class"."""
MIN_ROWS_SHARE = 20
"""The share rule needs at least this many rows (below it only "every row" counts)."""
PROB_STD = 0.01
"""Predicted probabilities with a standard deviation below this barely vary."""
REG_STD_RATIO = 0.05
"""Regression predictions with a standard deviation below this share of the labels' barely vary."""
MIN_ROWS = 2


def collapse_warnings(task: TaskSpec, y_pred: np.ndarray, y_true: np.ndarray | None = None,
                      metrics: Mapping[str, Any] | None = None,
                      split: str = "test") -> list[str]:
    """Warnings for predictions that collapsed to (nearly) one class or value.

    Parameters
    ----------
    task
        The task (encoding of :mod:`scifm.tasks`).
    y_pred
        ``n x n_outputs`` predictions (probabilities or values).
    y_true
        ``n x n_tasks`` labels (NaN = missing), when known: rows without a label are left out,
        and the labels say whether one class / a narrow spread is what the data hold.
    metrics
        The metrics of these predictions (``compute_metrics`` or ``evaluate_predictions``
        output), quoted as evidence (MCC and ROC-AUC, or R²).
    split
        The rows' name in the messages (``test``, ``validation``, ``evaluated``).

    Returns
    -------
    list[str]
        One line per collapsed target, e.g. ``predicts class 1 for 205/205 test rows (MCC 0.000,
        ROC-AUC 0.488): the model has collapsed to one class``; empty when nothing is wrong.
    """
    pred = np.asarray(y_pred, dtype=float)
    pred = pred.reshape(len(pred), -1)
    true = None if y_true is None else np.asarray(y_true, dtype=float).reshape(len(pred), -1)
    out = []
    if task.task_type == "multiclass":
        labels = None if true is None else true[:, 0]
        out += _check_classes(list(task.classes), pred, labels, _evidence(task, metrics, None),
                              split, "")
        return out
    for j, col in enumerate(task.target_cols):
        prefix = f"target {col!r}: " if task.n_tasks > 1 else ""
        evidence = _evidence(task, metrics, col if task.n_tasks > 1 else None)
        labels = None if true is None else true[:, j]
        if task.task_type == "binary":
            names = list(task.classes) if len(task.classes) == 2 else ["0", "1"]
            probs = np.stack([1.0 - pred[:, j], pred[:, j]], axis=1)
            out += _check_classes(names, probs, labels, evidence, split, prefix)
        else:
            out += _check_values(pred[:, j], labels, evidence, split, prefix)
    return out


def _rows(pred: np.ndarray, labels: np.ndarray | None, split: str,
          prefix: str) -> tuple[np.ndarray, list[str]]:
    """Rows to judge (labelled, when labels are known) and a warning for non-finite outputs."""
    keep = np.ones(len(pred), dtype=bool) if labels is None else np.isfinite(labels)
    finite = np.isfinite(pred).all(axis=1) if pred.ndim == 2 else np.isfinite(pred)
    bad = int((keep & ~finite).sum())
    notes = [f"{prefix}{bad}/{int(keep.sum())} {split} predictions are NaN or infinite"] if bad \
        else []
    return keep & finite, notes


def _check_classes(names: Sequence[str], probs: np.ndarray, labels: np.ndarray | None,
                   evidence: str, split: str, prefix: str) -> list[str]:
    keep, out = _rows(probs, labels, split, prefix)
    probs = probs[keep]
    n = len(probs)
    if n < MIN_ROWS:
        return out
    hard = probs.argmax(axis=1)
    counts = np.bincount(hard, minlength=len(names))
    top = int(counts.argmax())
    share = counts[top] / n
    lab = None if labels is None else labels[keep].astype(int)
    n_label_classes = 2 if lab is None else len(np.unique(lab))
    label_share = 0.0 if lab is None else float((lab == top).mean())
    spread = float(probs.std(axis=0).max())
    flat = spread < PROB_STD
    flat_note = (f"; its predicted probabilities barely vary (std {spread:.4f})" if flat else "")
    what = f"predicts class {names[top]} for {counts[top]}/{n} {split} rows"
    if share >= 1.0 and n_label_classes >= 2:
        return [*out, f"{prefix}{what}{evidence}: the model has collapsed to one class"
                      f"{flat_note}"]
    if (share >= MAJORITY_SHARE and n >= MIN_ROWS_SHARE and label_share < MAJORITY_SHARE):
        evidence = f" (labels: {label_share:.0%} class {names[top]}; {evidence[2:]}" \
            if evidence else f" (labels: {label_share:.0%} class {names[top]})"
        return [*out, f"{prefix}{what}{evidence}: the model has nearly collapsed to one class"
                      f"{flat_note}"]
    if flat:
        p = probs[:, top]
        more = f"; {evidence[2:-1]}" if evidence else ""
        out.append(f"{prefix}predicted probabilities barely vary (class {names[top]}: "
                   f"{p.min():.3f}–{p.max():.3f}, std {spread:.4f} over {n} {split} rows{more})"
                   ": the model gives nearly the same output for every input")
    return out


def _check_values(pred: np.ndarray, labels: np.ndarray | None, evidence: str, split: str,
                  prefix: str) -> list[str]:
    keep, out = _rows(pred, labels, split, prefix)
    p = pred[keep]
    n = len(p)
    if n < MIN_ROWS:
        return out
    sd = float(p.std())
    if sd <= 1e-9 * max(1.0, float(np.abs(p).max())):
        return [*out, f"{prefix}predicts the same value {float(p.mean()):.4g} for all {n} {split}"
                      f" rows{evidence}: the model has collapsed to one value"]
    sd_y = float(labels[keep].std()) if labels is not None else 0.0
    if sd_y > 0 and sd < REG_STD_RATIO * sd_y:
        out.append(f"{prefix}predictions barely vary: std {sd:.3g} vs label std {sd_y:.3g} over "
                   f"{n} {split} rows{evidence}: the model predicts nearly one value")
    return out


def _value(entry: Any) -> float | None:
    v = entry.get("value") if isinstance(entry, Mapping) else entry
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _evidence(task: TaskSpec, metrics: Mapping[str, Any] | None, target: str | None) -> str:
    """`` (MCC 0.000, ROC-AUC 0.488)`` from the metrics of these predictions (empty if none)."""
    if not metrics:
        return ""
    if target is not None:
        metrics = (metrics.get("per_task") or {}).get(target) or {}
    names = (("mcc", "MCC"), ("roc_auc", "ROC-AUC")) if task.is_classification \
        else (("r2", "R²"),)
    parts = [f"{label} {v:.3f}" for key, label in names
             if (v := _value(metrics.get(key))) is not None]
    return f" ({', '.join(parts)})" if parts else ""


def token_collapse_warnings(true_tags: Sequence[Sequence[str | None]],
                            pred_tags: Sequence[Sequence[str]], unit: str = "tokens",
                            split: str = "test") -> list[str]:
    """Token classification: a model that gives (nearly) every scored token one tag.

    ``true_tags`` / ``pred_tags``: one list per sentence or sequence; a true tag ``None`` is an
    unscored position (masked residue). Flags one predicted tag for >= :data:`MAJORITY_SHARE` of
    the scored tokens (of at least :data:`MIN_ROWS_SHARE`) while the labels give that tag to a
    clearly smaller share (e.g. ``O`` for every word of an NER test set that holds entities).
    """
    pairs = [(t, p) for ts, ps in zip(true_tags, pred_tags, strict=False)
             for t, p in zip(ts, ps, strict=False) if t is not None]
    if len(pairs) < MIN_ROWS_SHARE:
        return []
    true = np.asarray([t for t, _ in pairs], dtype=object)
    pred = np.asarray([p for _, p in pairs], dtype=object)
    tags, counts = np.unique(pred.astype(str), return_counts=True)
    top, n_top = str(tags[counts.argmax()]), int(counts.max())
    share, label_share = n_top / len(pred), float((true.astype(str) == top).mean())
    if share < MAJORITY_SHARE or label_share > MAJORITY_SHARE - 0.05:
        return []
    return [f"predicts tag {top!r} for {n_top:,}/{len(pred):,} scored {split} {unit} "
            f"({share:.0%}; the labels give it to {label_share:.0%}): the model has collapsed "
            "to one tag"]
