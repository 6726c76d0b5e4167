"""TF-IDF features for scientific text: word n-grams plus character n-grams (``char_wb``).

Both vectorizers are scikit-learn :class:`~sklearn.feature_extraction.text.TfidfVectorizer`
(``sublinear_tf=True``, L2 norm per block) fitted on the training texts; their outputs are
concatenated into one CSR matrix (word columns first). The fitted state (vocabularies and idf
weights) is saved as plain JSON by :meth:`TfidfFeaturizer.to_config`; nothing is pickled.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer

from scifm.data.datapoints import Inputs, primary_strings
from scifm.featurizers.base import BaseFeaturizer, register

logger = logging.getLogger(__name__)

_PARTS = ("word", "char")


@register("tfidf")
class TfidfFeaturizer(BaseFeaturizer):
    """Word + character n-gram TF-IDF, fitted on training texts; CSR float32 output.

    Parameters
    ----------
    max_features
        Largest vocabulary of *each* of the two vectorizers (most frequent terms kept), so
        ``d <= 2 * max_features``.
    word_ngrams
        ``(min_n, max_n)`` of word n-grams (lower-cased, sklearn's default token pattern).
    char_ngrams
        ``(min_n, max_n)`` of character n-grams inside word boundaries (``char_wb``).
    min_df
        Ignore terms that occur in fewer training documents.
    """

    def __init__(
        self,
        max_features: int = 50_000,
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (2, 5),
        min_df: int = 1,
    ) -> None:
        self.max_features = int(max_features)
        self.word_ngrams = (int(word_ngrams[0]), int(word_ngrams[1]))
        self.char_ngrams = (int(char_ngrams[0]), int(char_ngrams[1]))
        self.min_df = int(min_df)
        self._vectorizers: dict[str, TfidfVectorizer | None] | None = None

    def _make(self, part: str) -> TfidfVectorizer:
        analyzer, ngrams = ("word", self.word_ngrams) if part == "word" else (
            "char_wb", self.char_ngrams)
        return TfidfVectorizer(
            analyzer=analyzer,
            ngram_range=ngrams,
            max_features=self.max_features,
            min_df=self.min_df,
            sublinear_tf=True,
            dtype=np.float32,
        )

    def fit(self, xs: Inputs) -> TfidfFeaturizer:
        """Learn both vocabularies and idf weights from training texts ``xs``."""
        xs = primary_strings(xs)
        fitted: dict[str, TfidfVectorizer | None] = {}
        for part in _PARTS:
            try:
                fitted[part] = self._make(part).fit(xs)
            except ValueError as err:  # e.g. no word tokens at all: keep the other block
                logger.warning("TF-IDF %s block left out: %s", part, err)
                fitted[part] = None
        if all(v is None for v in fitted.values()):
            raise ValueError("TF-IDF found no terms in the training texts")
        self._vectorizers = fitted
        logger.info("TF-IDF vocabulary: %d features", len(self))
        return self

    def _fitted(self) -> dict[str, TfidfVectorizer | None]:
        if self._vectorizers is None:
            raise NotFittedError("TfidfFeaturizer is not fitted; call fit(train_texts) first")
        return self._vectorizers

    def __len__(self) -> int:
        return sum(len(v.vocabulary_) for v in self._fitted().values() if v is not None)

    def __call__(self, xs: Inputs) -> sp.csr_matrix:
        xs = primary_strings(xs)
        blocks = [v.transform(xs) for v in self._fitted().values() if v is not None]
        return sp.hstack(blocks, format="csr", dtype=np.float32)

    def _params(self) -> dict[str, Any]:
        return {
            "max_features": self.max_features,
            "word_ngrams": list(self.word_ngrams),
            "char_ngrams": list(self.char_ngrams),
            "min_df": self.min_df,
        }

    def to_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, **self._params()}
        if self._vectorizers is not None:
            for part, vec in self._vectorizers.items():
                config[part] = None if vec is None else {
                    "vocabulary": {t: int(i) for t, i in vec.vocabulary_.items()},
                    "idf": [float(w) for w in vec.idf_],
                }
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TfidfFeaturizer:
        self = cls(**{k: config[k] for k in ("max_features", "word_ngrams", "char_ngrams",
                                             "min_df") if k in config})
        if not any(part in config for part in _PARTS):
            return self  # saved before fitting
        vectorizers: dict[str, TfidfVectorizer | None] = {}
        for part in _PARTS:
            state = config.get(part)
            if state is None:
                vectorizers[part] = None
                continue
            vec = self._make(part)
            vec.vocabulary_ = {str(t): int(i) for t, i in state["vocabulary"].items()}
            vec.idf_ = np.asarray(state["idf"], dtype=np.float64)
            vectorizers[part] = vec
        self._vectorizers = vectorizers
        return self
