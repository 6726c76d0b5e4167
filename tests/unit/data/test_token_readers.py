"""CoNLL and PubMed-RCT readers, and per-residue tables, on tiny generated files."""

from __future__ import annotations

import gzip

import pytest

from scifm.config.schema import DataConfig, SplitConfig
from scifm.data.conll import read_conll
from scifm.data.io import read_table
from scifm.data.tokens import load_token_data, token_splits
from scifm.errors import DataError

CONLL = """-DOCSTART- -X- -X- O

BRCA1\tNN\tO\tO
causes\tNN\tO\tO
breast\tNN\tO\tB-Disease
cancer\tNN\tO\tI-Disease
.\tNN\tO\tO

Ataxia\tNN\tO\tB-Disease
-\tNN\tO\tI-Disease
telangiectasia\tNN\tO\tI-Disease
-DOCSTART- -X- -X- O
Healthy O
"""


def _gz(path, text):
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(text)
    return path


def test_conll_sentences_tags_docstart_and_gzip(tmp_path):
    frame = read_conll(_gz(tmp_path / "train.txt.gz", CONLL))
    assert frame["tokens"].tolist() == [["BRCA1", "causes", "breast", "cancer", "."],
                                        ["Ataxia", "-", "telangiectasia"], ["Healthy"]]
    assert frame["tags"].tolist()[0] == ["O", "O", "B-Disease", "I-Disease", "O"]
    assert frame["tags"].tolist()[2] == ["O"]  # 2-column line: tag = last column
    assert frame["sentence_id"].tolist()[0] == "train:3"


def test_conll_line_without_tag_is_an_error(tmp_path):
    (tmp_path / "bad.txt").write_text("word\tO\nlonely\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2 has no tag"):
        read_conll(tmp_path / "bad.txt")


RCT = """###111
background\tCancer is common .
methods\tWe randomised 40 patients .

###222
results\tIt worked .
"""


def test_rct_format_gives_one_text_row_per_sentence(tmp_path):
    frame = read_table(_gz(tmp_path / "train.txt.gz", RCT), "rct")
    assert frame["abstract_id"].tolist() == ["111", "111", "222"]
    assert frame["sentence_index"].tolist() == ["0", "1", "0"]
    assert frame["n_sentences"].tolist() == ["2", "2", "1"]
    assert frame["label"].tolist() == ["background", "methods", "results"]
    assert frame["text"].tolist()[1] == "We randomised 40 patients ."


def test_rct_errors_name_the_line(tmp_path):
    (tmp_path / "a.txt").write_text("methods\tno header\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 1 comes before any"):
        read_table(tmp_path / "a.txt", "rct")
    (tmp_path / "b.txt").write_text("###1\nno tab here\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2 has no tab"):
        read_table(tmp_path / "b.txt", "rct")


def test_residue_table_masks_and_rejects(tmp_path):
    (tmp_path / "ss.csv").write_text(
        "id,sequence,ss3,resolved_mask,set\n"
        "a,acde,HHEC,0110,train\n"       # lower case is upper-cased; masked -> None
        "b,ACD,HH,111,train\n"           # label string too short -> rejected
        "c,ACDE,CCCC,,test\n"            # no mask: every residue scored
        "d,AC,HE,00,train\n"             # nothing left to score -> rejected
        "e,AAAA,HHHH,1111,train\n", encoding="utf-8")
    dc = DataConfig(path=tmp_path / "ss.csv", modality="protein", target_cols=["ss3"],
                    mask_col="resolved_mask", id_col="id", task="token_classification")
    data = load_token_data(dc, SplitConfig(method="predefined", column="set"))
    assert data.ids == ["a", "c", "e"]
    assert data.words[0] == list("ACDE")
    assert data.tags[0] == [None, "H", "E", None]
    assert data.tags[1] == list("CCCC")
    assert [r["id"] for r in data.rejected] == ["b", "d"]
    splits = token_splits(data, SplitConfig(sizes=(0.5, 0.5, 0.0)), seed=0)
    assert splits["test"].tolist() == [1]
    assert len(splits["val"]) == 1 and len(splits["train"]) == 1  # val carved from train
