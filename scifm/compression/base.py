"""What a compression variant maker receives and returns.

A *maker* is a function ``make(job: CompressJob) -> list[Variant]``: it reads the run's model
(``job.teacher``, ``job.model_dir``) and rows (``job.rows``), writes one model folder per variant
under ``job.work / <variant name>`` — a folder that :func:`scifm.models.load_predictor` loads
like any other (its ``scifm.json`` names a registered family; saved with
:func:`scifm.models.manifest.staged_folder`, so it has a manifest) — and returns the variants.
Makers are listed once, in :mod:`scifm.compression.variants`; they measure nothing: the recipe
times and scores every variant the same way (:mod:`scifm.compression.measure`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from scifm.data.datapoints import Datapoint
    from scifm.models.base import Predictor
    from scifm.tasks import TaskSpec

__all__ = ["CompressJob", "CompressOptions", "SplitRows", "Variant"]


@dataclass
class SplitRows:
    """The validated inputs of one split of the run and their labels."""

    inputs: list[Datapoint]
    """What predictors receive (canonical records, as in training)."""
    y: np.ndarray
    """``n x n_tasks`` float labels, NaN = missing (encoding of :mod:`scifm.tasks`)."""

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass
class CompressOptions:
    """Settings every maker may read (``scifm compress`` flags)."""

    recovery_steps: int = 200
    """Optimiser steps of the short fine-tune after pruning (transformers)."""
    distill_epochs: float = 3.0
    """Epochs of student training on the teacher's soft targets (transformers)."""
    student: str = "small"
    """Student size preset for transformer distillation (``model.size`` names)."""
    corpus: Path | None = None
    """Optional unlabelled inputs (one per line, or a table with the run's input column) the
    teacher labels for distillation, beside the train rows."""
    calibration_rows: int = 256
    """Validation rows used to calibrate static int8 quantisation."""
    seed: int = 0
    threads: int = 0
    """Threads for inference sessions (0: every core)."""


@dataclass
class CompressJob:
    """Everything a variant maker needs."""

    model_dir: Path
    """The run's ``model/`` folder (the teacher, as saved)."""
    meta: dict[str, Any]
    """Its ``scifm.json``: ``family``, ``modality``, ``task``, ``data``..."""
    task: TaskSpec
    teacher: Predictor
    """The run's model, loaded."""
    rows: dict[str, SplitRows]
    """``train`` / ``val`` / ``test`` rows of the run (as ``splits.json`` says)."""
    work: Path
    """Folder the makers write variant model folders into (``work / name``)."""
    options: CompressOptions = field(default_factory=CompressOptions)


@dataclass
class Variant:
    """One compressed model, written by a maker."""

    name: str
    """Short unique name: ``onnx-fp32``, ``onnx-int8-dynamic``, ``pruned-heads-25``..."""
    model_dir: Path
    """A model folder :func:`scifm.models.load_predictor` loads."""
    description: str = ""
    """One line for the trade-off table (what was done, with its settings)."""
    details: dict[str, Any] = field(default_factory=dict)
    """Anything worth recording (sparsity, student size, steps...): into compression.json."""
