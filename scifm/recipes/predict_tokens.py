"""Recipe: predict with a token-classification run (NER tags, per-residue labels).

``scifm predict`` sends runs whose ``model/scifm.json`` says ``family: token`` here. Inputs:

* NER runs: a CoNLL-style file (one token per line, optional further columns, blank line between
  sentences; the tag column may be absent) or a table whose text column is split on whitespace;
* per-residue runs: a table (or FASTA) whose sequence column is read residue by residue.

One output row per sentence / sequence, streamed in chunks: ``row_id``, ``id``, ``input``,
``status`` (``ok`` | ``invalid``), ``error``, ``pred`` (NER: one tag per token, space-separated;
residues: one label per residue, as a string of the sequence's length) and, for NER,
``entities`` (``type:start-end:text`` spans in token positions, ``; ``-separated).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from seqeval.metrics.sequence_labeling import get_entities

from scifm.config.schema import DataConfig
from scifm.data.conll import iter_conll
from scifm.data.io import detect_format, iter_table, require_columns
from scifm.data.validate import validate_inputs
from scifm.errors import DataError
from scifm.models.token import TokenPredictor
from scifm.rundir import RunDir
from scifm.utils.io import atomic_path

logger = logging.getLogger(__name__)


def predict_tokens(run: RunDir, data: str | Path, out: str | Path, input_col: str | None = None,
                   id_col: str | None = None, fmt: str = "auto",
                   chunksize: int = 5_000) -> tuple[int, int]:
    """Tag every sentence / sequence of ``data``; returns ``(rows written, invalid rows)``."""
    predictor = TokenPredictor.load(run.model)
    data_cfg = _trained_data_config(run, predictor.modality)
    col = input_col or data_cfg.input_col
    n_rows = n_invalid = 0
    with atomic_path(out) as tmp:
        for chunk in _chunks(Path(data), predictor.kind, fmt, col, id_col, chunksize):
            frame = _predict_chunk(predictor, data_cfg, chunk, n_rows)
            frame.to_csv(tmp, mode="a", header=n_rows == 0, index=False)
            n_rows += len(frame)
            n_invalid += int((frame["status"] == "invalid").sum())
            logger.info("tagged %d rows (%d invalid so far)", n_rows, n_invalid)
    return n_rows, n_invalid


def _trained_data_config(run: RunDir, modality: str) -> DataConfig:
    """The run's data settings (input column, validation options) from its ``config.yaml``."""
    data: dict[str, Any] = {}
    if run.config.is_file():
        data = (yaml.safe_load(run.config.read_text(encoding="utf-8")) or {}).get("data") or {}
    keep = {k: v for k, v in data.items() if k in DataConfig.model_fields and k not in
            ("path", "val_path", "test_path", "target_cols", "format")}
    return DataConfig.model_validate({**keep, "modality": modality})


def _is_conll(path: Path, fmt: str) -> bool:
    if fmt == "conll":
        return True
    if fmt != "auto":
        return False
    try:
        detect_format(path)  # a table suffix (.csv, .tsv, .parquet, .jsonl, .fasta ...)
    except DataError:  # .txt, .conll, .iob ...
        return True
    return False


def _chunks(path: Path, kind: str, fmt: str, col: str, id_col: str | None,
            chunksize: int) -> Iterator[pd.DataFrame]:
    """Frames with ``input`` (list of tokens / raw sequence) and optional ``id`` columns."""
    if kind == "ner" and _is_conll(path, fmt):
        sentences = ((f"line {first}", tokens) for first, tokens, _ in
                     iter_conll(path, tags_required=False))
        while batch := list(islice(sentences, chunksize)):
            yield pd.DataFrame({"id": [b[0] for b in batch], "input": [b[1] for b in batch]})
        return
    for chunk in iter_table(path, fmt, chunksize=chunksize):
        require_columns(chunk, [col] + ([id_col] if id_col else []), path)
        frame = pd.DataFrame({"input": chunk[col].tolist()})
        if id_col:
            frame["id"] = chunk[id_col].tolist()
        yield frame


def _predict_chunk(predictor: TokenPredictor, data_cfg: DataConfig, chunk: pd.DataFrame,
                   start: int) -> pd.DataFrame:
    ner = predictor.kind == "ner"
    raw = chunk["input"].tolist()
    if ner:
        words = [r if isinstance(r, list) else str(r).split() if isinstance(r, str) else []
                 for r in raw]
        reasons = [None if w else "empty sentence" for w in words]
    else:
        canonical, reasons = validate_inputs(raw, data_cfg.modality, data_cfg)
        words = [list(c) if c is not None else [] for c in canonical]
    ok = [r is None for r in reasons]
    tags = iter(predictor.predict([w for w, good in zip(words, ok, strict=True) if good]))
    pred, entities = [], []
    for w, good in zip(words, ok, strict=True):
        t = next(tags) if good else None
        pred.append(None if t is None else (" ".join(t) if ner else "".join(t)))
        if ner:
            entities.append(None if t is None else "; ".join(
                f"{kind}:{a}-{b}:{' '.join(w[a:b + 1])}" for kind, a, b in get_entities(t)))
    out: dict[str, Any] = {"row_id": range(start, start + len(raw))}
    if "id" in chunk:
        out["id"] = chunk["id"].tolist()
    out.update({"input": [" ".join(r) if isinstance(r, list) else r for r in raw],
                "status": ["ok" if g else "invalid" for g in ok], "error": reasons,
                "pred": pred})
    if ner:
        out["entities"] = entities
    return pd.DataFrame(out)
