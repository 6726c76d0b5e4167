"""Vocabulary trimming: a transformer run's model with only the word pieces its data use.

A general checkpoint's vocabulary is mostly unused by a fine-tune on one corpus, yet its
embedding matrix can be half the model (all-MiniLM-L6-v2: 30,522 x 384 = 11.7M of 22.7M
parameters). :func:`make_vocab_variants` keeps

* every piece that the run's **train and validation** rows tokenise to (never the test rows),
* every special token of the tokenizer (its added tokens, ``[UNK]``), and
* every single-character piece, plain and ``##``-continued, so that a word holding a dropped
  piece still tokenises, into smaller pieces, instead of becoming ``[UNK]``;

in their original order. The tokenizer is rebuilt with Hugging Face ``tokenizers`` from its own
``tokenizer.json`` (same normaliser, pre-tokenizer, decoder; the WordPiece vocabulary, the
added tokens and the post-processor's special-token ids renumbered), and the model's input
embedding rows (and an output layer over the vocabulary, tied or not) are sliced in the same
order, so every input whose pieces were all kept gets exactly the same logits (checked on
validation rows when the variant is made). Variants, each a normal ``transformer`` model folder:

* ``vocab-trimmed``: fp32, every piece seen in train / validation;
* ``vocab-trimmed+bf16``: the same with bf16 weights and bf16 inference (like ``bf16``);
* ``vocab-trimmed-min5+bf16``: only pieces seen at least :data:`FREQUENT_MIN_COUNT` times (plus
  the special and single-character ones): rarer words are split into smaller pieces, a
  measured trade of metric for size.

Only WordPiece tokenizers are trimmed (BERT-like checkpoints, scifm's ``text`` tokenizer);
others (a word-level SMILES or character vocabulary, which is already small; BPE, Unigram) are
skipped with one warning, and no variant is made.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

from scifm.compression.base import CompressJob, Variant
from scifm.compression.onnx_transformer import plain_teacher_model, predictor_like
from scifm.compression.pruning import transformer_teacher
from scifm.errors import ScifmError
from scifm.featurizers.tokenizers import prepare_inputs
from scifm.models.transformer import TransformerPredictor
from scifm.training.data import encode_texts

logger = logging.getLogger(__name__)

__all__ = ["FREQUENT_MIN_COUNT", "VocabTrimError", "kept_pieces", "make_vocab_variants",
           "slice_embeddings", "trimmed_tokenizer", "wordpiece_json"]

FREQUENT_MIN_COUNT = 5
"""Least number of uses in train + validation of a piece kept by ``vocab-trimmed-min5+bf16``.
On MiniLM fine-tuned on SciCite every seen piece is 16.3k of 30.5k (bf16: 2.6x smaller than
the fp32 run, macro-F1 -0.001); at least 5 uses keeps 9.5k (3.1x smaller, 4% of the test
tokens split differently, macro-F1 -0.006): BENCHMARKS.md, Compression."""
CHECK_ROWS = 32
"""Validation rows whose logits the fp32 trimmed model must reproduce."""
CONFIG_TOKEN_IDS = ("pad_token_id", "bos_token_id", "eos_token_id", "sep_token_id",
                    "cls_token_id", "mask_token_id", "unk_token_id")
"""Token ids a model config may hold; renumbered with the vocabulary."""


class VocabTrimError(ScifmError):
    """The trimmed tokenizer or model does not reproduce the original on the kept pieces."""


@dataclass
class Kept:
    """The pieces a trimmed vocabulary keeps."""

    ids: list[int]
    """Original ids kept, ascending (new id = position in this list)."""
    n_seen: int
    """Pieces the train and validation rows use (at least ``min_count`` times)."""
    n_single: int
    """Single-character pieces (plain and continued) kept whether seen or not."""


def wordpiece_json(tokenizer: PreTrainedTokenizerBase) -> tuple[dict[str, Any] | None, str]:
    """The ``tokenizer.json`` content of a WordPiece tokenizer, or None and why it is not one
    (not a fast tokenizer, or another model type)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None, f"{type(tokenizer).__name__} is not a Hugging Face tokenizers tokenizer"
    spec = json.loads(backend.to_str())
    kind = spec.get("model", {}).get("type")
    if kind != "WordPiece":
        return None, (f"the tokenizer is {kind}, not WordPiece: a dropped piece would become "
                      "[UNK] (no smaller pieces to fall back on)")
    return spec, ""


def kept_pieces(spec: dict[str, Any], ids: Sequence[Sequence[int]], min_count: int = 1) -> Kept:
    """Which pieces of the WordPiece ``spec`` to keep, given the token ids of the train and
    validation rows (special tokens included): those used at least ``min_count`` times, every
    added / special token and every single-character piece."""
    model = spec["model"]
    vocab: dict[str, int] = model["vocab"]
    prefix = model.get("continuing_subword_prefix") or "##"
    counts = Counter(i for row in ids for i in row)
    seen = {i for i, n in counts.items() if n >= min_count}
    special = {t["id"] for t in spec.get("added_tokens", [])}
    if model.get("unk_token") in vocab:
        special.add(vocab[model["unk_token"]])
    single = {i for tok, i in vocab.items()
              if len(tok) == 1 or (tok.startswith(prefix) and len(tok) == len(prefix) + 1)}
    return Kept(sorted(seen | special | single), len(seen), len(single - seen - special))


def _renumber_processor(proc: dict[str, Any] | None, new_id: dict[int, int]) -> None:
    """Renumber the special-token ids of a post-processor in place (``TemplateProcessing``,
    ``BertProcessing`` / ``RobertaProcessing``, or a ``Sequence`` of them)."""
    if not proc:
        return
    for sub in proc.get("processors") or []:
        _renumber_processor(sub, new_id)
    for entry in (proc.get("special_tokens") or {}).values():
        entry["ids"] = [new_id[i] for i in entry["ids"]]
    for key in ("sep", "cls"):
        if isinstance(proc.get(key), list):
            proc[key] = [proc[key][0], new_id[proc[key][1]]]


def trimmed_tokenizer(tokenizer: PreTrainedTokenizerBase, spec: dict[str, Any],
                      keep: Sequence[int]) -> PreTrainedTokenizerFast:
    """``tokenizer`` with only the pieces ``keep`` (original ids, ascending), renumbered
    0..len(keep)-1 in that order: its ``tokenizer.json`` edited and rebuilt by ``tokenizers``
    (normaliser, pre-tokenizer, decoder and truncation unchanged)."""
    new_id = {old: new for new, old in enumerate(keep)}
    spec = json.loads(json.dumps(spec))  # a deep copy
    vocab = spec["model"]["vocab"]
    spec["model"]["vocab"] = {tok: new_id[i] for tok, i in
                              sorted(vocab.items(), key=lambda kv: kv[1]) if i in new_id}
    for token in spec.get("added_tokens", []):
        token["id"] = new_id[token["id"]]
    _renumber_processor(spec.get("post_processor"), new_id)
    if spec.get("padding") and "pad_id" in spec["padding"]:
        spec["padding"]["pad_id"] = new_id[spec["padding"]["pad_id"]]
    backend = Tokenizer.from_str(json.dumps(spec))
    specials = {k: v for k, v in tokenizer.special_tokens_map.items() if isinstance(v, str)}
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_max_length=tokenizer.model_max_length,
        padding_side=tokenizer.padding_side, truncation_side=tokenizer.truncation_side,
        model_input_names=list(tokenizer.model_input_names), **specials)


def slice_embeddings(model: nn.Module, keep: Sequence[int]) -> None:
    """Keep the input embedding rows ``keep`` (in that order) of ``model``, in place, and the
    matching rows of an output layer over the vocabulary (tied or not); the config's
    ``vocab_size`` and token ids are renumbered.

    Raises
    ------
    VocabTrimError
        A kept id is beyond the embedding matrix, or a special token id of the config is not
        kept.
    """
    rows = torch.as_tensor(list(keep), dtype=torch.long)
    old = model.get_input_embeddings()
    if int(rows.max()) >= old.num_embeddings:
        raise VocabTrimError(f"token id {int(rows.max())} is beyond the model's "
                             f"{old.num_embeddings} embedding rows")
    new_id = {int(old_id): new for new, old_id in enumerate(keep)}
    config = model.config
    for name in CONFIG_TOKEN_IDS:
        value = getattr(config, name, None)
        if isinstance(value, int):
            if value not in new_id:
                raise VocabTrimError(f"the model config's {name} {value} is not a kept piece")
            setattr(config, name, new_id[value])
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is old.weight
    new = nn.Embedding(len(rows), old.embedding_dim, padding_idx=getattr(config, "pad_token_id",
                                                                         None))
    new.weight = nn.Parameter(old.weight.detach()[rows].clone())
    model.set_input_embeddings(new)
    if out is not None:
        out.weight = new.weight if tied else nn.Parameter(out.weight.detach()[rows].clone())
        if getattr(out, "bias", None) is not None:
            out.bias = nn.Parameter(out.bias.detach()[rows].clone())
        out.out_features = len(rows)
    config.vocab_size = len(rows)


def _prepared(job: CompressJob, splits: Sequence[str]) -> list[str]:
    """The inputs of ``splits`` as the tokenizer receives them."""
    t = job.teacher
    inputs = [x for s in splits if s in job.rows for x in job.rows[s].inputs]
    return prepare_inputs(t.modality, inputs, t.dna_kmer_)


def _all_ids(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[list[int]]:
    """Every token id of each text, special tokens included, not truncated."""
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    return [enc.ids for enc in backend.encode_batch(list(texts))]


def _check_tokenizer(old: PreTrainedTokenizerBase, new: PreTrainedTokenizerBase,
                     texts: Sequence[str], keep: Sequence[int], max_length: int) -> int:
    """How many of ``texts`` tokenise to kept pieces only; on each of them the new tokenizer
    must give the old ids renumbered (as inference encodes them).

    Raises
    ------
    VocabTrimError
        Some text tokenises differently.
    """
    new_id = {old_id: i for i, old_id in enumerate(keep)}
    before, after = encode_texts(old, texts, max_length), encode_texts(new, texts, max_length)
    n_checked = 0
    for text, ids, got in zip(texts, before, after, strict=True):
        if all(i in new_id for i in ids):
            n_checked += 1
            if [new_id[i] for i in ids] != got:
                raise VocabTrimError(f"the trimmed tokenizer encodes {text[:60]!r} differently")
    return n_checked


def _test_changes(job: CompressJob, keep: Sequence[int], new: PreTrainedTokenizerBase,
                  ) -> dict[str, Any]:
    """How the test rows' tokenisation changes (informative; computed, never used to choose)."""
    t = job.teacher
    texts = _prepared(job, ["test"])
    kept = set(keep)
    before = encode_texts(t.tokenizer_, texts, t.max_length_)
    after = encode_texts(new, texts, t.max_length_)
    n_tokens = sum(len(r) for r in before)
    dropped = sum(i not in kept for r in before for i in r)
    unk_old, unk_new = t.tokenizer_.unk_token_id, new.unk_token_id
    return {"test_tokens": n_tokens,
            "test_tokens_retokenised_share": dropped / max(n_tokens, 1),
            "test_rows_retokenised_share": float(np.mean([any(i not in kept for i in r)
                                                          for r in before])) if before else 0.0,
            "test_unk_before": sum(r.count(unk_old) for r in before),
            "test_unk_after": sum(r.count(unk_new) for r in after)}


def _trimmed_predictor(job: CompressJob, spec: dict[str, Any], kept: Kept,
                       bf16: bool) -> TransformerPredictor:
    """The run's model (adapter merged) with the vocabulary ``kept``, fp32 or bf16."""
    t = transformer_teacher(job)
    model, _ = plain_teacher_model(job)
    slice_embeddings(model, kept.ids)
    return predictor_like(t, model, trimmed_tokenizer(t.tokenizer_, spec, kept.ids), bf16)


def _logit_check(job: CompressJob, p: TransformerPredictor, keep: Sequence[int]) -> float:
    """Largest logit difference between the trimmed fp32 model and the run's model on up to
    :data:`CHECK_ROWS` validation rows whose pieces were all kept.

    Raises
    ------
    VocabTrimError
        The difference is not at float rounding level.
    """
    t = job.teacher
    split = "val" if len(job.rows.get("val", ())) else "train"
    kept = set(keep)
    ids = encode_texts(t.tokenizer_, _prepared(job, [split]), t.max_length_)
    chosen = [x for x, r in zip(job.rows[split].inputs, ids, strict=True)
              if all(i in kept for i in r)][:CHECK_ROWS]
    if not chosen:
        return 0.0
    diff = float(np.abs(p.predict_logits(chosen) - t.predict_logits(chosen)).max())
    if diff > 1e-4:
        raise VocabTrimError(f"the trimmed model's logits differ from the run's by {diff:.2g} "
                             "on validation rows whose pieces were all kept")
    return diff


def make_vocab_variants(job: CompressJob) -> list[Variant]:
    """``vocab-trimmed``, ``vocab-trimmed+bf16`` and ``vocab-trimmed-min5+bf16`` model folders
    under ``job.work`` (see the module docstring); none, with one warning, when the run's
    tokenizer is not WordPiece.

    Raises
    ------
    VocabTrimError
        The trimmed tokenizer or fp32 model does not reproduce the run's on kept pieces.
    """
    t = transformer_teacher(job)
    spec, why = wordpiece_json(t.tokenizer_)
    if spec is None:
        logger.warning("compress: vocab is skipped: %s", why)
        return []
    texts = _prepared(job, ["train", "val"])
    ids = _all_ids(t.tokenizer_, texts)
    n_vocab = len(spec["model"]["vocab"])
    variants = []
    for min_count, dtypes in ((1, (False, True)), (FREQUENT_MIN_COUNT, (True,))):
        kept = kept_pieces(spec, ids, min_count)
        name = "vocab-trimmed" if min_count == 1 else f"vocab-trimmed-min{min_count}"
        seen = "every piece the train + validation rows use" if min_count == 1 else \
            f"the pieces the train + validation rows use >= {min_count} times"
        details: dict[str, Any] = {
            "vocab_original": n_vocab, "vocab_kept": len(kept.ids), "vocab_seen": kept.n_seen,
            "vocab_single_char_added": kept.n_single, "min_count": min_count}
        for bf16 in dtypes:
            p = _trimmed_predictor(job, spec, kept, bf16)
            if "train_val_rows_checked" not in details:
                details["train_val_rows_checked"] = _check_tokenizer(
                    t.tokenizer_, p.tokenizer_, texts, kept.ids, t.max_length_)
                details.update(_test_changes(job, kept.ids, p.tokenizer_))
            if not bf16:
                details["fp32_max_abs_logit_diff"] = _logit_check(job, p, kept.ids)
            full = f"{name}+bf16" if bf16 else name
            p.save(job.work / full)
            logger.info("compress: %s keeps %d of %d pieces", full, len(kept.ids), n_vocab)
            variants.append(Variant(
                full, job.work / full, f"PyTorch, vocabulary trimmed to {seen} + special and "
                f"single-character pieces ({len(kept.ids)} of {n_vocab})"
                + ("; bf16 weights and inference" if bf16 else ""),
                {**details, "dtype": "bfloat16" if bf16 else "float32"}))
    return variants
