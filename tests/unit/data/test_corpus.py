"""Pretraining corpora: formats, invalid items counted, hash held-out split, true streaming."""

from __future__ import annotations

import csv
import gzip
import itertools

import pandas as pd
import pytest

import scifm.data.corpus as corpus_mod
from scifm.config.schema import DataConfig
from scifm.data.corpus import (
    CorpusReader,
    MlmStreamDataset,
    corpus_format,
    is_holdout,
    scan_corpus,
    shuffled,
)
from scifm.featurizers.tokenizers import build_tokenizer

SMILES = [f"C{'C' * (i % 7)}{'O' * (i % 3)}N" + "c1ccccc1" * (i % 2) for i in range(60)]
GOOD = list(dict.fromkeys(SMILES))


def _tokenizer():
    from scifm.config.schema import ModelConfig

    return build_tokenizer("smiles", GOOD, ModelConfig(max_length=32))


def test_corpus_format_from_suffix(tmp_path) -> None:
    assert corpus_format(tmp_path / "a.smi") == "text"
    assert corpus_format(tmp_path / "a.txt.gz") == "text"
    assert corpus_format(tmp_path / "a.csv.gz") == "csv"
    assert corpus_format(tmp_path / "a.fa") == "fasta"
    assert corpus_format(tmp_path / "a.dat", "text") == "text"


def test_invalid_items_are_counted_and_written(tmp_path) -> None:
    path = tmp_path / "c.smi"
    path.write_text("CCO ethanol\nnot_a_smiles\n\nC1CC\nc1ccccc1\n", encoding="utf-8")
    reader = CorpusReader(path, "smiles", DataConfig())
    rejected = tmp_path / "rejected.csv"
    scan = scan_corpus(reader, 0.5, rejected, tokenizer_sample=10, max_holdout=10)
    assert (scan.n_read, scan.n_valid, scan.n_rejected) == (4, 2, 2)
    assert scan.n_train + scan.n_holdout == 2
    rows = list(csv.DictReader(rejected.open(encoding="utf-8")))
    assert [r["input"] for r in rows] == ["not_a_smiles", "C1CC"]
    assert [int(r["row"]) for r in rows] == [1, 3]  # the 0-based line numbers
    assert all(r["reason"] for r in rows)
    assert sum(scan.reasons.values()) == 2
    assert list(reader) == ["CCO", "c1ccccc1"]  # the name after the SMILES is not the item


def test_gzip_csv_and_fasta_sources(tmp_path) -> None:
    seqs = ["MKTAYIAK", "GGSLLV", "PEPTIDE"]
    with gzip.open(tmp_path / "p.txt.gz", "wt") as fh:
        fh.write("\n".join(seqs) + "\n")
    pd.DataFrame({"seq": seqs, "y": [1, 2, 3]}).to_csv(tmp_path / "p.csv", index=False)
    (tmp_path / "p.fasta").write_text("".join(f">s{i}\n{s[:3]}\n{s[3:]}\n"
                                              for i, s in enumerate(seqs)))
    for name, col in [("p.txt.gz", "x"), ("p.csv", "seq"), ("p.fasta", "smiles")]:
        reader = CorpusReader(tmp_path / name, "protein", DataConfig(), input_col=col)
        assert list(reader) == seqs, name


def test_missing_column_is_a_clear_error(tmp_path) -> None:
    from scifm.errors import DataError

    pd.DataFrame({"a": ["CCO"]}).to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match="column 'smiles' not found"):
        list(CorpusReader(tmp_path / "t.csv", "smiles", DataConfig()))


def test_holdout_split_is_stable_disjoint_and_complete(tmp_path) -> None:
    path = tmp_path / "c.smi"
    path.write_text("\n".join(SMILES) + "\n")
    reader = CorpusReader(path, "smiles", DataConfig(), chunksize=7)
    tok = _tokenizer()

    def items(split: str, epoch: int) -> list[tuple[int, ...]]:
        ds = MlmStreamDataset(reader, tok, "smiles", 32, 0.3, split=split, shuffle_buffer=8,
                              seed=0, tokenize_batch=5)
        ds.set_epoch(epoch)
        return [tuple(ex["input_ids"]) for ex in ds]

    train0, train1 = items("train", 0), items("train", 1)
    hold0, hold1 = items("holdout", 0), items("holdout", 3)
    assert sorted(train0) == sorted(train1) and train0 != train1  # reshuffled, same items
    assert sorted(hold0) == sorted(hold1)
    assert not set(train0) & set(hold0)
    canon = list(reader)
    assert len(train0) + len(hold0) == len(canon)
    assert len(hold0) == sum(is_holdout(s, 0.3) for s in canon) > 0


def test_streaming_reads_only_what_it_needs(tmp_path, monkeypatch) -> None:
    path = tmp_path / "big.smi"
    path.write_text("\n".join(itertools.islice(itertools.cycle(GOOD), 5000)) + "\n")
    consumed = {"n": 0}
    real = corpus_mod.iter_raw_items

    def counting(*args, **kwargs):
        for item in real(*args, **kwargs):
            consumed["n"] += 1
            yield item

    monkeypatch.setattr(corpus_mod, "iter_raw_items", counting)
    reader = CorpusReader(path, "smiles", DataConfig(), chunksize=50)
    ds = MlmStreamDataset(reader, _tokenizer(), "smiles", 32, 0.1, shuffle_buffer=20,
                          tokenize_batch=8)
    first = list(itertools.islice(iter(ds), 5))
    assert len(first) == 5 and all(ex["input_ids"][0] == 2 for ex in first)  # [CLS] first
    assert 0 < consumed["n"] <= 150  # a few chunks of 50, not 5000 lines


def test_shuffle_buffer_keeps_every_item() -> None:
    import random

    out = list(shuffled(iter(range(100)), 10, random.Random(0)))
    assert sorted(out) == list(range(100)) and out != list(range(100))
