"""The rows a fairness audit compares: labels, predictions, scores, groups.

:class:`AuditRows` is what :mod:`scifm.recipes.audit` hands to :mod:`scifm.trust.fairness`,
whether the predictions come from a run's model or from a predictions file
(:func:`rows_from_predictions`). A predictions file has the columns of
:func:`scifm.evaluation.tables.prediction_frame` (what ``scifm evaluate`` writes as
``predictions.csv`` and a training run as ``predictions_test.csv``) plus the group column:

* ``true_<target>`` — the label (needed);
* binary targets: ``prob_<target>`` (probability of the positive class) and / or
  ``pred_<target>`` (the predicted label; default ``prob >= 0.5``); labels are 0/1, or two class
  names with ``positive`` naming the positive one;
* regression targets: ``pred_<target>`` (numbers);
* optional: ``canonical`` or ``input`` (each row's key: the input of ``derived:scaffold`` and
  of the mitigated decisions), ``status`` (rows not ``ok`` are left out).

The task is binary when there is a ``prob_<target>`` column or the labels take two values,
regression when the labels are numbers taking more values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from scifm.errors import ConfigError, DataError

__all__ = ["AuditRows", "positive_codes", "rows_from_predictions"]


@dataclass
class AuditRows:
    """Aligned per-row arrays of one audited target."""

    task_type: str
    """``binary`` or ``regression``."""
    target: str
    """The target column audited."""
    y: np.ndarray
    """Labels: 0/1 (binary) or values, shape ``n``."""
    pred: np.ndarray
    """Hard predictions: 0/1 (binary) or values, shape ``n``."""
    score: np.ndarray | None
    """Probability of the positive class (binary), shape ``n``; None when not known."""
    keys: list[str]
    """The input of each row (the row number when unknown): key of the mitigated decisions and
    input of ``derived:scaffold``."""
    frame: pd.DataFrame
    """The rows' other columns (the group column among them), index ``0..n-1``."""
    positive: str = "1"
    """The name of the positive class (binary)."""
    notes: list[str] = field(default_factory=list)
    """What was left out and why (one line each)."""

    def subset(self, keep: np.ndarray) -> AuditRows:
        """The rows where ``keep`` is True."""
        return AuditRows(self.task_type, self.target, self.y[keep], self.pred[keep],
                         None if self.score is None else self.score[keep],
                         [k for k, m in zip(self.keys, keep, strict=True) if m],
                         self.frame[keep].reset_index(drop=True), self.positive,
                         list(self.notes))


def _choose_target(frame: pd.DataFrame, target: str | None, source: str) -> str:
    found = [str(c)[5:] for c in frame.columns if str(c).startswith("true_")]
    if target is not None:
        if target not in found:
            raise DataError(f"no labels for target {target!r} in {source}: it needs a column "
                            f"true_{target}" + (f" (found: {', '.join(found)})" if found else ""))
        return target
    if not found:
        raise DataError(f"no labels in {source}: a predictions file needs true_<target> "
                        "columns (scifm evaluate writes them)")
    if len(found) > 1:
        raise ConfigError(f"{source} has several targets ({', '.join(found)}): choose one "
                          "with --target")
    return found[0]


def _label_text(values: pd.Series) -> pd.Series:
    """Labels as text, integral numbers without decimals (``1.0`` -> ``"1"``)."""
    def one(v: Any) -> Any:
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
            return str(int(v)) if float(v).is_integer() else str(v)
        return None if v is None else str(v).strip()
    return values.map(one)


def positive_codes(labels: pd.Series, positive: str | None, what: str) -> tuple[np.ndarray, str]:
    """0/1 codes of two-valued labels and the positive class's name.

    ``positive`` names the positive class; by default ``1`` (labels 0/1, ``true`` / ``false``
    ...) or ``yes`` / ``true`` / ``positive``; otherwise it must be given.

    Raises
    ------
    ConfigError
        More than two values, or a positive class that cannot be told.
    """
    text = _label_text(labels)
    values = sorted({v for v in text if v})
    if len(values) > 2:
        raise ConfigError(f"{what} takes {len(values)} values ({', '.join(values[:5])}): the "
                          "fairness audit supports binary and regression targets")
    if positive is None:
        guesses = [v for v in values if v.lower() in ("1", "true", "yes", "positive")]
        if len(guesses) != 1:
            raise ConfigError(f"{what} has the classes {values}: name the positive one with "
                              "--positive")
        positive = guesses[0]
    return (text == positive).to_numpy(dtype=int), positive


def _is_numeric(values: pd.Series) -> bool:
    return bool(pd.to_numeric(values, errors="coerce").notna().all())


def rows_from_predictions(frame: pd.DataFrame, source: str, target: str | None = None,
                          positive: str | None = None) -> AuditRows:
    """The audited rows of a predictions file (columns: see the module docstring).

    Raises
    ------
    DataError
        No ``true_<target>`` column, no ``pred_`` / ``prob_`` column, or no labelled row.
    ConfigError
        Several targets and no ``target``, more than two classes, an unknown positive class.
    """
    name = _choose_target(frame, target, source)
    true_col, pred_col, prob_col = f"true_{name}", f"pred_{name}", f"prob_{name}"
    if pred_col not in frame.columns and prob_col not in frame.columns:
        raise DataError(f"no predictions in {source}: it needs {pred_col} or {prob_col}")
    keep = frame[true_col].notna() & (frame[true_col].astype(str).str.strip() != "")
    keep &= frame[prob_col if prob_col in frame.columns else pred_col].notna()
    if "status" in frame.columns:
        keep &= frame["status"].astype(str) == "ok"
    notes = [f"{int((~keep).sum())} rows without a label or a prediction left out"] \
        if (~keep).any() else []
    rows = frame[keep].reset_index(drop=True)
    if rows.empty:
        raise DataError(f"no labelled rows in {source}: every {true_col} is empty")
    key_col = next((c for c in ("canonical", "input") if c in rows.columns), None)
    keys = rows[key_col].astype(str).tolist() if key_col else [str(i) for i in rows.index]
    labels = rows[true_col]
    binary = prob_col in rows.columns or _label_text(labels).nunique() <= 2 \
        or not _is_numeric(labels)
    if not binary:
        return AuditRows("regression", name, pd.to_numeric(labels).to_numpy(float),
                         pd.to_numeric(rows[pred_col]).to_numpy(float), None, keys, rows,
                         notes=notes)
    y, pos = positive_codes(labels, positive, f"{true_col} of {source}")
    score = pd.to_numeric(rows[prob_col]).to_numpy(float) if prob_col in rows.columns else None
    pred = (_label_text(rows[pred_col]) == pos).to_numpy(int) if pred_col in rows.columns \
        else (score >= 0.5).astype(int)  # type: ignore[operator]
    return AuditRows("binary", name, y, pred, score, keys, rows, pos, notes)
