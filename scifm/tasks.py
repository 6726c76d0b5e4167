"""What is being predicted: the task type, the target columns and the label encoding.

A :class:`TaskSpec` travels with every model (it is saved in ``model/scifm.json``) so that a run
directory alone is enough to decode predictions.

Label encoding used everywhere in scifm
---------------------------------------
``y`` is a float array of shape ``n_samples x n_tasks``; ``NaN`` marks a missing label.

* ``regression``: raw target values (models standardise internally and de-standardise on output).
* ``binary``: 0.0 / 1.0 per task (one or more tasks; several tasks = multi-label / multi-task).
* ``multiclass``: a single task whose value is the class index into :attr:`TaskSpec.classes`.

Predictions (``Predictor.predict``) have shape

* ``regression``: ``n_samples x n_tasks`` values in target units;
* ``binary``: ``n_samples x n_tasks`` probabilities of the positive class;
* ``multiclass``: ``n_samples x n_classes`` class probabilities (rows sum to 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

TaskType = Literal["regression", "binary", "multiclass"]


@dataclass
class TaskSpec:
    """Task type, targets and label encoding of a dataset."""

    task_type: TaskType
    """``regression``, ``binary`` (one or more 0/1 tasks) or ``multiclass`` (one task)."""
    target_cols: list[str]
    """Names of the target columns, in the order of the columns of ``y``."""
    classes: list[str] = field(default_factory=list)
    """Class names for ``multiclass`` (index = class id) or the two names of a ``binary`` task
    (negative first); empty for regression."""

    def __post_init__(self) -> None:
        if self.task_type not in ("regression", "binary", "multiclass"):
            raise ValueError(f"unknown task_type {self.task_type!r}")
        if not self.target_cols:
            raise ValueError("a task needs at least one target column")
        if self.task_type == "multiclass" and len(self.target_cols) != 1:
            raise ValueError("multiclass tasks take exactly one target column")
        if self.task_type == "multiclass" and len(self.classes) < 2:
            raise ValueError("multiclass tasks need at least two classes")

    @property
    def n_tasks(self) -> int:
        """Number of target columns."""
        return len(self.target_cols)

    @property
    def n_outputs(self) -> int:
        """Width of the prediction array (``n_classes`` for multiclass, else ``n_tasks``)."""
        return len(self.classes) if self.task_type == "multiclass" else self.n_tasks

    @property
    def is_classification(self) -> bool:
        return self.task_type != "regression"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        return cls(task_type=d["task_type"], target_cols=list(d["target_cols"]),
                   classes=list(d.get("classes", [])))

    def decode(self, y_pred: np.ndarray) -> np.ndarray:
        """Hard labels (class names) or values, shape ``n_samples x n_tasks``."""
        if self.task_type == "regression":
            return y_pred
        if self.task_type == "multiclass":
            return np.asarray(self.classes, dtype=object)[np.argmax(y_pred, axis=1)][:, None]
        names = self.classes or ["0", "1"]
        return np.where(y_pred >= 0.5, names[1], names[0]).astype(object)
