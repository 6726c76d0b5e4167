"""Tokenizers: SMILES regex, fixed protein/DNA alphabets, DNA k-mers, text WordPiece."""

from __future__ import annotations

import pytest
from transformers import AutoTokenizer

from scifm.config.schema import ModelConfig
from scifm.errors import ConfigError
from scifm.featurizers.tokenizers import (
    SPECIAL_TOKENS,
    build_tokenizer,
    kmerize,
    load_checkpoint_tokenizer,
    prepare_inputs,
)

SMILES = ["CC(=O)Cl", "[NH4+].c1ccccc1Br", "CCN(CC)CC", "O=C(O)c1ccccc1"]


def test_special_tokens_have_fixed_ids_and_wrap_inputs() -> None:
    tok = build_tokenizer("smiles", SMILES, ModelConfig(max_length=32))
    assert tok.convert_tokens_to_ids(SPECIAL_TOKENS) == [0, 1, 2, 3, 4]
    ids = tok("CC")["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id and len(ids) == 4
    assert tok.pad_token == "[PAD]" and tok.mask_token == "[MASK]"


def test_smiles_regex_splits_atoms_and_keeps_brackets_whole() -> None:
    tok = build_tokenizer("smiles", SMILES, ModelConfig())
    assert tok.tokenize("CC(=O)Cl") == ["C", "C", "(", "=", "O", ")", "Cl"]
    assert tok.tokenize("[NH4+]") == ["[NH4+]"]
    assert tok.tokenize("c1ccccc1Br") == ["c", "1", "c", "c", "c", "c", "c", "1", "Br"]
    # a bracket atom never seen in the corpus is one unknown token, not several pieces
    assert tok("[Na+]")["input_ids"] == [tok.cls_token_id, tok.unk_token_id, tok.sep_token_id]


def test_smiles_save_load_round_trip_gives_same_ids(tmp_path) -> None:
    tok = build_tokenizer("smiles", SMILES, ModelConfig(max_length=16))
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    for s in [*SMILES, "ClCCBr"]:
        assert again(s)["input_ids"] == tok(s)["input_ids"]
    assert again.model_max_length == 16


def test_truncation_respects_max_length() -> None:
    tok = build_tokenizer("smiles", SMILES, ModelConfig(max_length=8))
    ids = tok("C" * 50, truncation=True)["input_ids"]
    assert len(ids) == 8 and ids[-1] == tok.sep_token_id


def test_protein_unknown_residue_maps_to_unk_and_vocab_is_fixed() -> None:
    tok = build_tokenizer("protein", [], ModelConfig())
    ids = tok("MKV*")["input_ids"]
    assert tok.convert_ids_to_tokens(ids) == ["[CLS]", "M", "K", "V", "[UNK]", "[SEP]"]
    # ambiguity letters are in the vocabulary even without a corpus
    assert tok.unk_token_id not in tok("BZXJUO")["input_ids"]
    assert len(tok) == len(SPECIAL_TOKENS) + 26


def test_dna_characters_and_iupac() -> None:
    tok = build_tokenizer("dna", ["ACGT"], ModelConfig(dna_kmer=1))
    assert tok.tokenize("ACGTNR") == ["A", "C", "G", "T", "N", "R"]
    assert tok.unk_token_id not in tok("ACGTNRY")["input_ids"]


def test_dna_kmer_preparation_and_tokenizer() -> None:
    assert kmerize("ACGTA", 3) == "ACG CGT GTA"
    assert kmerize("AC", 3) == "AC"
    assert prepare_inputs("dna", ["ACGTA"], 2) == ["AC CG GT TA"]
    assert prepare_inputs("smiles", ["CCO"], 3) == ["CCO"]  # only DNA is k-merised
    cfg = ModelConfig(dna_kmer=3)
    corpus = prepare_inputs("dna", ["ACGTNACG"], 3)
    tok = build_tokenizer("dna", corpus, cfg)
    assert tok.tokenize(corpus[0]) == ["ACG", "CGT", "GTN", "TNA", "NAC", "ACG"]
    # every ACGT 3-mer is known even if unseen; corpus k-mers with N are added
    unseen = prepare_inputs("dna", ["TTTGGG"], 3)[0]
    assert tok.unk_token_id not in tok(unseen)["input_ids"]
    assert len(tok) == len(SPECIAL_TOKENS) + 4**3 + 3  # + GTN, TNA, NAC


def test_text_wordpiece_trains_and_round_trips(tmp_path) -> None:
    corpus = ["the enzyme binds the substrate", "the substrate binds weakly"] * 10
    tok = build_tokenizer("text", corpus, ModelConfig(text_vocab_size=60))
    assert 5 < len(tok) <= 60
    pieces = tok.tokenize("the substrate binds")
    assert pieces[0] == "the" and tok.unk_token not in pieces
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("the enzyme binds")["input_ids"] == tok("the enzyme binds")["input_ids"]
    assert again.decode(again("the enzyme")["input_ids"], skip_special_tokens=True) == \
        "the enzyme"


def test_unknown_modality_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="modality"):
        build_tokenizer("image", [], ModelConfig())


def test_init_uses_the_checkpoint_tokenizer(tmp_path) -> None:
    own = build_tokenizer("smiles", SMILES, ModelConfig(max_length=512))
    own.save_pretrained(tmp_path)
    tok = build_tokenizer("smiles", ["completely different corpus"],
                          ModelConfig(init=tmp_path, max_length=64))
    assert tok.get_vocab() == own.get_vocab()
    assert tok.model_max_length == 64
    with pytest.raises(ConfigError, match="model.init"):
        load_checkpoint_tokenizer(tmp_path / "missing", 64)


def test_trained_vocabularies_are_identical_across_processes(tmp_path):
    """The tokenizers library's Rust trainers break ties in per-process hash order; ours don't."""
    import subprocess
    import sys

    script = tmp_path / "vocab.py"
    script.write_text(
        "import hashlib, json\n"
        "from scifm.config.schema import ModelConfig\n"
        "from scifm.featurizers.tokenizers import build_tokenizer\n"
        "texts = [f'compound {i} inhibits kinase {i % 7} and binds receptor {i % 5}' "
        "for i in range(60)]\n"
        "smiles = ['CCO', 'c1ccccc1', 'CC(=O)O', 'CN', 'CCCl', 'OCCO'] * 3\n"
        "out = {m: sorted(build_tokenizer(m, c, ModelConfig(text_vocab_size=120)).get_vocab()"
        ".items()) for m, c in [('text', texts), ('smiles', smiles)]}\n"
        "print(hashlib.sha256(json.dumps(out).encode()).hexdigest())\n")
    runs = {subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(3)}
    assert len(runs) == 1
