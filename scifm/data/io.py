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

Problems with the file raise :class:`scifm.errors.DataError` with one line naming the file.
"""

from __future__ import annotations

import difflib
import gzip
import json
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import pandas as pd

from scifm.errors import DataError

logger = logging.getLogger(__name__)

FORMATS = ("csv", "tsv", "parquet", "jsonl", "fasta", "sdf", "rct")
"""Readable formats; ``rct`` (PubMed-RCT sentences, :mod:`scifm.data.rct`) only when named."""
_SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".fasta": "fasta", ".fa": "fasta", ".faa": "fasta",
    ".fna": "fasta", ".fas": "fasta", ".sdf": "sdf", ".sd": "sdf",
}
_MAGIC = [
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive (or an Excel .xlsx file)"),
    (b"PAR1", "a Parquet file"), (b"\xd0\xcf\x11\xe0", "an old Excel/Office file"),
    (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ", "an xz archive"), (b"7z\xbc\xaf", "a 7z archive"),
]
_GZIP_MAGIC = b"\x1f\x8b"
_KV = re.compile(r"^([A-Za-z_][\w.-]*)=(.*)$")


def detect_format(path: str | Path) -> str:
    """Format name from the file suffix, ignoring a trailing ``.gz``.

    Raises
    ------
    DataError
        If the suffix is not one of the supported formats.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {p.name} from its suffix; supported: "
            ".csv, .tsv, .parquet, .jsonl, .fasta/.fa, .sdf (optionally .gz) - "
            "or set data.format"
        )
    return fmt


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _open_binary(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")


def _check_file(path: Path, fmt: str) -> None:
    """File exists, is not empty and does not look like a binary file of another kind."""
    if not path.exists():
        raise DataError(f"data file not found: {path}")
    if path.is_dir():
        raise DataError(f"data path is a directory, not a file: {path}")
    if path.stat().st_size == 0:
        raise DataError(f"{path.name} is empty (0 bytes)")
    with open(path, "rb") as fh:
        raw_head = fh.read(8)
    if fmt == "parquet":
        if raw_head[:4] != b"PAR1":
            what = _sniff_kind(raw_head)
            raise DataError(f"{path.name} is not a Parquet file" + (f" (it looks like {what})"
                                                                   if what else ""))
        return
    try:
        with _open_binary(path) as fh:
            head = fh.read(8192)
    except (OSError, EOFError) as err:
        raise DataError(f"{path.name} looks gzipped but cannot be decompressed: {err}") from None
    if not head.strip():
        raise DataError(f"{path.name} is empty (no rows)")
    what = _sniff_kind(head)
    if what is None and b"\x00" in head:
        what = "a binary file"
    if what is not None:
        raise DataError(f"{path.name} is not a {fmt.upper()} text file; it looks like {what}")


def _sniff_kind(head: bytes) -> str | None:
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def _utf8_error(path: Path, err: UnicodeDecodeError | None = None) -> DataError:
    """Locate the first line that is not valid UTF-8 and build the error."""
    with _open_binary(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = line[e.start:e.start + 1].hex()
                return DataError(
                    f"{path.name}: line {lineno} is not valid UTF-8 (byte 0x{bad} at column "
                    f"{e.start + 1}); re-encode the file as UTF-8, e.g. "
                    f"`iconv -f latin1 -t utf-8 {path.name} > fixed.csv`"
                )
    return DataError(f"{path.name} is not valid UTF-8 ({err}); re-encode the file as UTF-8")


def _text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` decoded as UTF-8 (BOM stripped); DataError on bad bytes."""
    with _open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise _utf8_error(path) from None
            yield lineno, line


def _sniff_sep(path: Path, default: str) -> str:
    """For a ``.csv`` whose header has no comma but tabs or semicolons, use that separator."""
    for _, line in _text_lines(path):
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


def _iter_delimited(path: Path, sep: str, chunksize: int) -> Iterator[pd.DataFrame]:
    sep = _sniff_sep(path, sep)
    try:
        reader = pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_values=[""],
            chunksize=chunksize, encoding="utf-8", compression="gzip" if _is_gzip(path) else None,
        )
        start = 0
        with reader:
            for chunk in reader:
                yield _numbered(chunk, start)
                start += len(chunk)
    except UnicodeDecodeError as err:
        raise _utf8_error(path, err) from None
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
    for lineno, line in _text_lines(path):
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
    for lineno, line in _text_lines(path):
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


def _sdf_blocks(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(first_line_number, block_text)`` for each record terminated by ``$$$$``."""
    buf: list[str] = []
    first = 1
    for lineno, line in _text_lines(path):
        if line.rstrip("\r\n").strip() == "$$$$":
            yield first, "".join(buf)
            buf, first = [], lineno + 1
        else:
            buf.append(line)
    if "".join(buf).strip():
        yield first, "".join(buf)


def _sdf_properties(data_part: str) -> dict[str, str]:
    props: dict[str, str] = {}
    name: str | None = None
    values: list[str] = []
    for line in data_part.splitlines():
        if line.startswith(">"):
            if name is not None:
                props[name] = "\n".join(values).strip()
            m = re.search(r"<([^>]*)>", line)
            name, values = (m.group(1) if m else line[1:].strip()), []
        elif name is not None:
            if line.strip() == "":
                props[name] = "\n".join(values).strip()
                name, values = None, []
            else:
                values.append(line)
    if name is not None:
        props[name] = "\n".join(values).strip()
    return props


def _sdf_records(path: Path) -> Iterator[dict]:
    from rdkit import Chem, rdBase

    for k, (lineno, block) in enumerate(_sdf_blocks(path)):
        end = block.find("M  END")
        molblock = block[: end + len("M  END")] + "\n" if end >= 0 else block
        data_part = block[end + len("M  END"):] if end >= 0 else ""
        rec: dict[str, object] = {"smiles": "", "_name": block.split("\n", 1)[0].strip()}
        with rdBase.BlockLogs():
            mol = Chem.MolFromMolBlock(molblock) if end >= 0 else None
        if mol is None:
            rec["_parse_error"] = (f"unparseable mol block: RDKit could not read record {k + 1} "
                                   f"(line {lineno})")
        else:
            rec["smiles"] = Chem.MolToSmiles(mol)
            rec["_parse_error"] = None
        for key, val in _sdf_properties(data_part).items():
            rec.setdefault(key, val)
        yield rec


def iter_table(path: str | Path, fmt: str = "auto",
               chunksize: int = 50_000) -> Iterator[pd.DataFrame]:
    """Stream a data file in chunks of at most ``chunksize`` rows with constant memory.

    Parameters
    ----------
    path
        The data file.
    fmt
        ``auto`` (from the suffix, ignoring ``.gz``) or one of :data:`FORMATS`.
    chunksize
        Maximum rows per chunk.

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
    _check_file(path, fmt)
    if fmt in ("csv", "tsv"):
        yield from _iter_delimited(path, "," if fmt == "csv" else "\t", chunksize)
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
        yield from _records_to_frames(_sdf_records(path), chunksize, ("smiles", "_name"))


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
