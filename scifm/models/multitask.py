"""Label conventions shared by the multi-task scikit-learn estimators of scifm
(:class:`~scifm.models.baselines.LGBMTaskModel` and
:class:`~scifm.models.estimators.TaskwiseEstimator`).

Labels are ``n`` or ``n x n_tasks`` floats with NaN for a missing label; multiclass labels are
class indices of one task; a fitted model keeps about ten points of its task-averaged loss curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.utils.validation import check_array

__all__ = ["check_labels", "loss_history", "multiclass_count"]


def check_labels(y: Any, owner: str) -> np.ndarray:
    """``y`` as a float ``n x n_tasks`` array (NaN = missing label).

    Parameters
    ----------
    y
        Labels of shape ``(n,)`` or ``(n, n_tasks)``.
    owner
        Name of the estimator, for the error when ``y`` is None.

    Raises
    ------
    ValueError
        ``y`` is None or not 1-D / 2-D.
    """
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    y = check_array(y, ensure_2d=False, dtype=np.float64, ensure_all_finite="allow-nan",
                    input_name="y")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or n x n_tasks, got shape {y.shape}")
    return y[:, None] if y.ndim == 1 else y


def multiclass_count(y2: np.ndarray, n_classes: int | None) -> int:
    """Number of classes of a one-task multiclass target of class indices.

    Parameters
    ----------
    y2
        Labels, ``n x 1`` (NaN = missing).
    n_classes
        The number given by the user (``None``: ``max(y) + 1``).

    Raises
    ------
    ValueError
        Several target columns, labels that are not indices, or labels out of range.
    """
    if y2.shape[1] != 1:
        raise ValueError("multiclass takes exactly one target column")
    labelled = y2[~np.isnan(y2)]
    if labelled.size and (np.any(labelled < 0) or np.any(labelled % 1)):
        raise ValueError("multiclass labels must be class indices 0..n_classes-1")
    k = int(n_classes or (labelled.max(initial=0) + 1))
    if k < 2 or (labelled.size and labelled.max() >= k):
        raise ValueError(f"multiclass labels must lie in 0..{k - 1}")
    return k


def loss_history(curves: list[dict[str, list[float]]]) -> list[dict[str, Any]]:
    """About ten points of the task-averaged train/val loss curves.

    Parameters
    ----------
    curves
        One ``{"train": [loss per round], "val": [...]}`` per task (``val`` optional).

    Returns
    -------
    list of dict
        ``{"epoch": round, "train_loss": ..., "val_loss": ...}`` rows (``val_loss`` when some
        task has a validation curve); empty without rounds.
    """
    n_rounds = max((len(c.get("train", [])) for c in curves), default=0)
    if n_rounds == 0:
        return []
    rounds = np.unique(np.ceil(np.linspace(n_rounds / 10, n_rounds, 10)).astype(int)).tolist()

    def at(name: str, r: int) -> float | None:
        values = [c[name][min(r, len(c[name])) - 1] for c in curves if c.get(name)]
        return float(np.mean(values)) if values else None

    history = []
    for r in rounds:
        row: dict[str, Any] = {"epoch": r, "train_loss": at("train", r)}
        if (val := at("val", r)) is not None:
            row["val_loss"] = val
        history.append(row)
    return history
