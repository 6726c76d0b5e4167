"""The run directory: the contract between stages (train -> predict / evaluate / report).

::

    RUN_DIR/
      config.yaml            fully resolved experiment spec
      log.txt                the run's log
      data_report.json       cleaning summary (invalid rows, duplicates, label stats)
      rejected.csv           every input row not used, with the reason
      splits.json            original row ids per split + hash of the cleaned data
      leakage.json           split audit (cross-split duplicates, nearest-neighbour similarity)
      model/                 the selected model (HF folder for transformers) + scifm.json
      metrics.json           {"model": ..., "val": {...}, "test": {metric: {value, ci95}}, ...}
      predictions_test.csv   id, input, true, predicted, probabilities
      history.json           per-epoch training log of each family
      families/<family>/     with ``--model both``: each family's model, metrics, predictions
      report.html            self-contained report
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scifm.errors import RunDirError
from scifm.models.base import MODEL_META


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"

    @property
    def data_report(self) -> Path:
        return self.root / "data_report.json"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected.csv"

    @property
    def splits(self) -> Path:
        return self.root / "splits.json"

    @property
    def leakage(self) -> Path:
        return self.root / "leakage.json"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def predictions_test(self) -> Path:
        return self.root / "predictions_test.csv"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    def family(self, name: str) -> RunDir:
        """Sub-run directory of one model family (used with ``--model both``)."""
        return RunDir(self.root / "families" / name)

    def model_meta(self) -> dict[str, Any]:
        """Read ``model/scifm.json``; a clear error if this is not a trained run directory."""
        meta = self.model / MODEL_META
        if not meta.is_file():
            raise RunDirError(f"{self.root} is not a scifm run directory: {meta} is missing "
                              "(train one with `scifm train`)")
        return json.loads(meta.read_text(encoding="utf-8"))
