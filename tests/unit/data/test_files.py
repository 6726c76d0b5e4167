"""The data file itself: format from the suffix, binary / empty / non-UTF-8 files refused."""

from __future__ import annotations

import pytest

from scifm.data.files import detect_format, sniff_kind, text_lines
from scifm.data.io import read_table
from scifm.errors import DataError


def test_non_utf8_bytes_name_the_line(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("smiles,y\nCCO,1\nC,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.csv: line 3 is not valid UTF-8.*re-encode"):
        read_table(p)
    fa = tmp_path / "latin.fasta"
    fa.write_bytes(b">a\nAC\n>b \xff\nGT\n")
    with pytest.raises(DataError, match="line 3 is not valid UTF-8"):
        read_table(fa)


@pytest.mark.parametrize(
    ("name", "content", "pattern"),
    [
        ("empty.csv", b"", r"empty.csv is empty"),
        ("blank.csv", b"\n\n  \n", r"blank.csv is empty"),
        ("header.csv", b"smiles,y\n", r"header.csv has no data rows \(columns: smiles, y\)"),
        ("img.csv", b"\x89PNG\r\n\x1a\n" + bytes(100), r"img.csv is not a CSV.*PNG image"),
        ("arch.csv", b"PK\x03\x04" + bytes(50), r"zip archive"),
        ("fake.parquet", b"smiles,y\nCCO,1\n", r"fake.parquet is not a Parquet file"),
        ("bin.jsonl", b"ab\x00\x01cd", r"binary file"),
        ("empty.fasta", b"", r"empty"),
    ],
)
def test_bad_files_raise_one_line_errors(tmp_path, name, content, pattern):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(DataError, match=pattern) as info:
        read_table(p)
    assert "\n" not in str(info.value)


def test_file_helpers(tmp_path):
    assert detect_format("a/b.FA.gz") == "fasta" and sniff_kind(b"%PDF-1.4") == "a PDF document"
    p = tmp_path / "t.txt"
    p.write_bytes("\ufeffa\nb\n".encode())
    assert [line for _, line in text_lines(p)] == ["a\n", "b\n"]  # BOM stripped
