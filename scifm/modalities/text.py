"""The ``text`` modality: natural-language text (abstracts, sentences).

* validation: length limit (``data.text.max_chars``), Unicode normalisation, whitespace
  collapsing, optional lower-casing (``data.text``);
* split: ``stratified`` by default (random for regression targets); no group-aware split;
* leakage audit: exact duplicates only; applicability domain: word TF-IDF cosine to the nearest
  training text;
* features: word + character n-gram TF-IDF;
* tokenizer: BERT normaliser and pre-tokenizer, WordPiece learnt from the corpus;
* token classification: one tag per word (NER).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.data.datapoints import InvalidInput, primary_strings
from scifm.modalities.base import ModalitySpec, NNSimilarity, over_limit

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


@functools.lru_cache(maxsize=2)
def _reference_tfidf(reference: tuple[str, ...]) -> tuple[Any, Any]:
    """The vectoriser fitted on the reference texts and their (transposed) matrix, made once per
    process (``predict`` / ``serve`` ask for the same training set chunk after chunk)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, dtype=np.float32)
    return vec, vec.fit_transform(reference).T.tocsc()


def nn_tfidf_cosine(query: Sequence[str], reference: Sequence[str]) -> np.ndarray:
    """Cosine similarity of each query text to its nearest reference text, on word uni- and
    bigram TF-IDF vectors fitted on the reference (sublinear term frequencies)."""
    if not len(query) or not len(reference):
        return np.zeros(len(query))
    vec, ref = _reference_tfidf(tuple(primary_strings(reference)))
    q = vec.transform(primary_strings(query))
    best = np.zeros(q.shape[0])
    for lo in range(0, q.shape[0], 256):
        best[lo:lo + 256] = (q[lo:lo + 256] @ ref).max(axis=1).toarray().ravel()
    return np.clip(best, 0.0, 1.0)


TFIDF_COSINE = NNSimilarity(fn=nn_tfidf_cosine, metric="word TF-IDF cosine, -> nearest train text",
                            name="TF-IDF cosine", items="texts")
"""The applicability domain's similarity of texts."""

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
    domain_similarity=TFIDF_COSINE,
    description="natural-language text",
))
"""The registered spec."""
