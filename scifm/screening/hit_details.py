"""The uncertainty layer's columns for the hits only.

Screening ranks rows by their point prediction, so the interval / calibrated-probability / set
columns and the nearest-training-neighbour similarity (``nn_similarity``, ``in_domain``), which
cost more than the prediction itself for a fast model (a Tanimoto search over the training set
per molecule), are needed only for the rows that are kept. ``scifm screen`` scores the library
without them and adds them to the top K rows at the end — the same function ``scifm predict``
applies (:func:`scifm.trust.uncertainty.prediction_extras`), on the hits' canonical inputs, so
the hits' columns equal those of ``predict``. With ``--all-scores`` every row gets them while
it is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from scifm.config.schema import DataConfig
from scifm.evaluation.chunks import Extras, predict_chunk
from scifm.models import load_predictor
from scifm.tasks import TaskSpec
from scifm.trust.uncertainty import prediction_extras

__all__ = ["HitDetails"]


@dataclass
class HitDetails:
    """Adds the uncertainty columns of one model to a frame of hits."""

    predictor: Any
    task: TaskSpec
    data_cfg: DataConfig
    col: str
    extra: Extras

    @classmethod
    def of(cls, model_dir: Any, task: TaskSpec, data_cfg: DataConfig,
           col: str) -> HitDetails | None:
        """None when the model has no uncertainty layer."""
        extra = prediction_extras(model_dir)
        if extra is None:
            return None
        return cls(load_predictor(model_dir), task, data_cfg, col, extra)

    def annotate(self, hits: pd.DataFrame) -> pd.DataFrame:
        """``hits`` (with a ``canonical`` column) and the layer's columns, row for row."""
        if hits.empty:
            return hits
        frame = pd.DataFrame({self.col: hits["canonical"].astype(str).tolist()})
        scored = predict_chunk(self.predictor, self.task, self.data_cfg, frame, self.col, None,
                               0, extra=self.extra)
        more = [c for c in scored.columns if c not in hits.columns and c not in
                ("row_id", "status", "error")]
        return pd.concat([hits.reset_index(drop=True), scored[more]], axis=1)
