"""Prediction tables: one row per input, true and predicted values side by side."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from scifm.tasks import TaskSpec


def prediction_columns(task: TaskSpec, y_pred: np.ndarray) -> dict[str, np.ndarray]:
    """Columns for predictions of shape ``n x n_outputs``.

    Regression: ``pred_<target>``; binary: ``pred_<target>`` (label) and ``prob_<target>``
    (probability of the positive class); multiclass: ``pred_<target>`` and ``prob_<class>``.
    """
    cols: dict[str, np.ndarray] = {}
    labels = task.decode(y_pred)
    for j, name in enumerate(task.target_cols):
        cols[f"pred_{name}"] = labels[:, j]
        if task.task_type == "binary":
            cols[f"prob_{name}"] = y_pred[:, j]
    if task.task_type == "multiclass":
        for k, cls in enumerate(task.classes):
            cols[f"prob_{cls}"] = y_pred[:, k]
    return cols


def true_columns(task: TaskSpec, y_true: np.ndarray) -> dict[str, np.ndarray]:
    """``true_<target>`` columns decoded to class names (classification) or values."""
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(task.target_cols):
        col = y_true[:, j]
        if task.is_classification:
            names = np.asarray(task.classes or ["0", "1"], dtype=object)
            decoded = np.full(len(col), None, dtype=object)
            ok = ~np.isnan(col)
            decoded[ok] = names[col[ok].astype(int)]
            cols[f"true_{name}"] = decoded
        else:
            cols[f"true_{name}"] = col
    return cols


def prediction_frame(
    task: TaskSpec,
    ids: Sequence[str],
    inputs: Sequence[object],
    y_pred: np.ndarray,
    y_true: np.ndarray | None = None,
) -> pd.DataFrame:
    """``id, input, true_*, pred_*, prob_*`` for a set of predicted rows (a datapoint's
    ``input`` is its primary input)."""
    data: dict[str, object] = {"id": list(ids), "input": [str(x) for x in inputs]}
    if y_true is not None:
        data.update(true_columns(task, y_true))
    data.update(prediction_columns(task, y_pred))
    return pd.DataFrame(data)
