"""The run's rows per split, read back for compression (calibration, distillation, scoring)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.compression.base import SplitRows
from scifm.errors import RunDirError
from scifm.evaluation.evaluation_audit import NoReference, run_dataset
from scifm.rundir import RunDir

if TYPE_CHECKING:
    from scifm.data.clean import CleanDataset

__all__ = ["run_rows"]


def run_rows(run: RunDir, meta: dict[str, Any],
             ) -> tuple[CleanDataset, dict[str, np.ndarray], dict[str, SplitRows]]:
    """The run's cleaned data set, its split indices and its ``train`` / ``val`` / ``test``
    rows with their labels.

    Raises
    ------
    RunDirError
        The run's training data file is gone or changed, or it has no test rows (variants are
        compared on the run's own test split).
    """
    try:
        ds, splits = run_dataset(run, meta)
    except NoReference as err:
        raise RunDirError(f"compress needs the run's training data: {err}") from None
    rows = {s: SplitRows([ds.inputs[i] for i in idx], ds.y[idx]) for s, idx in splits.items()}
    if not len(rows.get("test", ())):
        raise RunDirError(f"{run.root} has no test rows: variants are compared on the run's "
                          "test split (train with split.test > 0)")
    return ds, splits, rows
