"""A trained run directory loaded once for serving: ``ServedModel.load(run_dir).predict(items)``.

Prediction reuses what ``scifm predict`` does per chunk (:func:`scifm.evaluation.chunks.
predict_chunk`): each item is validated and canonicalised by its modality, and an invalid item
is a result with ``status="invalid"`` and the reason in ``error``, never an exception for the
batch. The model's uncertainty columns (:mod:`scifm.trust.uncertainty`) are included when it has
them. Results are plain JSON values: NaN and infinities become ``None``.

This is also the Python API: ``scifm.load("runs/freesolv").predict(["CCO", "c1ccccc1"])``.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scifm.config.schema import DataConfig
from scifm.errors import RunDirError
from scifm.evaluation.chunks import Extras, predict_chunk
from scifm.models import load_predictor
from scifm.models.base import Predictor
from scifm.models.token import FAMILY as TOKEN_FAMILY
from scifm.privacy.redaction import redact_inputs
from scifm.rundir import RunDir
from scifm.tasks import TaskSpec
from scifm.trust.uncertainty import prediction_extras

logger = logging.getLogger(__name__)

__all__ = ["Item", "ServedModel", "plain"]

Item = str | dict[str, Any]
"""One input: the primary input (a SMILES, a sequence, a text) or ``{input column: value}`` for
models with several input columns."""


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars / arrays become Python values, NaN and
    infinities become ``None`` (recursively through dicts and lists)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value


def _utf8(value: Any) -> Any:
    """A string holding lone surrogates that are not undecodable bytes (a JSON ``"\\ud800"``
    escape: no UTF-8 encoding exists) as the undecodable bytes of its UTF-8 form, kept as lone
    surrogates as ``scifm predict`` reads them: validation makes the item invalid with its
    reason instead of failing the batch."""
    if not isinstance(value, str) or value.isascii():
        return value
    try:
        value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "surrogateescape")
    return value


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return plain(json.loads(path.read_text()))  # Python's json reads NaN: made null here


@dataclass
class ServedModel:
    """A run directory's model, loaded once; :meth:`predict` is safe to call repeatedly."""

    name: str
    """The name it is served under (by default the run directory's name)."""
    run_dir: Path
    meta: dict[str, Any]
    """``model/scifm.json``: family, modality, task, data settings."""
    task: TaskSpec
    data_cfg: DataConfig
    predictor: Predictor
    extra: Extras | None = None
    """The uncertainty layer's prediction function (None when the model has none)."""
    metrics: dict | None = None
    """``metrics.json`` (NaN as None), or None when the run has none."""
    card: str | None = None
    """The model card ``model/README.md`` (markdown), or None."""
    input_cols: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, run_dir: str | Path, name: str | None = None) -> ServedModel:
        """Load the model of ``run_dir`` (its manifest checked); one clear error if it is not a
        trained run directory or its model cannot be served."""
        run = RunDir(Path(run_dir))
        meta = run.model_meta()
        if meta["family"] == TOKEN_FAMILY:
            raise RunDirError(f"{run.root}: serving token-classification runs (family "
                              f"{TOKEN_FAMILY!r}) is not supported; use `scifm predict`")
        data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
        card = run.model / "README.md"
        model = cls(name=name or run.root.resolve().name, run_dir=run.root, meta=meta,
                    task=TaskSpec.from_dict(meta["task"]), data_cfg=data_cfg,
                    predictor=load_predictor(run.model), extra=prediction_extras(run.model),
                    metrics=_read_json(run.metrics),
                    card=card.read_text() if card.is_file() else None,
                    input_cols=list(data_cfg.input_cols))
        logger.info("loaded model %s (%s, %s) from %s", model.name, meta["family"],
                    meta["modality"], run.root)
        return model

    def info(self) -> dict[str, Any]:
        """What ``GET /v1/models`` says about this model: metadata, task, metrics, card."""
        return plain({
            "name": self.name, "family": self.meta["family"],
            "modality": self.meta["modality"], "task": self.task.to_dict(),
            "input_cols": self.input_cols, "metrics": self.metrics, "card": self.card,
            "uncertainty": self.extra is not None})

    def frame(self, items: list[Item]) -> pd.DataFrame:
        """The items as a table with the model's input columns (a plain string fills the
        primary column; a missing column is empty, which makes the item invalid; a string that
        has no UTF-8 form is made invalid, see :func:`_utf8`)."""
        rows = [{self.input_cols[0]: _utf8(it)} if isinstance(it, str)
                else {k: _utf8(v) for k, v in it.items()} for it in items]
        frame = pd.DataFrame(rows, columns=self.input_cols, dtype=object)
        return redact_inputs(frame, self.input_cols, self.meta)  # as the run's training data

    def predict(self, items: list[Item]) -> list[dict[str, Any]]:
        """One result per item, in order: ``input``, ``canonical``, ``status`` (``ok`` |
        ``invalid``), ``error`` and the prediction columns of ``scifm predict`` (plus the
        uncertainty columns when the model has them); plain JSON values."""
        if not items:
            return []
        out = predict_chunk(self.predictor, self.task, self.data_cfg, self.frame(items),
                            self.input_cols[0], None, 0, extra=self.extra)
        out = out.drop(columns=["row_id"])
        return [plain(row) for row in out.to_dict(orient="records")]
