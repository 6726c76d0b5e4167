"""Tables of token-classification predictions: one row per sentence / sequence.

Tags are joined into one cell: space-separated for NER (one tag per word), concatenated for
per-residue labels (a string as long as the sequence). NER rows also list the predicted
``entities`` as ``type:start-end:text`` spans in word positions, ``; ``-separated.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd
from seqeval.metrics.sequence_labeling import get_entities

from scifm.config.schema import DataConfig
from scifm.data.validate import validate_inputs

logger = logging.getLogger(__name__)

Tags = Sequence[Sequence[str | None]]


class Tagger(Protocol):
    """What :func:`tag_chunk` needs of a token-classification model."""

    kind: str

    def predict(self, x: Sequence[Sequence[str]]) -> list[list[str]]: ...


def join_tags(tags: Sequence[str | None], kind: str) -> str:
    """One cell: tags space-separated (``ner``) or concatenated (``residue``; ``-`` = unscored)."""
    sep = " " if kind == "ner" else ""
    return sep.join("-" if t is None else t for t in tags)


def entity_spans(words: Sequence[str], tags: Sequence[str]) -> str:
    """Entities of an IOB-tagged sentence as ``type:start-end:text``, ``; ``-separated."""
    return "; ".join(f"{kind}:{a}-{b}:{' '.join(words[a:b + 1])}"
                     for kind, a, b in get_entities(list(tags)))


def token_prediction_frame(kind: str, ids: Sequence[str], words: Sequence[Sequence[str]],
                           y_true: Tags, y_pred: Tags) -> pd.DataFrame:
    """``id, input, true, pred`` of labelled rows (``predictions_test.csv``)."""
    return pd.DataFrame({
        "id": list(ids),
        "input": [join_tags(w, kind) for w in words],
        "true": [join_tags(t, kind) for t in y_true],
        "pred": [join_tags(p, kind) for p in y_pred],
    })


def tag_chunk(model: Tagger, data_cfg: DataConfig, chunk: pd.DataFrame,
              start: int) -> pd.DataFrame:
    """Tag the inputs of one chunk; invalid rows keep their place with a reason.

    ``chunk`` has ``input`` (a list of words, a sentence to split on whitespace, or a sequence
    validated by the modality) and optionally ``id``. Returns ``row_id, [id,] input, status
    (ok | invalid), error, pred`` and, for NER, ``entities``.
    """
    ner = model.kind == "ner"
    raw = chunk["input"].tolist()
    if ner:
        words = [r if isinstance(r, list) else str(r).split() if isinstance(r, str) else []
                 for r in raw]
        reasons: list[str | None] = [None if w else "empty sentence" for w in words]
    else:
        canonical, reasons = validate_inputs(raw, data_cfg.modality, data_cfg)
        words = [list(c) if c is not None else [] for c in canonical]
    ok = [r is None for r in reasons]
    tags = iter(model.predict([w for w, good in zip(words, ok, strict=True) if good]))
    pred, entities = [], []
    for w, good in zip(words, ok, strict=True):
        t = next(tags) if good else None
        pred.append(None if t is None else join_tags(t, model.kind))
        if ner:
            entities.append(None if t is None else entity_spans(w, t))
    out: dict[str, Any] = {"row_id": range(start, start + len(raw))}
    if "id" in chunk:
        out["id"] = chunk["id"].tolist()
    out.update({"input": [" ".join(r) if isinstance(r, list) else r for r in raw],
                "status": ["ok" if g else "invalid" for g in ok], "error": reasons,
                "pred": pred})
    if ner:
        out["entities"] = entities
    return pd.DataFrame(out)
