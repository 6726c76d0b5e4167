"""What ranks a screened row: one score column per target and its direction; the fixed column
types of the screened rows (so that every chunk file has the same Parquet schema).

Score columns (:func:`scifm.evaluation.tables.prediction_columns`):

* binary: ``prob_<target>`` (probability of the positive class), best = ``max`` by default;
* multiclass: ``prob_<class>`` for each class named as a target (default: every class), ``max``;
* regression: ``pred_<target>``; there is no natural direction, so ``--direction`` is required.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from scifm.errors import ConfigError
from scifm.tasks import TaskSpec

Direction = Literal["max", "min"]

__all__ = ["Direction", "Target", "score_targets", "typed"]

_FLOAT_PREFIXES = ("prob_", "cal_prob_", "lower_", "upper_", "uncertainty_", "spread_",
                   "nn_similarity", "score", "fast_score")
_TEXT = ("id", "input", "canonical", "status", "error")


@dataclass(frozen=True)
class Target:
    """One ranking: the best rows by ``column`` in ``direction``."""

    name: str
    """The target (or, multiclass, the class) name, written to the hits' ``target`` column."""
    column: str
    """The prediction column that is the score."""
    direction: Direction
    """``max``: high scores first; ``min``: low scores first."""


def score_targets(task: TaskSpec, targets: list[str] | None,
                  direction: Direction | None) -> list[Target]:
    """The rankings of a screen.

    Parameters
    ----------
    task
        The run's task.
    targets
        Target names (multiclass: class names); None or empty: every target (every class).
    direction
        ``max`` / ``min``; None: ``max`` for classification, an error for regression.

    Raises
    ------
    ConfigError
        An unknown target, or a regression run without a direction.
    """
    names = list(task.classes) if task.task_type == "multiclass" else list(task.target_cols)
    chosen = targets or names
    unknown = [t for t in chosen if t not in names]
    if unknown:
        what = "classes" if task.task_type == "multiclass" else "targets"
        raise ConfigError(f"--target {', '.join(unknown)}: not in the run's {what} "
                          f"({', '.join(names)})")
    if direction is None:
        if task.task_type == "regression":
            raise ConfigError("--direction is required for a regression run: max (highest "
                              "predicted value first) or min (lowest first)")
        direction = "max"
    if direction not in ("max", "min"):
        raise ConfigError(f"--direction {direction!r}: use max or min")
    prefix = "pred_" if task.task_type == "regression" else "prob_"
    return [Target(t, prefix + t, direction) for t in chosen]


def typed(frame: pd.DataFrame, task: TaskSpec) -> pd.DataFrame:
    """``frame`` with fixed column types whatever its rows (all invalid, all valid): ``row_id``
    int64, text columns as strings (None kept), numeric prediction columns float64,
    ``in_domain`` nullable boolean, ``ro5_violations`` nullable integer."""
    out = {}
    for name, values in frame.items():
        col = str(name)
        if col == "row_id":
            out[col] = values.astype("int64")
        elif col == "in_domain" or col == "flagged":
            out[col] = values.astype("boolean")
        elif col == "ro5_violations":
            out[col] = pd.to_numeric(values).astype("Int64")
        elif (col.startswith(_FLOAT_PREFIXES)
              or (col.startswith("pred_") and task.task_type == "regression")):
            out[col] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif col in _TEXT or col.startswith(("pred_", "set_")) or values.dtype == object:
            out[col] = values.map(lambda v: None if _missing(v) else str(v)).astype(object)
        else:
            out[col] = values
    return pd.DataFrame(out, index=frame.index)


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
