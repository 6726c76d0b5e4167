"""Words (or residues) with one label each -> model tokens with aligned labels.

``ner``: words are split into sub-tokens by the tokenizer (``is_split_into_words``, needs a fast
tokenizer for ``word_ids()``); the label goes to the first sub-token of each word, the other
sub-tokens and the special tokens get ``-100`` (not trained on, not scored).

``residue``: a protein is tokenised as one string; a character-level tokenizer gives one token
per residue, so the n-th non-special token carries the n-th residue label. A residue whose label
is ``None`` (e.g. masked as unresolved) gets ``-100``.

Inputs longer than ``max_length`` are truncated; words/residues past the limit have no token
(``first_token`` is shorter than the word list) and are predicted as the fill label by
:class:`scifm.models.token.TokenPredictor`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from transformers import PreTrainedTokenizerBase

from scifm.errors import ConfigError

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
TokenKind = Literal["ner", "residue"]


@dataclass
class EncodedWords:
    """One input tokenised, with the map between its tokens and its words/residues."""

    input_ids: list[int]
    """Token ids including special tokens, length ``T``."""
    word_at: list[int]
    """Length ``T``: index of the word whose *first* token this is, else ``-1``."""

    @property
    def n_words_covered(self) -> int:
        """Words that have a token (the rest were truncated away)."""
        return sum(1 for w in self.word_at if w >= 0)


def encode_words(tokenizer: PreTrainedTokenizerBase, words: Sequence[Sequence[str]],
                 kind: TokenKind, max_length: int) -> list[EncodedWords]:
    """Tokenise ``n`` inputs given as word (or residue) lists.

    Raises
    ------
    ConfigError
        ``ner`` with a slow tokenizer (no ``word_ids``), or ``residue`` with a tokenizer that
        does not give exactly one token per residue.
    """
    if not words:
        return []
    if kind == "ner":
        if not tokenizer.is_fast:
            raise ConfigError("token classification of words needs a fast tokenizer (word_ids); "
                              f"{type(tokenizer).__name__} is not one")
        enc = tokenizer([list(w) for w in words], is_split_into_words=True, truncation=True,
                        max_length=max_length, return_token_type_ids=False,
                        return_attention_mask=False)
        out = []
        for i, ids in enumerate(enc["input_ids"]):
            word_at, prev = [], None
            for wid in enc.word_ids(i):
                word_at.append(-1 if wid is None or wid == prev else int(wid))
                prev = wid
            out.append(EncodedWords(list(ids), word_at))
        return out
    enc = tokenizer(["".join(w) for w in words], truncation=True, max_length=max_length,
                    return_token_type_ids=False, return_attention_mask=False,
                    return_special_tokens_mask=True)
    out = []
    for seq, ids, special in zip(words, enc["input_ids"], enc["special_tokens_mask"],
                                 strict=True):
        word_at, k = [], 0
        for s in special:
            word_at.append(-1 if s else k)
            k += 0 if s else 1
        truncated = len(ids) >= max_length
        if k > len(seq) or (k < len(seq) and not truncated):
            raise ConfigError(f"the tokenizer gives {k} tokens for a sequence of {len(seq)} "
                              "residues; per-residue labels need one token per residue")
        out.append(EncodedWords(list(ids), word_at))
    return out


def align_labels(encoded: EncodedWords, tags: Sequence[str | None],
                 label2id: Mapping[str, int]) -> list[int]:
    """Label id per token: the word's label at its first token, ``-100`` elsewhere / if None."""
    return [label2id[tags[w]] if w >= 0 and tags[w] is not None else IGNORE_INDEX
            for w in encoded.word_at]
