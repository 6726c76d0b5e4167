"""The library stream: chunks of rows with their global row ids, and its size for the ETA.

Formats: every format of :func:`scifm.data.io.iter_table` (CSV / TSV / Parquet / JSONL / FASTA /
SDF, ``.gz`` too) and plain files with one input per line:

* ``smi`` (``.smi``, ``.smiles``): ``SMILES [id ...]`` per line, split at the first whitespace;
  the rest of the line is the ``id`` column. A first line whose first word is ``smiles``
  (any case) is a header and is skipped.
* ``lines`` (``.txt``): the whole line (stripped) is the input (text, sequences).

Blank lines of plain files are not records. Bytes that are not UTF-8 stay in their row (as lone
surrogates), which validation then rejects with its reason: a bad row is never fatal.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from scifm.data.files import check_file, detect_format, is_gzip, open_binary
from scifm.data.io import FORMATS, iter_table
from scifm.errors import DataError

__all__ = ["PLAIN", "estimate_rows", "library_chunks", "library_format"]

PLAIN = {".smi": "smi", ".smiles": "smi", ".txt": "lines"}
"""Suffix (before an optional ``.gz``) -> plain one-input-per-line format."""
_SAMPLE_BYTES = 4 << 20


def library_format(path: Path, fmt: str = "auto") -> str:
    """``fmt``, or the format the suffix names (plain formats included)."""
    if fmt != "auto":
        if fmt not in (*FORMATS, "smi", "lines"):
            raise DataError(f"unknown --format {fmt!r}; use one of "
                            f"{', '.join((*FORMATS, 'smi', 'lines'))}")
        return fmt
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] in PLAIN:
        return PLAIN[suffixes[-1]]
    return detect_format(path)


def library_chunks(path: Path, fmt: str, chunksize: int,
                   input_col: str) -> Iterator[pd.DataFrame]:
    """The library in chunks of ``chunksize`` rows; each chunk's index is its global row ids.

    Parameters
    ----------
    path
        The library file.
    fmt
        A format of :func:`library_format`.
    chunksize
        Rows per chunk (the last may be shorter).
    input_col
        The column plain files fill (the run's input column).
    """
    if fmt not in ("smi", "lines"):
        yield from iter_table(path, fmt, chunksize=chunksize, encoding_errors="surrogateescape")
        return
    check_file(path, fmt)
    rows: list[tuple[str, str | None]] = []
    start = 0
    for row in _plain_records(path, fmt == "smi"):
        rows.append(row)
        if len(rows) == chunksize:
            yield _frame(rows, start, input_col, fmt == "smi")
            start, rows = start + len(rows), []
    if rows or start == 0:
        yield _frame(rows, start, input_col, fmt == "smi")


def _plain_records(path: Path, smi: bool) -> Iterator[tuple[str, str | None]]:
    with open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.decode("utf-8", "surrogateescape").strip()
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            if not line:
                continue
            if not smi:
                yield line, None
                continue
            parts = line.split(None, 1)
            if lineno == 1 and parts[0].lower() == "smiles":
                continue
            yield parts[0], (parts[1] if len(parts) > 1 else None)


def _frame(rows: list[tuple[str, str | None]], start: int, col: str, smi: bool) -> pd.DataFrame:
    frame = pd.DataFrame({col: [r[0] for r in rows]}, dtype=object)
    if smi:
        frame["id"] = pd.Series([r[1] for r in rows], dtype=object)
    frame.index = pd.RangeIndex(start, start + len(rows))
    return frame


def _head(path: Path) -> tuple[bytes, int]:
    """About the first :data:`_SAMPLE_BYTES` (decompressed) of ``path`` and how many bytes of
    the file they took (gzip: fed in small blocks and counted exactly)."""
    with open(path, "rb") as raw:
        if not is_gzip(path):
            head = raw.read(_SAMPLE_BYTES)
            return head, len(head)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out, fed = bytearray(), 0
        while len(out) < _SAMPLE_BYTES and not inflate.eof:
            block = raw.read(16_384)
            if not block:
                break
            fed += len(block)
            out += inflate.decompress(block)
        return bytes(out), fed - len(inflate.unused_data)


def estimate_rows(path: Path, fmt: str) -> int | None:
    """About how many rows the library holds, for the progress bar's ETA: exact for Parquet
    (its metadata) and for files smaller than the sample; else the records in the first 4 MiB
    (decompressed) scaled by the share of the file's bytes they took. None when unknown."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(path).metadata.num_rows)
        size = path.stat().st_size
        head, consumed = _head(path)
    except (OSError, EOFError, ValueError, zlib.error):
        return None
    whole = consumed >= size
    if fmt == "fasta":
        n = head.count(b"\n>") + head.startswith(b">")
    elif fmt == "sdf":
        n = head.count(b"$$$$")
    else:
        n = head.count(b"\n") + (not head.endswith(b"\n") and bool(head))
        n -= fmt in ("csv", "tsv")  # the header
    if whole or consumed == 0:
        return max(n, 0)
    return max(int(n * size / consumed), 0)
