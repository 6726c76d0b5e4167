"""Canonical de-duplication of a stream in bounded memory.

Each canonical form is hashed to 64 bits (:func:`pandas.util.hash_array`, SipHash with a fixed
key: the same on every run and machine) and kept in an open-addressing table (numpy ``uint64``,
linear probing, vectorised over a chunk) that is kept between 1/3 and 2/3 full: 12-24 bytes
per distinct input (10⁷ distinct molecules: 120-240 MB; a stream that repeats itself costs only
its distinct rows). Two different canonical forms share a hash with probability about
``n² / 2⁶⁵`` (10⁷ distinct: 3·10⁻⁶ for the whole stream); such a row would be counted as a
duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["SeenHashes", "hashes"]

_EMPTY = np.uint64(0)


def hashes(values: Sequence[str]) -> np.ndarray:
    """64-bit hashes of ``values`` (never 0: 0 marks an empty slot of :class:`SeenHashes`)."""
    h = pd.util.hash_array(np.asarray(list(values), dtype=object), categorize=False)
    h = np.asarray(h, dtype=np.uint64)
    h[h == _EMPTY] = np.uint64(1)
    return h


class SeenHashes:
    """The set of hashes seen so far in a stream.

    Parameters
    ----------
    capacity
        Initial number of slots (a power of two; doubled whenever the table is 2/3 full).
    """

    def __init__(self, capacity: int = 1 << 16) -> None:
        self.table = np.zeros(capacity, dtype=np.uint64)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes)

    def add(self, keys: np.ndarray) -> np.ndarray:
        """Add ``keys`` (in stream order); True where a key was seen before (earlier in the
        stream, or earlier in ``keys``): the first occurrence is never a duplicate."""
        keys = np.asarray(keys, dtype=np.uint64)
        if keys.size == 0:
            return np.zeros(0, dtype=bool)
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        again = np.arange(keys.size) != first[inverse]
        while 3 * (self.n + uniq.size) > 2 * self.table.size:
            self._grow()
        present = self._insert(uniq)
        self.n += int((~present).sum())
        return again | present[inverse]

    def _grow(self) -> None:
        old = self.table[self.table != _EMPTY]
        self.table = np.zeros(self.table.size * 2, dtype=np.uint64)
        self._insert(old)

    def _insert(self, keys: np.ndarray) -> np.ndarray:
        """Insert distinct ``keys``; True where a key was already in the table."""
        mask = np.uint64(self.table.size - 1)
        slots = keys & mask
        present = np.zeros(keys.size, dtype=bool)
        pending = np.arange(keys.size)
        while pending.size:
            s = slots[pending]
            current = self.table[s]
            hit = current == keys[pending]
            present[pending[hit]] = True
            empty = current == _EMPTY
            # several pending keys may claim one empty slot: the first takes it, the others
            # find it taken on the next round and move on
            claim, first = np.unique(s[empty], return_index=True)
            winners = pending[empty][first]
            self.table[claim] = keys[winners]
            placed = np.zeros(pending.size, dtype=bool)
            placed[np.flatnonzero(empty)[first]] = True
            moving = ~(hit | empty)
            slots[pending[moving]] = (s[moving] + np.uint64(1)) & mask
            pending = pending[~(hit | placed)]
        return present
