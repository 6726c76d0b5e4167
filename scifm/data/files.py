"""The data file itself: its format (from the suffix), whether it is readable, its text lines.

Problems raise :class:`scifm.errors.DataError` with one line naming the file: missing, empty,
a directory, a binary file of another kind (image, PDF, archive, Excel), a broken gzip stream,
or bytes that are not UTF-8 (the message names the line and suggests ``iconv``).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from scifm.errors import DataError

SUFFIXES = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet",
    ".jsonl": "jsonl", ".ndjson": "jsonl", ".fasta": "fasta", ".fa": "fasta", ".faa": "fasta",
    ".fna": "fasta", ".fas": "fasta", ".sdf": "sdf", ".sd": "sdf",
}
"""File suffix (before an optional ``.gz``) -> format name."""
_MAGIC = [
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a zip archive (or an Excel .xlsx file)"),
    (b"PAR1", "a Parquet file"), (b"\xd0\xcf\x11\xe0", "an old Excel/Office file"),
    (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ", "an xz archive"), (b"7z\xbc\xaf", "a 7z archive"),
]
_GZIP_MAGIC = b"\x1f\x8b"


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
    fmt = SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise DataError(
            f"cannot tell the format of {p.name} from its suffix; supported: "
            ".csv, .tsv, .parquet, .jsonl, .fasta/.fa, .sdf (optionally .gz) - "
            "or set data.format"
        )
    return fmt


def is_gzip(path: Path) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def open_binary(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed when it is gzipped."""
    return gzip.open(path, "rb") if is_gzip(path) else open(path, "rb")


def check_file(path: Path, fmt: str) -> None:
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
            what = sniff_kind(raw_head)
            raise DataError(f"{path.name} is not a Parquet file" + (f" (it looks like {what})"
                                                                   if what else ""))
        return
    try:
        with open_binary(path) as fh:
            head = fh.read(8192)
    except (OSError, EOFError) as err:
        raise DataError(f"{path.name} looks gzipped but cannot be decompressed: {err}") from None
    if not head.strip():
        raise DataError(f"{path.name} is empty (no rows)")
    what = sniff_kind(head)
    if what is None and b"\x00" in head:
        what = "a binary file"
    if what is not None:
        raise DataError(f"{path.name} is not a {fmt.upper()} text file; it looks like {what}")


def sniff_kind(head: bytes) -> str | None:
    """What a binary file looks like from its first bytes (``"a PNG image"``), else None."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    return None


def utf8_problem(path: Path) -> str | None:
    """The first line of ``path`` that is not valid UTF-8, as one line naming the file, the line,
    the byte and the fix (``iconv``); None when the whole file decodes.

    Shared by data files (:func:`utf8_error`) and config files (:mod:`scifm.config.load`), so both
    say the same thing.
    """
    suffixes = [s for s in Path(path).suffixes if s.lower() != ".gz"]
    fixed = f"fixed{suffixes[-1] if suffixes else '.txt'}"
    with open_binary(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                bad = line[e.start:e.start + 1].hex()
                return (f"{path.name}: line {lineno} is not valid UTF-8 (byte 0x{bad} at column "
                        f"{e.start + 1}); re-encode the file as UTF-8, e.g. "
                        f"`iconv -f latin1 -t utf-8 {path.name} > {fixed}`")
    return None


def utf8_error(path: Path, err: UnicodeDecodeError | None = None) -> DataError:
    """Locate the first line that is not valid UTF-8 and build the error."""
    problem = utf8_problem(path)
    if problem is not None:
        return DataError(problem)
    return DataError(f"{path.name} is not valid UTF-8 ({err}); re-encode the file as UTF-8")


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` decoded as UTF-8 (BOM stripped); DataError on bad bytes."""
    with open_binary(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError:
                raise utf8_error(path) from None
            yield lineno, line


__all__ = ["SUFFIXES", "check_file", "detect_format", "is_gzip", "open_binary", "sniff_kind",
           "text_lines", "utf8_error", "utf8_problem"]
