"""Sequential sentence classification files in the PubMed-RCT layout (format ``rct``)::

    ###24491034
    BACKGROUND<TAB>The emergence of ...
    METHODS<TAB>We randomly assigned ...

    ###24491035
    ...

``###<id>`` opens an abstract, each following line is ``label<TAB>sentence``, a blank line ends
the abstract. Every sentence becomes one row with ``abstract_id``, ``sentence_index`` (0-based
position in its abstract), ``n_sentences``, ``label`` and ``text``, so ``scifm train`` treats the
file as ordinary text classification (``--input-col text --target-col label``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from scifm.data.conll import text_lines
from scifm.errors import DataError

RCT_COLUMNS = ("abstract_id", "sentence_index", "n_sentences", "label", "text")


def _flush(abstract: str, lines: list[tuple[str, str]]) -> Iterator[dict]:
    for i, (label, text) in enumerate(lines):
        yield {"abstract_id": abstract, "sentence_index": str(i),
               "n_sentences": str(len(lines)), "label": label, "text": text}


def rct_records(path: str | Path) -> Iterator[dict]:
    """One dict per sentence (values are strings, like the CSV reader's cells).

    Raises
    ------
    DataError
        A sentence line before any ``###`` header, or a line without a tab.
    """
    name = Path(path).name
    abstract: str | None = None
    lines: list[tuple[str, str]] = []
    for lineno, line in text_lines(path):
        if line.startswith("###"):
            if abstract is not None:
                yield from _flush(abstract, lines)
            abstract, lines = line[3:].strip(), []
        elif not line.strip():
            continue  # blank lines only separate abstracts
        elif abstract is None:
            raise DataError(f"{name}: line {lineno} comes before any '###<id>' header; is this "
                            "a PubMed-RCT style file?")
        elif "\t" not in line:
            raise DataError(f"{name}: line {lineno} has no tab (expected 'label<TAB>sentence')")
        else:
            label, text = line.split("\t", 1)
            lines.append((label.strip(), text.strip()))
    if abstract is not None:
        yield from _flush(abstract, lines)
