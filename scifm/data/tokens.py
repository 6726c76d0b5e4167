"""Token-classification data: sentences of tagged words (CoNLL) or proteins with per-residue labels.

Both kinds become a :class:`TokenData`: one row per sentence / protein with its words (a protein's
residues: ``list(sequence)``) and one tag per word, ``None`` where a residue is masked out (not
trained on, not scored). The split comes from separate files (``data.val_path`` /
``data.test_path``), from a split column (``split.method: predefined``, residue tables) or is
drawn at random over rows (sentences / proteins, never tokens).

For prediction, :func:`iter_token_inputs` streams new inputs in chunks: CoNLL sentences (the tag
column may be absent) or a table column (sentences split on whitespace, sequences read residue by
residue).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig, SplitConfig
from scifm.data.conll import iter_conll, read_conll
from scifm.data.io import detect_format, iter_table, read_table, require_columns
from scifm.errors import DataError
from scifm.evaluation.token_metrics import TokenKind

logger = logging.getLogger(__name__)

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val",
               "validation": "val", "dev": "val", "test": "test", "testing": "test"}


@dataclass
class TokenData:
    """Rows of a token-classification data set (one per sentence / protein)."""

    kind: TokenKind
    ids: list[str] = field(default_factory=list)
    words: list[list[str]] = field(default_factory=list)
    """Words of a sentence, or residues of a protein (one character each)."""
    tags: list[list[str | None]] = field(default_factory=list)
    """One tag per word; ``None`` = not scored (masked residue)."""
    split: list[str] = field(default_factory=list)
    """Split name per row from files or a column; empty when the split is to be drawn."""
    rejected: list[dict[str, Any]] = field(default_factory=list)
    """``{"file", "row", "id", "reason"}`` of every row not used."""

    def __len__(self) -> int:
        return len(self.words)

    def extend(self, other: TokenData) -> None:
        for name in ("ids", "words", "tags", "split", "rejected"):
            getattr(self, name).extend(getattr(other, name))


def token_kind(dc: DataConfig) -> TokenKind:
    """``ner`` (words: text) or ``residue`` (protein / DNA sequences), as the modality's plug-in
    says (:attr:`scifm.modalities.base.ModalitySpec.token_kind`)."""
    return MODALITIES.get(dc.modality).token_kind


def _read_ner(path: Path, fmt: str, split: str | None) -> TokenData:
    if fmt not in ("auto", "conll"):
        raise DataError(f"data.format {fmt!r}: word-level token classification reads CoNLL files "
                        "(token ... tag per line)")
    frame = read_conll(path)
    n = len(frame)
    return TokenData("ner", frame["sentence_id"].tolist(), frame["tokens"].tolist(),
                     frame["tags"].tolist(), [split] * n if split else [])


def _residue_row(seq: Any, labels: Any, mask: Any) -> tuple[list[str | None] | None, str]:
    """Tags of one protein, or ``(None, reason)``."""
    if not isinstance(seq, str) or not seq.strip():
        return None, "missing sequence"
    if not isinstance(labels, str) or not labels.strip():
        return None, "missing label string"
    seq, labels = seq.strip().upper(), labels.strip()
    if len(labels) != len(seq):
        return None, f"label string has {len(labels)} characters, sequence {len(seq)}"
    if mask is None or (isinstance(mask, float) and np.isnan(mask)):
        return list(labels), ""
    mask = str(mask).strip()
    if len(mask) != len(seq) or set(mask) - {"0", "1"}:
        return None, "mask is not a 0/1 string as long as the sequence"
    tags = [lab if m == "1" else None for lab, m in zip(labels, mask, strict=True)]
    if all(t is None for t in tags):
        return None, "no residue left to score after the mask"
    return tags, ""


def _read_residues(path: Path, dc: DataConfig, split: str | None,
                   split_col: str | None) -> TokenData:
    frame = read_table(path, dc.format if dc.format != "conll" else "auto")
    if not dc.target_cols:
        raise DataError("per-residue labels: name the label-string column with --target-col "
                        "(e.g. ss3)")
    cols = [dc.input_col, dc.target_cols[0]] + [c for c in (dc.mask_col, dc.id_col, split_col)
                                                 if c]
    require_columns(frame, cols, path)
    out = TokenData("residue")
    for row, rec in zip(frame.index, frame.to_dict("records"), strict=True):
        rid = str(rec[dc.id_col]) if dc.id_col else f"{path.name.split('.')[0]}:{row}"
        tags, reason = _residue_row(rec[dc.input_col], rec[dc.target_cols[0]],
                                    rec[dc.mask_col] if dc.mask_col else None)
        name = split or (SPLIT_NAMES.get(str(rec[split_col]).strip().lower(), "?")
                         if split_col else "")
        if tags is not None and name == "?":
            tags, reason = None, f"unknown split value {rec[split_col]!r}"
        if tags is None:
            out.rejected.append({"file": path.name, "row": int(row), "id": rid,
                                 "reason": reason})
            continue
        out.ids.append(rid)
        out.words.append(list(str(rec[dc.input_col]).strip().upper()))
        out.tags.append(tags)
        if name:
            out.split.append(name)
    return out


def load_token_data(dc: DataConfig, sc: SplitConfig) -> TokenData:
    """Read ``data.path`` (and ``data.val_path`` / ``data.test_path``) as token data.

    Raises
    ------
    DataError
        Unreadable files, missing columns, or no usable rows.
    """
    if dc.path is None:
        raise DataError("no input data: pass --data FILE (or data.path in the config)")
    files = [(Path(dc.path), "train" if dc.val_path or dc.test_path else None)]
    files += [(Path(p), s) for p, s in ((dc.val_path, "val"), (dc.test_path, "test")) if p]
    split_col = sc.column if sc.method == "predefined" and files[0][1] is None else None
    kind = token_kind(dc)
    data = TokenData(kind)
    for path, split in files:
        part = (_read_ner(path, dc.format, split) if kind == "ner"
                else _read_residues(path, dc, split, split_col))
        data.extend(part)
    if kind == "ner" and split_col:
        raise DataError("split.method predefined: CoNLL files have no split column; give "
                        "data.val_path / data.test_path instead")
    if not len(data):
        raise DataError(f"{Path(dc.path).name}: no usable rows ({len(data.rejected)} rejected)")
    logger.info("token data: %d %s, %d rejected", len(data),
                "sentences" if kind == "ner" else "sequences", len(data.rejected))
    return data


def token_splits(data: TokenData, sc: SplitConfig, seed: int) -> dict[str, np.ndarray]:
    """Row indices per split: from ``data.split`` when set, else random over rows.

    Without validation rows, ``sizes[1] / (sizes[0] + sizes[1])`` of train is carved out at
    random (seeded) for early stopping.
    """
    rng = np.random.default_rng(seed)
    n = len(data)
    if data.split:
        names = np.asarray(data.split)
        out = {s: np.flatnonzero(names == s) for s in ("train", "val", "test")}
    else:
        perm = rng.permutation(n)
        n_test = int(round(sc.sizes[2] * n))
        n_val = int(round(sc.sizes[1] * n))
        out = {"test": np.sort(perm[:n_test]), "val": np.sort(perm[n_test:n_test + n_val]),
               "train": np.sort(perm[n_test + n_val:])}
    if len(out["val"]) == 0 and sc.sizes[1] > 0 and len(out["train"]) > 1:
        frac = sc.sizes[1] / (sc.sizes[0] + sc.sizes[1])
        perm = rng.permutation(out["train"])
        n_val = max(1, int(round(frac * len(perm))))
        out["val"], out["train"] = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        logger.info("no validation rows given; carved %d random training rows as val", n_val)
    if len(out["train"]) == 0:
        raise DataError("no training rows after splitting")
    return out


def rejected_frame(data: TokenData) -> pd.DataFrame:
    """``rejected.csv`` content."""
    return pd.DataFrame(data.rejected, columns=["file", "row", "id", "reason"])


def token_data_report(data: TokenData, source: str,
                      splits: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """``data_report.json`` content: rows used and rejected, tokens, scored tokens per label and,
    when given, the split sizes."""
    tags = [t for row in data.tags for t in row if t is not None]
    labels, counts = np.unique(np.asarray(tags, dtype=object).astype(str), return_counts=True)
    report = {"source": source, "task": "token_classification", "kind": data.kind,
              "n_rows_used": len(data), "n_rejected": len(data.rejected),
              "n_tokens": int(sum(len(w) for w in data.words)), "n_scored_tokens": len(tags),
              "label_counts": {str(k): int(v) for k, v in zip(labels, counts, strict=True)}}
    if splits is not None:
        report["split_sizes"] = {k: int(len(v)) for k, v in splits.items()}
    return report


def saved_data_config(saved: dict[str, Any] | None, modality: str,
                      **updates: Any) -> DataConfig:
    """The data settings of a trained run (``data`` in its ``model/scifm.json``) without its
    files: input, label, mask and id columns and the validation options, for reading new data
    (``updates``: e.g. the new ``path``). Keys this version does not know are dropped (runs
    written by older versions)."""
    drop = ("path", "val_path", "test_path", "format")
    keep = {k: v for k, v in (saved or {}).items()
            if k in DataConfig.model_fields and k not in drop}
    return DataConfig.model_validate({**keep, "modality": modality, **updates})


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


def iter_token_inputs(path: Path, kind: TokenKind, fmt: str, col: str, id_col: str | None,
                      chunksize: int) -> Iterator[pd.DataFrame]:
    """New inputs of a token-classification model, in chunks of ``chunksize`` rows.

    Frames with ``input`` (a list of tokens from CoNLL, else the raw cell) and, when known,
    ``id`` (``line N`` of a CoNLL sentence, or the ``id_col`` cell).
    """
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
