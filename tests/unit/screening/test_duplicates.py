"""Canonical de-duplication: the numpy hash table agrees with a Python set over a long stream."""

from __future__ import annotations

import numpy as np

from scifm.screening.duplicates import SeenHashes, hashes


def test_agrees_with_a_set_through_growth():
    rng = np.random.default_rng(0)
    stream = rng.integers(1, 40_000, size=120_000).astype(np.uint64) * np.uint64(2**40 + 7)
    seen, reference = SeenHashes(capacity=16), set()
    for chunk in np.array_split(stream, 37):
        expected = []
        for key in chunk.tolist():
            expected.append(key in reference)
            reference.add(key)
        assert seen.add(chunk).tolist() == expected
    assert len(seen) == len(reference)
    assert 3 * len(seen) <= 2 * seen.table.size  # kept at most 2/3 full


def test_first_copy_in_a_chunk_is_not_a_duplicate():
    seen = SeenHashes()
    keys = hashes(["CCO", "c1ccccc1", "CCO", "CCO"])
    assert seen.add(keys).tolist() == [False, False, True, True]
    assert seen.add(hashes(["c1ccccc1", "CCN"])).tolist() == [True, False]
    assert seen.add(np.zeros(0, dtype=np.uint64)).tolist() == []


def test_hashes_are_stable_and_never_zero():
    h = hashes(["CCO", "CCO", "CCN"])
    assert h.dtype == np.uint64 and h[0] == h[1] != h[2] and (h != 0).all()
    assert hashes(["CCO"])[0] == h[0]  # same key every call (and every run: fixed SipHash key)
