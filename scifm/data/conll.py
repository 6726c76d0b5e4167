"""CoNLL-style token files: one ``token ... tag`` line per token, a blank line between sentences.

The token is the first column and the tag the last one (whitespace- or tab-separated), so the
4-column CoNLL-2003 layout (``token POS chunk tag``) and the 2-column layout both work. Lines
starting with ``-DOCSTART-`` are document separators and are skipped. Files may be gzipped.
Tags are kept as they are (IOB2 ``B-X/I-X/O`` or IOB1); :mod:`scifm.evaluation.token_metrics`
scores either.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from scifm.errors import DataError

logger = logging.getLogger(__name__)

DOCSTART = "-DOCSTART-"


def text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """``(line_number, line)`` of a UTF-8 text file, gunzipped when it starts with gzip magic.

    Raises
    ------
    DataError
        Missing file or bytes that are not UTF-8 (the message names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                yield lineno, raw.decode("utf-8-sig" if lineno == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise DataError(f"{path.name}: line {lineno} is not valid UTF-8") from None


def iter_conll(path: str | Path,
               tags_required: bool = True) -> Iterator[tuple[int, list[str], list[str]]]:
    """Sentences of a CoNLL file as ``(first_line_number, tokens, tags)``.

    With ``tags_required=False`` (files to predict) a line may be the token alone; its tag is
    ``""``.

    Raises
    ------
    DataError
        A non-blank line with a single column (no tag) when tags are required.
    """
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    for lineno, line in text_lines(path):
        cols = line.split()
        if not cols or cols[0] == DOCSTART:
            if tokens:
                yield first, tokens, tags
            tokens, tags = [], []
            continue
        if len(cols) < 2 and tags_required:
            raise DataError(f"{Path(path).name}: line {lineno} has no tag column "
                            f"(expected 'token ... tag', got {line[:60]!r})")
        if not tokens:
            first = lineno
        tokens.append(cols[0])
        tags.append(cols[-1] if len(cols) > 1 else "")
    if tokens:
        yield first, tokens, tags


def read_conll(path: str | Path) -> pd.DataFrame:
    """Read a CoNLL file: one row per sentence.

    Returns
    -------
    pandas.DataFrame
        Columns ``sentence_id`` (``<file stem>:<first line>``), ``tokens`` and ``tags`` (lists
        of equal length); index = 0-based sentence number.

    Raises
    ------
    DataError
        No sentences, or a malformed line.
    """
    path = Path(path)
    stem = path.name.split(".")[0]
    rows = [{"sentence_id": f"{stem}:{first}", "tokens": toks, "tags": tags}
            for first, toks, tags in iter_conll(path)]
    if not rows:
        raise DataError(f"{path.name} has no sentences (expected 'token ... tag' lines)")
    n_tokens = sum(len(r["tokens"]) for r in rows)
    logger.info("read %d sentences (%d tokens) from %s", len(rows), n_tokens, path.name)
    return pd.DataFrame(rows, columns=["sentence_id", "tokens", "tags"])
