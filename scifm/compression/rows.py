"""The run's rows per split, read back for compression (calibration, distillation, scoring)."""

from __future__ import annotations

from typing import Any

from scifm.compression.base import SplitRows
from scifm.errors import RunDirError
from scifm.evaluation.evaluation_audit import NoReference, run_dataset
from scifm.rundir import RunDir

__all__ = ["run_rows"]


def run_rows(run: RunDir, meta: dict[str, Any]) -> dict[str, SplitRows]:
    """``train`` / ``val`` / ``test`` rows of ``run`` with their labels.

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
    return rows
