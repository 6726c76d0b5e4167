"""Pretraining corpora, streamed: read, validate, hold out by hash, tokenise lazily.

A corpus is a plain text file with one item per line (``.txt``, ``.smi``; optionally gzipped), a
column of a CSV/TSV/Parquet/JSONL table, or the sequences of a FASTA file. Nothing here needs the
corpus to fit in memory:

* :class:`CorpusReader` streams ``(row, item)`` pairs chunk by chunk, each item validated and
  canonicalised with :func:`scifm.data.validate.validate_inputs` (invalid items are reported by
  :func:`scan_corpus`, never silently dropped; items over the modality's size limits are
  rejected before a parser or tokenizer sees them, and an item that crashes RDKit is rejected
  alone and skipped by every later pass, DataLoader workers included).
* :func:`is_holdout` assigns an item to the held-out set by a hash of its canonical form, so the
  split is the same on every pass and exact duplicates never straddle train and held-out.
* :class:`MlmStreamDataset` is a :class:`torch.utils.data.IterableDataset` that shuffles through
  a bounded buffer and tokenises on the fly.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import IterableDataset, get_worker_info
from transformers import PreTrainedTokenizerBase

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.io import detect_format, iter_table
from scifm.data.validate import (
    known_crashes,
    reason_category,
    remember_crashes,
    validate_inputs,
)
from scifm.errors import ConfigError, DataError
from scifm.featurizers.tokenizers import prepare_inputs

logger = logging.getLogger(__name__)

TEXT_SUFFIXES = (".txt", ".text", ".smi", ".smiles", ".seq")
"""Suffixes (before an optional ``.gz``) of plain one-item-per-line corpora."""
_HASH_SCALE = float(2**64)


def corpus_format(path: str | Path, fmt: str = "auto") -> str:
    """``text`` for a one-item-per-line file, else the table format of :mod:`scifm.data.io`."""
    if fmt != "auto":
        return fmt
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    if suffixes and suffixes[-1] in TEXT_SUFFIXES:
        return "text"
    return detect_format(path)


def _open_text(path: Path) -> Iterator[str]:
    if not path.is_file():
        raise DataError(f"corpus file not found: {path}")
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as fh:
            yield from fh
    except UnicodeDecodeError as err:
        raise DataError(f"{path.name} is not valid UTF-8 ({err.reason}); re-encode it") from None


def iter_raw_items(
    path: str | Path, fmt: str = "auto", input_col: str = "smiles", modality: str = "smiles",
    chunksize: int = 10_000,
) -> Iterator[tuple[int, object]]:
    """Stream ``(row, raw_value)`` from a corpus file; blank lines of a text file are skipped.

    Parameters
    ----------
    path
        The corpus file.
    fmt
        ``auto``, ``text`` or a table format (``csv``, ``tsv``, ``parquet``, ``jsonl``,
        ``fasta``).
    input_col
        Column of a table; FASTA uses ``sequence`` when ``input_col`` is not one of its columns.
    modality
        Its plug-in's ``corpus_item`` takes the item from a line of a text file (``smiles``:
        the first whitespace-separated field, as ``.smi`` files often carry a name after it).
    chunksize
        Rows per chunk read from a table.

    Yields
    ------
    tuple[int, object]
        0-based line (text) or row (table) number and the raw value.
    """
    path = Path(path)
    fmt = corpus_format(path, fmt)
    if fmt == "text":
        item = MODALITIES.get(modality).corpus_item
        for row, line in enumerate(_open_text(path)):
            line = line.strip()
            if line:
                yield row, item(line)
        return
    for chunk in iter_table(path, fmt, chunksize=chunksize):
        col = input_col
        if col not in chunk.columns and fmt == "fasta":
            col = "sequence"
        if col not in chunk.columns:
            raise DataError(f"column {input_col!r} not found in {path.name}; available: "
                            f"{', '.join(map(str, chunk.columns))}")
        yield from zip(chunk.index.tolist(), chunk[col].tolist(), strict=True)


def holdout_score(item: str) -> float:
    """A deterministic pseudo-uniform number in ``[0, 1)`` from the item's text."""
    digest = hashlib.blake2b(item.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _HASH_SCALE


def is_holdout(item: str, fraction: float) -> bool:
    """Whether ``item`` belongs to the held-out set (``holdout_score(item) < fraction``)."""
    return holdout_score(item) < fraction


@dataclass
class CheckedItem:
    """One corpus item after validation."""

    row: int
    """0-based line / row number in the file."""
    raw: object
    """The value as read."""
    text: str | None
    """Canonical form, or None when invalid."""
    reason: str | None
    """Why the item was rejected (None when valid)."""


class CorpusReader:
    """A re-iterable stream of the validated items of one corpus file.

    Parameters
    ----------
    path, fmt, input_col
        Where the items are (see :func:`iter_raw_items`).
    modality
        ``smiles``, ``protein``, ``dna`` or ``text``: picks the validator.
    data_cfg
        Validation options (:class:`~scifm.config.schema.DataConfig`).
    chunksize
        Items validated together (memory is bounded by a few chunks).
    """

    def __init__(self, path: str | Path, modality: str, data_cfg: DataConfig, fmt: str = "auto",
                 input_col: str = "smiles", chunksize: int = 10_000) -> None:
        if not isinstance(input_col, str):
            raise ConfigError(f"pretraining reads one input column; data.input_col is "
                              f"{input_col} (give only the primary column)")
        self.path = Path(path)
        self.modality = modality
        self.data_cfg = data_cfg
        self.fmt = fmt
        self.input_col = input_col
        self.chunksize = chunksize

    def raw_items(self) -> Iterator[tuple[int, object]]:
        """``(row, raw_value)`` pairs, see :func:`iter_raw_items`."""
        return iter_raw_items(self.path, self.fmt, self.input_col, self.modality, self.chunksize)

    def checked(self) -> Iterator[CheckedItem]:
        """Every item with its canonical form or rejection reason, in file order."""
        rows: list[int] = []
        values: list[object] = []
        for row, value in self.raw_items():
            rows.append(row)
            values.append(value)
            if len(values) >= self.chunksize:
                yield from self._validate(rows, values)
                rows, values = [], []
        if values:
            yield from self._validate(rows, values)

    def _validate(self, rows: list[int], values: list[object]) -> Iterator[CheckedItem]:
        canonical, reasons = validate_inputs(values, self.modality, self.data_cfg)
        for row, raw, text, reason in zip(rows, values, canonical, reasons, strict=True):
            yield CheckedItem(row, raw, text, reason)

    def __iter__(self) -> Iterator[str]:
        """Canonical forms of the valid items, in file order."""
        return (item.text for item in self.checked() if item.text is not None)

    def __getstate__(self) -> dict[str, Any]:
        # a worker process (DataLoader) validates in-process: it must skip known crashers
        return {**self.__dict__, "_crashes": known_crashes(self.modality)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        remember_crashes(state["modality"], state.pop("_crashes", {}))
        self.__dict__.update(state)


@dataclass
class CorpusScan:
    """What one full pass over a corpus found."""

    n_read: int = 0
    """Items read (non-blank lines / table rows)."""
    n_valid: int = 0
    n_rejected: int = 0
    n_train: int = 0
    n_holdout: int = 0
    reasons: Counter = field(default_factory=Counter)
    """Rejections per reason category."""
    tokenizer_sample: list[str] = field(default_factory=list)
    """The first training items (bounded), for training a tokenizer."""
    holdout: list[str] = field(default_factory=list)
    """The first held-out items (bounded), for evaluation."""

    def report(self) -> dict[str, Any]:
        """Counts for ``data_report.json`` and ``metrics.json``."""
        return {"n_rows_in": self.n_read, "n_valid": self.n_valid,
                "n_rejected": self.n_rejected, "n_train": self.n_train,
                "n_holdout": self.n_holdout, "n_holdout_evaluated": len(self.holdout),
                "rejected_by_reason": dict(self.reasons)}


def scan_corpus(corpus: CorpusReader, holdout_fraction: float, rejected_path: Path | None,
                tokenizer_sample: int, max_holdout: int) -> CorpusScan:
    """One streamed pass: count items, write rejected ones, keep bounded samples.

    Parameters
    ----------
    corpus
        The corpus.
    holdout_fraction
        See :func:`is_holdout`.
    rejected_path
        ``rejected.csv`` (columns ``row, input, reason``), written as the pass goes; None: none.
    tokenizer_sample, max_holdout
        How many training / held-out items to keep in memory.
    """
    scan = CorpusScan()
    fh = open(rejected_path, "w", newline="", encoding="utf-8") if rejected_path else None
    try:
        writer = csv.writer(fh) if fh else None
        if writer:
            writer.writerow(["row", "input", "reason"])
        for item in corpus.checked():
            scan.n_read += 1
            if item.text is None:
                scan.n_rejected += 1
                scan.reasons[reason_category(item.reason or "")] += 1
                if writer:
                    writer.writerow([item.row, item.raw, item.reason])
                continue
            scan.n_valid += 1
            if is_holdout(item.text, holdout_fraction):
                scan.n_holdout += 1
                if len(scan.holdout) < max_holdout:
                    scan.holdout.append(item.text)
            else:
                scan.n_train += 1
                if len(scan.tokenizer_sample) < tokenizer_sample:
                    scan.tokenizer_sample.append(item.text)
    finally:
        if fh:
            fh.close()
    logger.info("corpus %s: %d items, %d valid (%d train, %d held out), %d rejected",
                corpus.path.name, scan.n_read, scan.n_valid, scan.n_train, scan.n_holdout,
                scan.n_rejected)
    return scan


def shuffled(items: Iterable[str], buffer_size: int, rng: random.Random) -> Iterator[str]:
    """Approximate shuffle of a stream through a buffer of ``buffer_size`` items."""
    buf: list[str] = []
    for item in items:
        if len(buf) < buffer_size:
            buf.append(item)
            continue
        j = rng.randrange(buffer_size)
        yield buf[j]
        buf[j] = item
    rng.shuffle(buf)
    yield from buf


class MlmStreamDataset(IterableDataset):
    """The training (or held-out) items of a corpus, tokenised lazily: ``{"input_ids": [...]}``.

    Parameters
    ----------
    corpus
        The corpus stream.
    tokenizer
        Maps prepared inputs to ids (``[CLS] ... [SEP]``), truncated to ``max_length``.
    modality, dna_kmer
        Input preparation (:func:`~scifm.featurizers.tokenizers.prepare_inputs`).
    max_length
        Tokens per item.
    holdout_fraction
        Items with :func:`is_holdout` are skipped (``split="train"``) or kept (``"holdout"``).
    split
        ``train`` or ``holdout``.
    shuffle_buffer
        Buffer size of the streaming shuffle (1 = file order); reseeded by :meth:`set_epoch`.
    seed
        Seeds the shuffle.
    """

    def __init__(self, corpus: CorpusReader, tokenizer: PreTrainedTokenizerBase, modality: str,
                 max_length: int, holdout_fraction: float, split: str = "train",
                 dna_kmer: int = 1, shuffle_buffer: int = 10_000, seed: int = 0,
                 tokenize_batch: int = 256) -> None:
        if split not in ("train", "holdout"):
            raise ValueError(f"split must be 'train' or 'holdout', got {split!r}")
        self.corpus = corpus
        self.tokenizer = tokenizer
        self.modality = modality
        self.max_length = max_length
        self.holdout_fraction = holdout_fraction
        self.split = split
        self.dna_kmer = dna_kmer
        self.shuffle_buffer = shuffle_buffer
        self.seed = seed
        self.tokenize_batch = tokenize_batch
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Reseed the shuffle for a new pass (called by ``transformers.Trainer``)."""
        self.epoch = int(epoch)

    def _items(self) -> Iterator[str]:
        worker = get_worker_info()
        n_workers, worker_id = (worker.num_workers, worker.id) if worker else (1, 0)
        want_holdout = self.split == "holdout"
        k = 0
        for item in self.corpus:
            if is_holdout(item, self.holdout_fraction) != want_holdout:
                continue
            if k % n_workers == worker_id:
                yield item
            k += 1

    def _encode(self, items: list[str]) -> list[list[int]]:
        texts = prepare_inputs(self.modality, items, self.dna_kmer)
        enc = self.tokenizer(texts, truncation=True, max_length=self.max_length,
                             return_token_type_ids=False, return_attention_mask=False)
        return enc["input_ids"]

    def __iter__(self) -> Iterator[dict[str, list[int]]]:
        items: Iterable[str] = self._items()
        if self.shuffle_buffer > 1:
            items = shuffled(items, self.shuffle_buffer, random.Random(self.seed + self.epoch))
        batch: list[str] = []
        for item in items:
            batch.append(item)
            if len(batch) >= self.tokenize_batch:
                yield from ({"input_ids": ids} for ids in self._encode(batch))
                batch = []
        if batch:
            yield from ({"input_ids": ids} for ids in self._encode(batch))
