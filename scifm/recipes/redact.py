"""Recipe: redact — a text file or table -> the same file with every PII span replaced.

``scifm redact notes.csv --input-col note --out notes_redacted.csv`` replaces each PII span of the
named text columns by its type (``<PERSON>``, ``<DATE_TIME>``, ...; :mod:`scifm.privacy`); the
other columns are copied unchanged. A ``.txt`` file is one text per line (no ``--input-col``).
CSV / TSV / JSONL / Parquet are written in the input's format (gzipped when ``--out`` ends in
``.gz``), atomically, and beside them ``OUT.summary.json``: the counts per entity type, the rows
and columns redacted, and how names were found. Neither the summary nor the log holds any piece
of the text.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scifm.data.files import detect_format
from scifm.data.io import read_table, require_columns
from scifm.errors import DataError, OutputError
from scifm.privacy import Redactor, format_counts, require_privacy
from scifm.privacy.redaction import redact_columns
from scifm.utils.io import atomic_path, atomic_write_json, refuse_overwriting_inputs

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".text")
"""Suffixes read as one text per line."""


@dataclass
class RedactSummary:
    """What a redaction wrote."""

    out: Path
    summary: Path
    n_rows: int
    counts: dict[str, int]
    names: str
    """How person / place names were found (:attr:`scifm.privacy.Redactor.ner_note`)."""


def summary_path(out: str | Path) -> Path:
    """``OUT.summary.json`` beside the redacted file."""
    out = Path(out)
    return out.with_name(out.name + ".summary.json")


def redact(data: str | Path, out: str | Path, input_cols: list[str] | None = None,
           fmt: str = "auto", entities: list[str] | None = None,
           ner_model: str | None = None) -> RedactSummary:
    """Redact ``data`` into ``out`` and write ``OUT.summary.json``.

    Parameters
    ----------
    data
        A ``.txt`` file (one text per line) or a table :func:`scifm.data.io.read_table` reads.
    out
        The redacted file (never ``data``).
    input_cols
        The text columns of a table (required for a table, ignored for a ``.txt`` file).
    fmt
        ``auto`` (from the suffix), ``text`` or a table format.
    entities, ner_model
        As :class:`scifm.privacy.Redactor` (default: every entity type, no NER model).

    Raises
    ------
    ConfigError
        The ``privacy`` extra is missing, or an unknown entity type.
    DataError
        Missing / unreadable file, no ``--input-col`` for a table, or a column not in it.
    OutputError
        ``out`` is the input or a folder.
    """
    require_privacy("scifm redact")
    data, out = Path(data), Path(out)
    refuse_overwriting_inputs(out, {"the input file": data})
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder: redact writes one file; name a file")
    redactor = Redactor(entities=entities, ner_model=ner_model).load()  # refused before reading
    is_text = fmt == "text" or (fmt == "auto" and data.suffix.lower() in TEXT_SUFFIXES)
    cols: list[str] = []
    if is_text:
        n_rows, counts = _redact_lines(data, out, redactor)
    else:
        cols = _table_columns(input_cols)
        n_rows, counts = _redact_table(data, out, fmt, cols, redactor)
    summary = summary_path(out)
    atomic_write_json(summary, {
        "input": data.name, "output": out.name, "format": "text" if is_text else "table",
        "columns": cols, "n_rows": n_rows, "counts": counts, "total": sum(counts.values()),
        "entities": list(redactor.entities_), "names": redactor.ner_note})
    logger.info("redacted %d PII spans in %d rows (%s); wrote %s", sum(counts.values()), n_rows,
                format_counts(counts), out.name)
    return RedactSummary(out, summary, n_rows, counts, redactor.ner_note)


def _table_columns(input_cols: list[str] | None) -> list[str]:
    if not input_cols:
        raise DataError("a table needs --input-col COL (the text column to redact; repeat it "
                        "for several); a .txt file is read one text per line")
    return list(dict.fromkeys(input_cols))


def _redact_lines(data: Path, out: Path, redactor: Redactor) -> tuple[int, dict[str, int]]:
    """A text file, one text per line (line ends kept)."""
    if not data.is_file():
        raise DataError(f"data file not found: {data}" if not data.exists() else
                        f"data path is a directory, not a file: {data}")
    try:
        lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError as err:
        raise DataError(f"{data.name} is not UTF-8 text (byte {err.start}): convert it to "
                        "UTF-8 first") from None
    result = redactor.redact_texts(line.rstrip("\r\n") for line in lines)
    ends = [line[len(line.rstrip("\r\n")):] for line in lines]
    with atomic_path(out) as tmp:
        tmp.write_text("".join(t + e for t, e in zip(result.texts, ends, strict=True)),
                       encoding="utf-8")
    return len(lines), dict(sorted(result.counts.items()))


def _redact_table(data: Path, out: Path, fmt: str, cols: list[str],
                  redactor: Redactor) -> tuple[int, dict[str, int]]:
    """A table: the text columns redacted, written in the input's format."""
    in_fmt = detect_format(data) if fmt == "auto" else fmt
    if in_fmt not in _WRITERS:
        raise DataError(f"redact reads text, CSV, TSV, JSONL and Parquet files, not {in_fmt}")
    frame = read_table(data, fmt)
    require_columns(frame, cols, data)
    frame, counts = redact_columns(frame, cols, redactor)
    gz = "gzip" if out.suffix.lower() == ".gz" else None
    with atomic_path(out) as tmp:
        _write(frame, tmp, in_fmt, gz)
    return len(frame), counts


def _write(frame: pd.DataFrame, path: Path, fmt: str, compression: str | None) -> None:
    if fmt in ("csv", "tsv"):
        frame.to_csv(path, sep="," if fmt == "csv" else "\t", index=False,
                     compression=compression)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False,
                      compression=compression)
    else:
        frame.to_parquet(path, index=False)


_WRITERS = ("csv", "tsv", "jsonl", "parquet")
"""Table formats redact writes back (the input's format)."""
