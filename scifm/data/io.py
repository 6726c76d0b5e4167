"""Readers for the input table: CSV / TSV (optionally gzipped), Parquet, JSONL, FASTA and SDF.

Every reader returns (or streams) a :class:`pandas.DataFrame` whose index is the 0-based row
number in the file, so a row can always be traced back to its source line/record.

* CSV / TSV are read with every column as a string, ``keep_default_na=False`` and
  ``na_values=[""]``: blank cells become ``NaN`` while a SMILES such as ``NA`` or ``nan`` stays
  text. Label columns are parsed later by :mod:`scifm.data.clean`.
* FASTA gives the columns ``id``, ``description`` and ``sequence`` (multi-line records joined);
  ``key=value`` tokens in the description also become columns (e.g. ``>P1 label=1 split=test``).
* SDF gives ``smiles`` (RDKit canonical), ``_name`` (the title line) and one column per SD
  property. A mol block RDKit cannot parse becomes a row with ``smiles == ""`` and the reason in
  ``_parse_error`` (quarantined by the cleaning step, never silently lost).

Problems with the file raise :class:`scifm.errors.DataError` with one line naming the file
(checks of the file itself: :mod:`scifm.data.files`; SDF records: :mod:`scifm.data.sdf`).
"""

from __future__ import annotations

import difflib
import gzip
import json
import logging
import re
import zlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pandas as pd

from scifm.data.files import check_file, detect_format, is_gzip, text_lines, utf8_error
from scifm.data.sdf import sdf_records
from scifm.errors import DataError

logger = logging.getLogger(__name__)

FORMATS = ("csv", "tsv", "parquet", "jsonl", "fasta", "sdf", "rct")
"""Readable formats; ``rct`` (PubMed-RCT sentences, :mod:`scifm.data.rct`) only when named."""
_KV = re.compile(r"^([A-Za-z_][\w.-]*)=(.*)$")


def _sniff_sep(path: Path, default: str) -> str:
    """For a ``.csv`` whose header has no comma but tabs or semicolons, use that separator."""
    for _, line in text_lines(path):
        if line.strip():
            if default == "," and "," not in line:
                for sep in ("\t", ";"):
                    if sep in line:
                        logger.info("%s: header has no commas; using %r as separator",
                                    path.name, sep)
                        return sep
            return default
    return default


def _numbered(chunk: pd.DataFrame, start: int) -> pd.DataFrame:
    chunk.index = pd.RangeIndex(start, start + len(chunk))
    return chunk


def _iter_delimited(path: Path, sep: str, chunksize: int,
                    encoding_errors: str = "strict") -> Iterator[pd.DataFrame]:
    sep = _sniff_sep(path, sep)
    try:
        reader = pd.read_csv(
            path, sep=sep, dtype=str if encoding_errors == "strict" else object,
            keep_default_na=False, na_values=[""], index_col=False,
            chunksize=chunksize, encoding="utf-8", compression="gzip" if is_gzip(path) else None,
            encoding_errors=encoding_errors,
        )
        start = 0
        with reader:
            for chunk in reader:
                yield _numbered(chunk, start)
                start += len(chunk)
    except UnicodeDecodeError as err:
        raise utf8_error(path, err) from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path.name} is empty (no header and no rows)") from None
    except pd.errors.ParserError as err:
        msg = " ".join(str(err).split())
        raise DataError(f"{path.name}: malformed {'TSV' if sep == chr(9) else 'CSV'}: {msg}") \
            from None


def _iter_parquet(path: Path, chunksize: int) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise DataError(f"{path.name} is not a readable Parquet file: {err}") from None
    start = 0
    for batch in pf.iter_batches(batch_size=chunksize):
        chunk = batch.to_pandas()
        yield _numbered(chunk, start)
        start += len(chunk)
    if start == 0:
        yield _numbered(pf.schema_arrow.empty_table().to_pandas(), 0)


def _records_to_frames(records: Iterable[dict], chunksize: int,
                       columns: Sequence[str] = ()) -> Iterator[pd.DataFrame]:
    buf: list[dict] = []
    start = 0
    for rec in records:
        buf.append(rec)
        if len(buf) >= chunksize:
            yield _numbered(pd.DataFrame.from_records(buf), start)
            start += len(buf)
            buf = []
    if buf:
        yield _numbered(pd.DataFrame.from_records(buf), start)
    elif start == 0:
        yield _numbered(pd.DataFrame(columns=list(columns)), 0)


def _jsonl_records(path: Path) -> Iterator[dict]:
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path.name}: line {lineno} is not valid JSON ({err.msg} at column "
                            f"{err.colno})") from None
        if not isinstance(rec, dict):
            raise DataError(f"{path.name}: line {lineno} is a JSON {type(rec).__name__}, "
                            "expected an object like {\"smiles\": ..., \"y\": ...}")
        yield rec


def _fasta_records(path: Path) -> Iterator[dict]:
    header: str | None = None
    parts: list[str] = []
    for lineno, line in text_lines(path):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            if header is not None:
                yield _fasta_record(header, parts)
            header, parts = line[1:].strip(), []
        elif header is None:
            raise DataError(f"{path.name}: line {lineno} comes before any '>' header; "
                            "is this really a FASTA file?")
        else:
            parts.append(line)
    if header is not None:
        yield _fasta_record(header, parts)


def _fasta_record(header: str, parts: list[str]) -> dict:
    tokens = header.split(None, 1)
    rec = {"id": tokens[0] if tokens else "", "description": tokens[1] if len(tokens) > 1 else "",
           "sequence": "".join(parts)}
    for tok in rec["description"].split():
        m = _KV.match(tok)
        if m and m.group(1) not in rec:
            rec[m.group(1)] = m.group(2)
    return rec


def iter_table(path: str | Path, fmt: str = "auto", chunksize: int = 50_000,
               encoding_errors: str = "strict") -> Iterator[pd.DataFrame]:
    """Stream a data file in chunks of at most ``chunksize`` rows with constant memory.

    Parameters
    ----------
    path
        The data file.
    fmt
        ``auto`` (from the suffix, ignoring ``.gz``) or one of :data:`FORMATS`.
    chunksize
        Maximum rows per chunk.
    encoding_errors
        CSV / TSV: ``strict`` (a byte that is not UTF-8 is one error for the whole file) or
        ``surrogateescape`` (``predict``: such bytes stay in their cell, whose row
        :func:`scifm.data.validate.validate_records` then marks invalid).

    Yields
    ------
    pandas.DataFrame
        Chunks whose index continues the global 0-based row numbering; concatenated they equal
        :func:`read_table`.
    """
    path = Path(path)
    if chunksize < 1:
        raise ValueError("chunksize must be >= 1")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt not in FORMATS:
        raise DataError(f"unknown format {fmt!r} for {path.name}; use one of {', '.join(FORMATS)}")
    check_file(path, fmt)
    try:
        yield from _iter_format(path, fmt, chunksize, encoding_errors)
    except (EOFError, zlib.error, gzip.BadGzipFile) as err:  # a gzip stream cut or damaged
        why = str(err) or type(err).__name__
        raise DataError(f"{path.name} is a damaged or truncated gzip file ({why}): re-download "
                        "or re-compress it") from None


def _iter_format(path: Path, fmt: str, chunksize: int,
                 encoding_errors: str) -> Iterator[pd.DataFrame]:
    if fmt in ("csv", "tsv"):
        yield from _iter_delimited(path, "," if fmt == "csv" else "\t", chunksize,
                                   encoding_errors)
    elif fmt == "parquet":
        yield from _iter_parquet(path, chunksize)
    elif fmt == "jsonl":
        yield from _records_to_frames(_jsonl_records(path), chunksize)
    elif fmt == "fasta":
        yield from _records_to_frames(_fasta_records(path), chunksize,
                                      ("id", "description", "sequence"))
    elif fmt == "rct":
        from scifm.data.rct import RCT_COLUMNS, rct_records

        yield from _records_to_frames(rct_records(path), chunksize, RCT_COLUMNS)
    else:
        yield from _records_to_frames(sdf_records(path), chunksize, ("smiles", "_name"))


def read_table(path: str | Path, fmt: str = "auto") -> pd.DataFrame:
    """Read a whole data file into a DataFrame (index = 0-based row number).

    Parameters
    ----------
    path
        CSV, TSV (optionally ``.gz``), Parquet, JSONL, FASTA or SDF file.
    fmt
        ``auto`` to detect from the suffix, else one of :data:`FORMATS`.

    Returns
    -------
    pandas.DataFrame
        See the module docstring for the columns of FASTA and SDF files.

    Raises
    ------
    DataError
        Missing, empty, binary, mis-encoded or malformed file (one line naming the file).
    """
    path = Path(path)
    chunks = list(iter_table(path, fmt, chunksize=1_000_000))
    df = chunks[0] if len(chunks) == 1 else pd.concat(chunks)
    if len(df) == 0:
        raise DataError(f"{path.name} has no data rows"
                        + (f" (columns: {', '.join(map(str, df.columns))})" if len(df.columns)
                           else ""))
    logger.info("read %d rows x %d columns from %s", len(df), df.shape[1], path.name)
    return df


def require_columns(df: pd.DataFrame, cols: Iterable[str], path: str | Path = "") -> None:
    """Raise :class:`DataError` naming any of ``cols`` missing from ``df`` and the available ones.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"smiles": []}), ["p_np"], "bbbp.csv")
    Traceback (most recent call last):
    ...
    scifm.errors.DataError: column 'p_np' not found in bbbp.csv; available: smiles
    """
    available = [str(c) for c in df.columns]
    missing = [c for c in cols if c not in df.columns]
    if not missing:
        return
    where = f" in {Path(path).name}" if str(path) else ""
    names = ", ".join(repr(c) for c in missing)
    shown = ", ".join(available[:20]) + (f", ... ({len(available)} in all)"
                                        if len(available) > 20 else "")
    hints = [m for c in missing for m in difflib.get_close_matches(c, available, n=1, cutoff=0.6)]
    hint = f" (did you mean {', '.join(repr(h) for h in hints)}?)" if hints else ""
    raise DataError(f"column{'s' if len(missing) > 1 else ''} {names} not found{where}; "
                    f"available: {shown}{hint}")


__all__ = ["FORMATS", "detect_format", "iter_table", "read_table", "require_columns"]
