"""Fuzzing every reader: random bytes, random text and random well-formed records.

Readers: CSV / TSV (+ ``.gz``), Parquet, JSONL, FASTA, SDF, PubMed-RCT (``scifm.data.io``,
``files``, ``sdf``, ``rct``), CoNLL (``scifm.data.conll``) and the pretraining corpus
(``scifm.data.corpus``: one item per line, validated by each modality). Properties: a reader
returns rows or raises one clear line (never another exception, never a hang or a native crash),
and a well-formed file gives back exactly the records written into it.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from fuzzlib import (
    ALPHANUM,
    all_inputs,
    bounded,
    check_clean,
    junk_bytes,
    line_text,
    sequences,
    smiles_like,
    write_gz,
)
from hypothesis import given
from hypothesis import strategies as st

from scifm.config.schema import DataConfig

READERS = ["csv", "tsv", "csv.gz", "parquet", "jsonl", "fasta", "sdf", "rct", "conll", "corpus"]
"""Every reader, named by what the fuzzed file is read as."""


def _read(path: Path, reader: str) -> int:
    """Read ``path`` with ``reader``; the number of rows / sentences / corpus items."""
    if reader == "conll":
        from scifm.data.conll import read_conll

        return len(read_conll(path))
    if reader == "corpus":
        from scifm.data.corpus import CorpusReader

        return sum(1 for _ in CorpusReader(path, "smiles", DataConfig(), fmt="text").checked())
    from scifm.data.io import read_table

    return len(read_table(path, "rct" if reader == "rct" else "auto"))


def _fuzz_file(reader: str, payload: bytes) -> int:
    """Write ``payload`` as a file for ``reader``, read it (bounded): rows, or one line."""
    with tempfile.TemporaryDirectory() as tmp:
        suffix = {"conll": "txt", "corpus": "smi", "rct": "txt"}.get(reader, reader)
        path = Path(tmp) / f"data.{suffix}"
        if reader == "csv.gz":
            write_gz(path, payload)
        else:
            path.write_bytes(payload)
        before = path.read_bytes()
        out = check_clean(bounded(_read, path, reader))
        assert path.read_bytes() == before, "a reader modified its input"
        return out.value if out.kind == "ok" else -1


@given(reader=st.sampled_from(READERS), payload=junk_bytes)
def test_random_bytes_never_crash_a_reader(reader, payload):
    _fuzz_file(reader, payload)


@given(reader=st.sampled_from(["parquet", "csv.gz", "sdf"]), payload=junk_bytes)
def test_random_bytes_behind_a_magic_number(reader, payload):
    """Past the first check: bytes that start like a Parquet / gzip / mol file."""
    head = {"parquet": b"PAR1", "csv.gz": b"smiles,y\n", "sdf": b"x\n  RDKit 2D\n\n"}[reader]
    _fuzz_file(reader, head + payload)


@given(n_rows=st.integers(1, 3000), seed=st.integers(0, 2**32), cut=st.floats(0.0, 0.999))
def test_truncated_gzip_is_one_clear_line(n_rows, seed, cut):
    """A .csv.gz cut short anywhere (an interrupted download) is refused with one line naming
    the file, however far into the file the cut is (not only within its first block)."""
    import gzip
    import random

    rng = random.Random(seed)
    text = "smiles,y\n" + "".join(f"{'C' * rng.randint(1, 40)}O,{rng.random():.9f}\n"
                                  for _ in range(n_rows))
    raw = gzip.compress(text.encode())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cut.csv.gz"
        path.write_bytes(raw[: int(len(raw) * cut)])
        out = check_clean(bounded(_read, path, "csv"))
    assert out.kind == "scifm", f"a truncated gzip file was read as {out.value} rows"
    assert "cut.csv.gz" in out.message


STRUCTURE = st.sampled_from([
    ">", ">x label=1", "$$$$", "M  END", "###1", "###", "BACKGROUND\tText.", "a\tb", "a,b,c",
    '"unclosed', '{"smiles": "C", "y": 1}', "[1, 2]", "{", "-DOCSTART- -X- O O", "tok O",
    "smiles,y", "smiles\ty", "  0  0  0  0  0  0  0  0  0  0999 V2000", ";comment", "",
])


@given(reader=st.sampled_from(READERS),
       lines=st.lists(st.one_of(STRUCTURE, line_text, all_inputs), max_size=25),
       newline=st.sampled_from(["\n", "\r\n"]), bom=st.booleans())
def test_random_text_never_crashes_a_reader(reader, lines, newline, bom):
    """Text with the format's own markers in random places: rows or one clear line."""
    text = newline.join(lines)
    _fuzz_file(reader, (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))


cells = st.one_of(line_text.filter(lambda s: "\x00" not in s), smiles_like, st.just(""),
                  st.sampled_from(["NA", "nan", "None", "-", "1,5", "inf", " "]))


@given(fmt=st.sampled_from(["csv", "tsv", "csv.gz", "parquet", "jsonl"]),
       rows=st.lists(st.tuples(cells, cells), min_size=1, max_size=20))
def test_tables_give_back_every_row(fmt, rows):
    """Row accounting of the table readers: every row written is read back, cell for cell."""
    df = pd.DataFrame(rows, columns=["smiles", "y"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"t.{fmt}"
        if fmt == "parquet":
            df.to_parquet(path)
        elif fmt == "jsonl":
            path.write_text("".join(json.dumps(r) + "\n" for r in df.to_dict("records")),
                            encoding="utf-8")
        else:
            df.to_csv(path, sep="\t" if fmt == "tsv" else ",", index=False,
                      compression="gzip" if fmt.endswith(".gz") else None)
        out = check_clean(bounded(_cells, path))
        assert out.kind == "ok", f"a well-formed {fmt} file was refused: {out.message}"
    got = out.value
    assert len(got) == len(rows), f"{fmt}: wrote {len(rows)} rows, read {len(got)}"
    blank_is_missing = fmt in ("csv", "tsv", "csv.gz")
    want = [[None if (c == "" and blank_is_missing) else c for c in r] for r in rows]
    assert got == want


def _cells(path: Path) -> list[list[str | None]]:
    from scifm.data.io import read_table

    df = read_table(path)
    assert list(df.index) == list(range(len(df))), "row numbers are not 0..n-1"
    return [[None if (isinstance(v, float) and np.isnan(v)) else v for v in row]
            for row in df[["smiles", "y"]].itertuples(index=False)]


ids = st.text(alphabet=ALPHANUM, min_size=1, max_size=12)


@given(records=st.lists(st.tuples(ids, sequences.map(lambda s: s.replace(">", "").replace(";", "")),
                                  st.integers(1, 80)), min_size=1, max_size=15))
def test_fasta_gives_back_every_record(records):
    text = "".join(f">{i} label={k % 2}\n" + "".join(
        seq[j:j + w] + "\n" for j in range(0, len(seq), w)) for k, (i, seq, w) in
        enumerate(records))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.fasta"
        path.write_text(text, encoding="utf-8")
        out = check_clean(bounded(_fasta, path))
    assert out.kind == "ok", out.message
    want = [(i, "".join(ln.strip() for ln in _chunks(seq, w))) for i, seq, w in records]
    assert out.value == want


def _chunks(seq: str, w: int) -> list[str]:
    return [seq[j:j + w] for j in range(0, len(seq), w)]


def _fasta(path: Path) -> list[tuple[str, str]]:
    from scifm.data.io import read_table

    df = read_table(path)
    return list(zip(df["id"], df["sequence"], strict=True))


MOLBLOCK_SMILES = ["CCO", "c1ccccc1", "CC(=O)O", "C1CC1N", "O=C=O", "c1ccncc1"]


@given(blocks=st.lists(st.one_of(
    st.tuples(st.just("mol"), st.sampled_from(MOLBLOCK_SMILES), st.text(ALPHANUM, max_size=8)),
    st.tuples(st.just("junk"), st.lists(line_text, min_size=1, max_size=6).map("\n".join),
              st.just("")),
), min_size=1, max_size=12))
def test_sdf_gives_back_every_record(blocks):
    """Every mol block is a row: parsed, or kept with its parse error (quarantined later)."""
    from rdkit import Chem

    parts = []
    for kind, body, prop in blocks:
        if kind == "mol":
            parts.append(Chem.MolToMolBlock(Chem.MolFromSmiles(body))
                         + f">  <prop>\n{prop or 'x'}\n\n")
        else:
            lines = [ln for ln in body.split("\n") if ln.strip() != "$$$$"]
            parts.append("junk title\n" + "\n".join(lines) + "\n")
    text = "$$$$\n".join(parts) + "$$$$\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.sdf"
        path.write_text(text, encoding="utf-8")
        out = check_clean(bounded(_sdf, path))
    assert out.kind == "ok", out.message
    assert len(out.value) == len(blocks), "an SDF record was lost or invented"
    for (kind, _, _), (smiles, err) in zip(blocks, out.value, strict=True):
        if kind == "mol":
            assert smiles and not err
        else:
            assert bool(smiles) != bool(err), "a record must be a molecule or carry its error"


def _sdf(path: Path) -> list[tuple[str, str | None]]:
    from scifm.data.io import read_table

    df = read_table(path)
    return [(s, e if isinstance(e, str) else None)
            for s, e in zip(df["smiles"], df["_parse_error"], strict=True)]


words = st.text(alphabet=ALPHANUM + "-.,()'", min_size=1, max_size=10).filter(
    lambda w: w != "-DOCSTART-")


@given(sentences=st.lists(st.lists(st.tuples(words, st.sampled_from(["O", "B-X", "I-X"])),
                                   min_size=1, max_size=8), min_size=1, max_size=10),
       blank=st.sampled_from(["\n", "\n\n", "\n  \n"]))
def test_conll_gives_back_every_sentence(sentences, blank):
    text = blank.join("".join(f"{w} {t}\n" for w, t in s) for s in sentences)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text(text, encoding="utf-8")
        out = check_clean(bounded(_conll, path))
    assert out.kind == "ok", out.message
    assert out.value == [[w for w, _ in s] for s in sentences]


def _conll(path: Path) -> list[list[str]]:
    from scifm.data.conll import read_conll

    return [list(t) for t in read_conll(path)["tokens"]]


@given(abstracts=st.lists(st.lists(st.tuples(st.text(ALPHANUM, min_size=1, max_size=10),
                                             line_text), min_size=0, max_size=6),
                          min_size=1, max_size=6))
def test_rct_gives_back_every_sentence(abstracts):
    text = "".join(f"###{k}\n" + "".join(f"{lab}\t{s}\n" for lab, s in sents) + "\n"
                   for k, sents in enumerate(abstracts))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train.txt"
        path.write_text(text, encoding="utf-8")
        out = check_clean(bounded(_rct, path))
    n = sum(len(a) for a in abstracts)
    if n == 0:
        assert out.kind == "scifm"  # no sentence at all: "has no data rows"
        return
    assert out.kind == "ok", out.message
    assert out.value == [(str(k), lab) for k, a in enumerate(abstracts) for lab, _ in a]


def _rct(path: Path) -> list[tuple[str, str]]:
    from scifm.data.io import read_table

    df = read_table(path, "rct")
    return list(zip(df["abstract_id"], df["label"], strict=True))


@given(modality=st.sampled_from(["smiles", "protein", "dna", "text"]),
       lines=st.lists(st.one_of(smiles_like, sequences, line_text), max_size=30))
def test_corpus_accounts_for_every_item(modality, lines):
    """Pretraining corpora: items read = valid + rejected, and rejected.csv lists each one."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "corpus.txt"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = check_clean(bounded(_scan, path, modality, Path(tmp) / "rejected.csv"))
    n_items = sum(1 for ln in lines if ln.strip())
    if n_items == 0:
        return
    assert out.kind == "ok", out.message
    n_read, n_valid, n_rejected, n_listed, reasons_ok = out.value
    assert n_read == n_items, f"{n_items} non-blank lines, {n_read} items read"
    assert n_valid + n_rejected == n_read
    assert n_listed == n_rejected and reasons_ok


def _scan(path: Path, modality: str, rejected: Path) -> tuple[int, int, int, int, bool]:
    from scifm.data.corpus import CorpusReader, scan_corpus

    scan = scan_corpus(CorpusReader(path, modality, DataConfig(modality=modality), fmt="text"),
                       0.1, rejected, tokenizer_sample=10, max_holdout=10)
    rej = pd.read_csv(rejected, dtype=str, keep_default_na=False)
    reasons_ok = all(r.strip() and "\n" not in r for r in rej["reason"])
    return scan.n_read, scan.n_valid, scan.n_rejected, len(rej), reasons_ok
