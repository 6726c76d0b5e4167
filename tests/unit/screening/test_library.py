"""The library stream: plain .smi / .txt files, global row ids, the size estimate."""

from __future__ import annotations

import gzip

import pandas as pd

from scifm.screening.library import estimate_rows, library_chunks, library_format


def test_smi_with_header_ids_blank_lines_and_bad_bytes(tmp_path):
    path = tmp_path / "lib.smi.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b"SMILES zinc_id\nCCO  Z1 ethanol\n\nc1ccccc1\n\xff\xfeC Z3\nCCN Z4\n")
    assert library_format(path) == "smi"
    chunks = list(library_chunks(path, "smi", 2, "smiles"))
    assert [list(c.index) for c in chunks] == [[0, 1], [2, 3]]
    frame = pd.concat(chunks)
    assert frame["smiles"].tolist()[:2] == ["CCO", "c1ccccc1"]
    assert frame["id"].tolist()[0] == "Z1 ethanol" and frame["id"].tolist()[1] is None
    assert frame["smiles"].tolist()[2].startswith("\udcff")  # kept; validation rejects it


def test_txt_lines_keep_spaces(tmp_path):
    path = tmp_path / "abstracts.txt"
    path.write_text("a first abstract\nthe second one\n")
    assert library_format(path) == "lines"
    frame = next(library_chunks(path, "lines", 10, "text"))
    assert frame["text"].tolist() == ["a first abstract", "the second one"]
    assert list(frame.columns) == ["text"]


def test_estimate_rows(tmp_path):
    csv = tmp_path / "lib.csv"
    pd.DataFrame({"smiles": ["CCO"] * 123}).to_csv(csv, index=False)
    assert estimate_rows(csv, "csv") == 123  # small file: read whole
    pq = tmp_path / "lib.parquet"
    pd.DataFrame({"smiles": ["CCO"] * 77}).to_parquet(pq)
    assert estimate_rows(pq, "parquet") == 77  # from the metadata
    big = tmp_path / "big.csv.gz"
    with gzip.open(big, "wt") as fh:
        fh.write("smiles\n" + "".join(f"C{'C' * (i % 30)}O\n" for i in range(400_000)))
    assert abs(estimate_rows(big, "csv") - 400_000) < 40_000  # from a sample: within 10 %
