"""The ``text`` modality: natural-language text (abstracts, sentences).

* validation: length limit (``data.text.max_chars``), Unicode normalisation, whitespace
  collapsing, optional lower-casing (``data.text``);
* split: ``stratified`` by default (random for regression targets); no group-aware split;
* leakage audit: exact duplicates only;
* features: word + character n-gram TF-IDF;
* tokenizer: BERT normaliser and pre-tokenizer, WordPiece learnt from the corpus;
* token classification: one tag per word (NER).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from scifm.config.registry import MODALITIES
from scifm.data.datapoints import InvalidInput
from scifm.modalities.base import ModalitySpec, over_limit

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from scifm.config.schema import DataConfig, ModelConfig

__all__ = ["TEXT", "text_validator"]


def text_validator(data_cfg: DataConfig) -> Callable[[str], str]:
    """Normalise a text with the options of ``data_cfg.text``; blank texts and texts over
    ``data.text.max_chars`` characters (checked first) are invalid."""
    opts = data_cfg.text

    def validate(value: str) -> str:
        over_limit(len(value.strip()), opts.max_chars, "characters", "data.text.max_chars")
        s = unicodedata.normalize(opts.unicode_form, value)
        s = " ".join(s.split()) if opts.collapse_whitespace else s.strip()
        if opts.lowercase:
            s = s.lower()
        if not s:
            raise InvalidInput("empty input")
        return s

    return validate


def _tokenizer(corpus: Sequence[str], model_cfg: ModelConfig) -> Tokenizer:
    from scifm.featurizers.tokenizers import text_tokenizer

    return text_tokenizer(corpus, model_cfg.text_vocab_size)


TEXT = MODALITIES.register(ModalitySpec(
    name="text",
    options_section="data.text",
    validator=text_validator,
    input_cols=("text",),
    default_split="stratified",
    default_features="tfidf",
    tune_features=("tfidf",),
    tune_default_features="tfidf",
    feature_atoms=("tfidf",),
    tokenizer=_tokenizer,
    token_kind="ner",
    description="natural-language text",
))
"""The registered spec."""
