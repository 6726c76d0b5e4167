"""What the HTML report shows: one :class:`ReportData` holding a :class:`ModelResult` per family.

Kept apart from the rendering (:mod:`scifm.evaluation.report`) so that the code that fills them
(:mod:`scifm.evaluation.scoring`, the recipes) needs neither matplotlib nor the HTML helpers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from scifm.tasks import TaskSpec

__all__ = ["ModelResult", "ReportData"]


@dataclass
class ModelResult:
    """What the report needs from one trained model family."""

    metrics: dict[str, Any]
    """``evaluate_predictions`` output on the test set, plus an optional ``"val"`` dict
    ``{metric: float}`` of validation metrics."""
    history: list[dict[str, Any]] = field(default_factory=list)
    """Per-epoch records, e.g. ``{"epoch": 1, "train_loss": ..., "val_loss": ...}``."""
    y_true: np.ndarray | None = None
    """Test labels, ``n x n_tasks``."""
    y_pred: np.ndarray | None = None
    """Test predictions, ``n x n_outputs`` (see :mod:`scifm.tasks`)."""
    fit_seconds: float | None = None
    n_parameters: int | None = None
    n_trainable_parameters: int | None = None
    """Set when fewer than all parameters were trained (PEFT, frozen layers)."""


@dataclass
class ReportData:
    """Everything shown in the report; the dict fields are read tolerantly (missing keys are
    skipped)."""

    title: str
    task: TaskSpec
    data_report: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    leakage: dict[str, Any] = field(default_factory=dict)
    models: dict[str, ModelResult] = field(default_factory=dict)
    comparisons: list[dict[str, Any]] = field(default_factory=list)
    config_yaml: str = ""
    extra_notes: list[str] = field(default_factory=list)
    dataset_path: str | None = None
    modality: str | None = None
    command: str | None = None
    rejected_rows_file: str | None = None
    created: str | None = None
    """Timestamp shown in the header; defaults to now (UTC)."""
    environment: dict[str, str] | None = None
    """Package versions; defaults to the installed versions of the main dependencies."""
    warnings: list[str] = field(default_factory=list)
    """What a reviewer would flag (a model predicting one value / class for every row, an
    evaluation set overlapping the training data, data warnings): shown in the summary card."""
    split_inputs: dict[str, list[str]] = field(default_factory=dict)
    """The primary input string (SMILES / sequence / text) of every row per split
    (``train`` / ``val`` / ``test``, in the order of the split's rows and of ``y_true``)."""
    split_y: dict[str, np.ndarray] = field(default_factory=dict)
    """Labels per split (``n x n_tasks``, same order as :attr:`split_inputs`)."""
    units: dict[str, str] = field(default_factory=dict)
    """Target units by column, when known (``data.units``)."""
    evaluation_audit: dict[str, Any] = field(default_factory=dict)
    """``scifm evaluate``: the new set audited against the run's training data (overlap,
    nearest-neighbour similarity, metrics on the truly new rows); empty for training runs."""
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    """``scifm auto``: leaderboard rows (:mod:`scifm.tuning.leaderboard`); shown when non-empty."""
    uncertainty: dict[str, Any] = field(default_factory=dict)
    """``metrics.json["uncertainty"]`` of the selected model (:mod:`scifm.trust.measures`):
    coverage, widths, calibration, error ranking, applicability domain; empty: not fitted."""
    privacy: dict[str, Any] = field(default_factory=dict)
    """``metrics.json["privacy"]``: the accountant's (epsilon, delta) of a differentially private
    fit, and ``membership``: the membership-inference audit; empty without either. PII
    redaction counts are in :attr:`data_report`."""
    oof_comparison: list[dict[str, Any]] = field(default_factory=list)
    """``scifm auto``: the best single family, the weighted average and the stacker on the same
    folds, rows ``{"model", "kind", "cv_mean", "cv_std", "selected"}`` (cross-fitted out-of-fold
    primary metric; :func:`scifm.tuning.stacking.oof_comparison`); shown when non-empty."""
