"""Vocabulary trimming of a tiny text BERT: the same logits on kept pieces, no [UNK] for words
whose pieces were dropped, folders that load in a fresh process and are smaller; a tokenizer
that is not WordPiece is skipped."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, models
from tokenizers.processors import TemplateProcessing
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
)

from scifm.compression.base import CompressJob, CompressOptions, SplitRows
from scifm.compression.measure import model_bytes
from scifm.compression.variants import applicable_makers
from scifm.compression.vocab_trim import (
    FREQUENT_MIN_COUNT,
    kept_pieces,
    make_vocab_variants,
    slice_embeddings,
    wordpiece_json,
)
from scifm.config.schema import ModelConfig
from scifm.featurizers.tokenizers import SPECIAL_TOKENS, build_tokenizer, text_tokenizer
from scifm.models import load_predictor
from scifm.models.base import MODEL_META
from scifm.models.transformer import TransformerPredictor
from scifm.tasks import TaskSpec

TASK = TaskSpec("multiclass", ["label"], classes=["a", "b", "c"])
SEEN = ("protein binding assay kinase inhibitor cell membrane receptor signal pathway gene "
        "expression sample method result background cited earlier study").split()
"""Words of the train / validation rows."""
UNSEEN = ("thermodynamics crystallography spectroscopy chromatography photosynthesis "
          "mitochondrial zebrafish").split()
"""Words only the tokenizer's corpus and the test rows hold (their long pieces are dropped)."""


def _sentences(words: list[str], n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=int(rng.integers(3, 9)))).capitalize() + "."
            for _ in range(n)]


def _tiny_model(vocab_size: int, cls: type = BertForSequenceClassification,
                pad_token_id: int = 0) -> torch.nn.Module:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64,
                        num_labels=TASK.n_outputs, pad_token_id=pad_token_id,
                        tie_word_embeddings=True)
    return cls(config).eval()


def _bert_like_tokenizer(corpus: list[str]) -> PreTrainedTokenizerFast:
    """scifm's text WordPiece vocabulary with the special tokens moved to its end (as in BERT
    checkpoints, where [CLS] is 101): trimming must renumber them."""
    base = text_tokenizer(corpus, 400)
    pieces = [p for p, _ in sorted(base.get_vocab().items(), key=lambda kv: kv[1])
              if p not in SPECIAL_TOKENS]
    vocab = {p: i for i, p in enumerate(pieces + SPECIAL_TOKENS)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer, tok.pre_tokenizer, tok.decoder = base.normalizer, base.pre_tokenizer, \
        base.decoder
    tok.post_processor = TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
                                   model_max_length=48)


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> dict:
    """A tiny text BERT whose WordPiece vocabulary comes from a wider corpus than its rows, and
    its vocab variants."""
    root = tmp_path_factory.mktemp("vocab")
    corpus = _sentences(SEEN + UNSEEN, 300, seed=1)
    tokenizer = _bert_like_tokenizer(corpus)
    model = _tiny_model(len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    teacher = TransformerPredictor(TASK, "text", model, tokenizer, max_length=48,
                                   settings={"train": {"batch_size": 8}})
    teacher.save(root / "model")
    x = {"train": _sentences(SEEN, 60, seed=2), "val": _sentences(SEEN, 20, seed=3),
         "test": _sentences(SEEN + UNSEEN, 20, seed=4)}
    rows = {s: SplitRows(v, np.zeros((len(v), 1))) for s, v in x.items()}
    meta = json.loads((root / "model" / MODEL_META).read_text())
    job = CompressJob(root / "model", meta, TASK, load_predictor(root / "model"), rows,
                      root / "work", CompressOptions())
    job.work.mkdir()
    return {"job": job, "x": x, "root": root,
            "variants": {v.name: v for v in make_vocab_variants(job)}}


def test_the_maker_is_listed_for_transformer_runs() -> None:
    assert [m.name for m in applicable_makers({"family": "transformer"}, ["vocab"])] == ["vocab"]


def test_variants_keep_fewer_pieces_and_record_it(made) -> None:
    v = made["variants"]
    assert set(v) == {"vocab-trimmed", "vocab-trimmed+bf16",
                      f"vocab-trimmed-min{FREQUENT_MIN_COUNT}+bf16"}
    d = v["vocab-trimmed"].details
    assert d["vocab_kept"] < d["vocab_original"] == len(made["job"].teacher.tokenizer_)
    assert v[f"vocab-trimmed-min{FREQUENT_MIN_COUNT}+bf16"].details["vocab_kept"] <= \
        d["vocab_kept"]
    assert 0 < d["test_tokens_retokenised_share"] < 1  # the test rows hold unseen words
    assert d["train_val_rows_checked"] == 80 and d["fp32_max_abs_logit_diff"] == 0.0


def test_same_logits_and_remapped_ids_on_kept_pieces(made) -> None:
    job, x = made["job"], made["x"]
    old_tok = job.teacher.tokenizer_
    trimmed = load_predictor(made["variants"]["vocab-trimmed"].model_dir)
    new_tok = trimmed.tokenizer_
    new_id = {tok: i for tok, i in new_tok.get_vocab().items()}
    for text in x["train"] + x["val"]:
        old_ids = old_tok(text)["input_ids"]
        pieces = old_tok.convert_ids_to_tokens(old_ids)
        assert new_tok(text)["input_ids"] == [new_id[p] for p in pieces]
    inputs = x["train"][:16]
    np.testing.assert_array_equal(trimmed.predict_logits(inputs),
                                  job.teacher.predict_logits(inputs))
    assert trimmed.model_.get_input_embeddings().num_embeddings == len(new_tok)
    # the special tokens sat at the end of the vocabulary: renumbered, in the config too
    assert new_tok.cls_token_id < old_tok.cls_token_id
    assert trimmed.model_.config.pad_token_id == new_tok.pad_token_id < old_tok.pad_token_id


def test_words_with_dropped_pieces_still_tokenise_without_unk(made) -> None:
    job = made["job"]
    old_tok = job.teacher.tokenizer_
    new_tok = load_predictor(made["variants"]["vocab-trimmed"].model_dir).tokenizer_
    dropped = 0
    for word in UNSEEN:
        old = old_tok.tokenize(word)
        new = new_tok.tokenize(word)
        assert old_tok.unk_token not in old and new_tok.unk_token not in new, word
        assert "".join(p.removeprefix("##") for p in new) == word  # same characters
        dropped += old != new
    assert dropped > 0  # some long pieces of the unseen words were dropped


def test_folders_load_in_a_fresh_process_and_are_smaller(made) -> None:
    variants, x = made["variants"], made["x"]["test"]
    folders = [str(v.model_dir) for v in variants.values()]
    code = ("import json, sys; from scifm.models import load_predictor; "
            "x = json.loads(sys.argv[1]); ps = [load_predictor(f) for f in sys.argv[2:]]; "
            "print(json.dumps([[p.family, str(p.model_.dtype), p.predict(x).tolist()] "
            "for p in ps]))")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(x), *folders],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    got = dict(zip(variants, json.loads(out.stdout.strip().splitlines()[-1]), strict=True))
    ref = made["job"].teacher.predict(x)
    for name, (family, dtype, pred) in got.items():
        assert family == "transformer" and np.asarray(pred).shape == ref.shape, name
        assert dtype == ("torch.bfloat16" if name.endswith("+bf16") else "torch.float32")
        np.testing.assert_allclose(np.asarray(pred).sum(1), 1.0, atol=1e-5)
    original = model_bytes(made["job"].model_dir)
    fp32, bf16 = (model_bytes(variants[n].model_dir) for n in
                  ("vocab-trimmed", "vocab-trimmed+bf16"))
    assert bf16 < fp32 < original


def test_tied_output_layer_is_sliced_with_the_inputs() -> None:
    model = _tiny_model(50, BertForMaskedLM)
    ids = torch.tensor([[2, 7, 9, 30, 3]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    keep = [0, 1, 2, 3, 7, 9, 30, 41]
    slice_embeddings(model, keep)
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert model.config.vocab_size == len(keep)
    with torch.no_grad():
        after = model(input_ids=torch.tensor([[keep.index(int(i)) for i in ids[0]]])).logits
    torch.testing.assert_close(after, before[..., keep])


def test_kept_pieces_are_seen_special_and_single_characters() -> None:
    spec = {"model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                      "vocab": {"[PAD]": 0, "[UNK]": 1, "a": 2, "##b": 3, "ab": 4, "abc": 5,
                                "##bc": 6}},
            "added_tokens": [{"id": 0}]}
    kept = kept_pieces(spec, [[4, 4, 6], [5]], min_count=2)
    assert kept.ids == [0, 1, 2, 3, 4] and kept.n_seen == 1 and kept.n_single == 2


def test_a_word_level_tokenizer_is_skipped_with_one_warning(tmp_path, caplog) -> None:
    tok = build_tokenizer("smiles", ["CCO", "c1ccccc1", "CC(=O)O"], ModelConfig(max_length=32))
    assert wordpiece_json(tok)[0] is None
    teacher = TransformerPredictor(TASK, "smiles", _tiny_model(len(tok)), tok, max_length=32)
    rows = {s: SplitRows(["CCO", "CCN"], np.zeros((2, 1))) for s in ("train", "val", "test")}
    job = CompressJob(tmp_path, {"family": "transformer"}, TASK, teacher, rows, tmp_path / "w")
    with caplog.at_level(logging.WARNING):
        assert make_vocab_variants(job) == []
    assert "vocab is skipped" in caplog.text and "WordLevel, not WordPiece" in caplog.text
