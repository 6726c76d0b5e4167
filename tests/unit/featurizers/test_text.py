"""TF-IDF on text: sparse output, JSON round trip of the fitted state."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from scifm.featurizers import TfidfFeaturizer, build_featurizer

TRAIN = [
    "The enzyme catalyses the hydrolysis of ATP.",
    "Kinase inhibitors block phosphorylation of substrates.",
    "Spiral galaxies rotate faster than expected.",
    "Dark matter halos surround galaxies.",
]
NEW = ["An enzyme phosphorylates a kinase substrate.", "Completely unseen vocabulary zzz!"]


def test_fit_transform_sparse_float32():
    f = TfidfFeaturizer().fit(TRAIN)
    x = f(TRAIN)
    assert sp.issparse(x) and x.format == "csr" and x.dtype == np.float32
    assert x.shape == (4, len(f))
    # each block is L2-normalised, so each row has squared norm 2 (word + char)
    np.testing.assert_allclose(np.asarray(x.multiply(x).sum(axis=1)).ravel(), 2.0, rtol=1e-5)
    # documents about the same topic are closer than across topics
    sim = (x @ x.T).toarray()
    assert sim[0, 1] > sim[0, 2] and sim[2, 3] > sim[1, 3]


def test_round_trip_through_json_config():
    f = TfidfFeaturizer(max_features=300, word_ngrams=(1, 2), char_ngrams=(2, 4)).fit(TRAIN)
    config = json.loads(json.dumps(f.to_config()))
    restored = build_featurizer(config)
    assert isinstance(restored, TfidfFeaturizer) and len(restored) == len(f)
    a, b = f(NEW + TRAIN), restored(NEW + TRAIN)
    assert (a != b).nnz == 0
    assert a.nnz > 0


def test_max_features_bounds_each_block():
    f = TfidfFeaturizer(max_features=10).fit(TRAIN)
    assert len(f) == 20


def test_unfitted_raises():
    with pytest.raises(NotFittedError):
        TfidfFeaturizer()(TRAIN)


def test_texts_without_word_tokens_keep_char_block():
    f = TfidfFeaturizer().fit(["a b", "c d"])  # single letters are not word tokens
    config = json.loads(json.dumps(f.to_config()))
    assert config["word"] is None and config["char"]["vocabulary"]
    x = build_featurizer(config)(["a c"])
    assert x.shape == (1, len(f)) and x.nnz > 0
