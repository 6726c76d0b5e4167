"""Measuring a model variant the same way for every variant: size, latency, throughput, metric.

* **size**: bytes of the model's own files on disk (the model card, manifest and uncertainty
  layer excluded: they are the same for every variant);
* **latency at batch 1**: median wall time of ``predict([x])`` over single test inputs, after a
  warm-up call (featurisation included: it is part of what a user waits for);
* **throughput at batch 64**: inputs per second of ``predict`` on batches of 64 test inputs,
  repeated for at least ``min_seconds``;
* **metric**: the run's primary metric on the test rows with its bootstrap CI, and its change
  against the original model with a paired-bootstrap CI (same resamples for both).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scifm.compression.base import SplitRows
from scifm.evaluation.metrics import evaluate_predictions, paired_bootstrap, primary_metric
from scifm.models.base import Predictor
from scifm.tasks import TaskSpec

__all__ = ["Timing", "model_bytes", "score_variant", "time_predictor"]

NOT_MODEL = ("README.md", "manifest.json", "uncertainty")
"""Files of a model folder that are not the model (the same for every variant)."""


def model_bytes(folder: Path) -> int:
    """Bytes on disk of the model files in ``folder`` (sub-folders included)."""
    folder = Path(folder)
    return sum(p.stat().st_size for p in folder.rglob("*")
               if p.is_file() and p.relative_to(folder).parts[0] not in NOT_MODEL)


@dataclass
class Timing:
    """How fast a predictor is on this machine."""

    latency_ms: float
    """Median milliseconds of one ``predict`` call with one input."""
    throughput: float
    """Inputs per second at batch 64."""
    n_single: int
    n_batched: int


def time_predictor(predictor: Predictor, inputs: Sequence[Any], n_single: int = 32,
                   batch: int = 64, min_seconds: float = 1.0) -> Timing:
    """Time ``predictor`` on ``inputs`` (batch-1 latency and batch-``batch`` throughput)."""
    if not len(inputs):
        raise ValueError("no inputs to time the model on")
    predictor.predict(list(inputs[:batch]))  # warm-up: lazy sessions, caches, thread pools
    singles = []
    for x in list(inputs[:n_single]):
        t0 = time.perf_counter()
        predictor.predict([x])
        singles.append(time.perf_counter() - t0)
    batches = [list(inputs[i:i + batch]) for i in range(0, len(inputs), batch)]
    done, t0, elapsed = 0, time.perf_counter(), 0.0
    while elapsed < min_seconds or done < min(len(inputs), 8 * batch):
        for chunk in batches:
            predictor.predict(chunk)
            done += len(chunk)
        elapsed = time.perf_counter() - t0
    return Timing(1000 * statistics.median(singles), done / elapsed, len(singles), done)


def score_variant(task: TaskSpec, test: SplitRows, pred: np.ndarray, base_pred: np.ndarray,
                  n_bootstrap: int = 1000, ci: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """The primary metric of ``pred`` on the test rows (with CI) and its change from the
    original model's ``base_pred`` (paired bootstrap): ``{"metric", "higher_is_better",
    "value", "ci95", "delta", "delta_ci95", "drop"}``; ``drop`` is the change in the bad
    direction (positive = worse than the original)."""
    name, higher = primary_metric(task)
    scored = evaluate_predictions(task, test.y, pred, n_bootstrap=n_bootstrap, ci=ci, seed=seed)
    paired = paired_bootstrap(task, test.y, pred, base_pred, name, n_bootstrap=n_bootstrap,
                              seed=seed, ci=ci, name_a="variant", name_b="original")
    delta = float(paired["delta"])
    return {"metric": name, "higher_is_better": higher, "value": scored[name]["value"],
            "ci95": scored[name]["ci95"], "delta": delta, "delta_ci95": paired["ci95"],
            "drop": -delta if higher else delta}
