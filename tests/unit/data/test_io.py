"""Readers: every format, chunked streaming, and one-line errors naming the file."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from scifm.data.io import detect_format, iter_table, read_table, require_columns
from scifm.errors import DataError

CSV = "smiles,y,name\nCCO,1,ethanol\nNA,0,\nnan,,x\nc1ccccc1,1,benzene\n"


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_keeps_na_strings_and_blank_cells_are_nan(tmp_path):
    df = read_table(_write(tmp_path / "d.csv", CSV))
    assert df["smiles"].tolist() == ["CCO", "NA", "nan", "c1ccccc1"]
    assert df["y"].tolist()[:2] == ["1", "0"]
    assert pd.isna(df.loc[2, "y"]) and pd.isna(df.loc[1, "name"])
    assert list(df.index) == [0, 1, 2, 3]


def test_gzip_csv_and_tsv_match_plain_csv(tmp_path):
    plain = read_table(_write(tmp_path / "d.csv", CSV))
    gz = tmp_path / "d.csv.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write(CSV)
    pd.testing.assert_frame_equal(read_table(gz), plain)
    tsv = read_table(_write(tmp_path / "d.tsv", CSV.replace(",", "\t")))
    pd.testing.assert_frame_equal(tsv, plain)
    semi = read_table(_write(tmp_path / "semi.csv", CSV.replace(",", ";")))
    pd.testing.assert_frame_equal(semi, plain)


def test_parquet_roundtrip(tmp_path):
    src = pd.DataFrame({"smiles": ["CCO", "CCN", "CCC"], "y": [0.5, np.nan, 2.0]})
    src.to_parquet(tmp_path / "d.parquet")
    df = read_table(tmp_path / "d.parquet")
    assert df["smiles"].tolist() == ["CCO", "CCN", "CCC"]
    np.testing.assert_allclose(df["y"].to_numpy(dtype=float), [0.5, np.nan, 2.0])


def test_jsonl_and_malformed_line(tmp_path):
    rows = [{"smiles": "CCO", "y": 1}, {"smiles": "NA", "y": None}]
    p = _write(tmp_path / "d.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    df = read_table(p)
    assert df["smiles"].tolist() == ["CCO", "NA"] and df.loc[0, "y"] == 1
    bad = _write(tmp_path / "bad.jsonl", '{"smiles": "C"}\n{"smiles": "CC"}\n{"smiles": \n')
    with pytest.raises(DataError, match=r"bad.jsonl: line 3 is not valid JSON"):
        read_table(bad)


def test_fasta_multiline_records_and_key_values(tmp_path):
    p = _write(tmp_path / "s.fasta",
               ">P1 kinase domain label=1 split=test\nMKT\nLLV\n\n>P2\nACDE\n;comment\nFG\n")
    df = read_table(p)
    assert df["id"].tolist() == ["P1", "P2"]
    assert df["sequence"].tolist() == ["MKTLLV", "ACDEFG"]
    assert df.loc[0, "description"] == "kinase domain label=1 split=test"
    assert df.loc[0, "label"] == "1" and df.loc[0, "split"] == "test"
    assert pd.isna(df.loc[1, "label"])
    with pytest.raises(DataError, match="before any '>' header"):
        read_table(_write(tmp_path / "no.fa", "MKT\n>P1\nAAA\n"))


def test_iter_table_chunks_concatenate_to_read_table(tmp_path):
    rows = "".join(f"C{'C' * i}O,{i}\n" for i in range(11))
    csv = _write(tmp_path / "d.csv", "smiles,y\n" + rows)
    jsonl = _write(tmp_path / "d.jsonl", "".join(json.dumps({"s": "C" * (i + 1), "y": i}) + "\n"
                                                 for i in range(7)))
    fasta = _write(tmp_path / "d.fa", "".join(f">s{i}\nAC\nGT\n" for i in range(5)))
    for p in (csv, jsonl, fasta):
        chunks = list(iter_table(p, chunksize=3))
        assert all(len(c) <= 3 for c in chunks)
        assert [c.index[0] for c in chunks] == list(range(0, sum(map(len, chunks)), 3))
        pd.testing.assert_frame_equal(pd.concat(chunks), read_table(p))


def test_missing_file_unknown_suffix_and_malformed_csv(tmp_path):
    with pytest.raises(DataError, match="data file not found: .*nope.csv"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"cannot tell the format of d.xlsx"):
        read_table(_write(tmp_path / "d.xlsx", "x"))
    bad = _write(tmp_path / "bad.csv", "a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match=r"bad.csv: malformed CSV: .*line 3"):
        read_table(bad)
    assert detect_format("x/data.TSV.gz") == "tsv"
    assert detect_format("a.smi.fa") == "fasta"


def test_require_columns_message():
    df = pd.DataFrame({"smiles": [], "name": [], "P_np": []})
    require_columns(df, ["smiles"], "bbbp.csv")
    with pytest.raises(DataError) as info:
        require_columns(df, ["p_np"], "data/bbbp.csv")
    assert str(info.value) == ("column 'p_np' not found in bbbp.csv; available: smiles, name, "
                               "P_np (did you mean 'P_np'?)")
    with pytest.raises(DataError, match=r"columns 'a', 'b' not found"):
        require_columns(df, ["a", "b"])
