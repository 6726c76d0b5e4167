"""Feature rows computed once per run: a scoped memo for :func:`scifm.featurizers.featurize`.

``scifm auto`` featurises the same molecules many times: the search's pool (train+val), then each
refitted family's train, val and test rows, then the ensemble's members again. With RDKit 2D
descriptors (tens of molecules per second per core) those repeats cost more than the models.
Inside ``with feature_memo():`` every fixed featurizer's rows are kept by (featurizer, input), so
a row is computed once and any later subset of inputs is assembled from the memo::

    with feature_memo():
        X_pool = featurize(f, pool)        # computed
        X_test = featurize(f, test)        # computed
        X_train = featurize(f, train)      # from the memo (train is part of the pool)

Only featurizers without fitted state (not TF-IDF: :func:`scifm.featurizers.base.is_fixed`) and
dense outputs are kept; the memo holds at most :data:`MAX_BYTES` and forgets the least recently
used featurizer first. Outside the block (``scifm predict`` on millions of rows) nothing is kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import numpy as np

__all__ = ["MAX_BYTES", "FeatureMemo", "current_memo", "feature_memo"]

MAX_BYTES = 2 * 1024**3
"""Most bytes of feature rows one memo keeps."""


class FeatureMemo:
    """Rows of dense feature matrices by featurizer key and input (LRU over featurizers)."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes = max_bytes
        self._rows: OrderedDict[str, dict[Any, np.ndarray]] = OrderedDict()
        self._bytes: dict[str, int] = {}
        self.sparse_keys: set[str] = set()
        """Featurizers whose output is sparse (never kept)."""
        self.hits = 0
        self.misses = 0

    def missing(self, key: str, xs: list[Any]) -> list[int]:
        """Positions of ``xs`` with no row yet (each distinct input once)."""
        rows = self._rows.get(key, {})
        seen: set[Any] = set()
        out = []
        for i, x in enumerate(xs):
            if x not in rows and x not in seen:
                seen.add(x)
                out.append(i)
        self.misses += len(out)
        self.hits += len(xs) - len(out)
        return out

    def store(self, key: str, xs: list[Any], matrix: np.ndarray) -> None:
        """Keep the rows of ``matrix`` (one per input of ``xs``)."""
        rows = self._rows.setdefault(key, {})
        self._rows.move_to_end(key)
        for x, row in zip(xs, matrix, strict=True):
            rows[x] = row
        self._bytes[key] = self._bytes.get(key, 0) + int(matrix.nbytes)
        while sum(self._bytes.values()) > self.max_bytes and len(self._rows) > 1:
            old, _ = self._rows.popitem(last=False)
            self._bytes.pop(old, None)

    def assemble(self, key: str, xs: list[Any]) -> np.ndarray:
        """The matrix of ``xs`` from kept rows (all present)."""
        rows = self._rows[key]
        self._rows.move_to_end(key)
        return np.stack([rows[x] for x in xs])


_MEMO: ContextVar[FeatureMemo | None] = ContextVar("scifm_feature_memo", default=None)


def current_memo() -> FeatureMemo | None:
    """The memo of the enclosing :func:`feature_memo` block, if any."""
    return _MEMO.get()


@contextmanager
def feature_memo(max_bytes: int = MAX_BYTES) -> Iterator[FeatureMemo]:
    """Keep feature rows for the duration of the block (nested blocks share the outer memo)."""
    outer = _MEMO.get()
    if outer is not None:
        yield outer
        return
    memo = FeatureMemo(max_bytes)
    token = _MEMO.set(memo)
    try:
        yield memo
    finally:
        _MEMO.reset(token)
