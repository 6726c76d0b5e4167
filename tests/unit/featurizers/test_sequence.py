"""k-mer spectra: exact frequencies checked against hand counts and a brute-force reference."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from scifm.featurizers import KmerSpectrumFeaturizer
from scifm.featurizers import sequence as sequence_module


def _reference(seq: str, alphabet: str, k_max: int) -> np.ndarray:
    """Plain-Python k-mer frequencies (windows with foreign characters skipped)."""
    seq = seq.upper()
    row = []
    for k in range(1, k_max + 1):
        kmers = ["".join(p) for p in itertools.product(alphabet, repeat=k)]
        windows = [seq[i : i + k] for i in range(len(seq) - k + 1)]
        windows = [w for w in windows if all(c in alphabet for c in w)]
        row += [windows.count(m) / len(windows) if windows else 0.0 for m in kmers]
    return np.array(row, dtype=np.float32)


def test_acgt_by_hand():
    f = KmerSpectrumFeaturizer("ACGT", k_max=2)
    x = f(["ACGT"])
    assert x.shape == (1, 4 + 16) and x.dtype == np.float32
    expected = np.zeros(20, dtype=np.float32)
    expected[:4] = 0.25  # A C G T: one each out of four
    names = f.feature_names
    for dimer in ("AC", "CG", "GT"):  # three 2-mers, one each
        expected[names.index(dimer)] = 1 / 3
    np.testing.assert_allclose(x[0], expected, rtol=1e-6)


def test_foreign_characters_are_skipped_and_case_ignored():
    f = KmerSpectrumFeaturizer("ACGT", k_max=2)
    x = f(["ACNGT", "acngt"])
    names = f.feature_names
    np.testing.assert_allclose(x[0, :4], [0.25] * 4)
    assert x[0, names.index("AC")] == pytest.approx(0.5)  # CN and NG are not counted
    assert x[0, names.index("GT")] == pytest.approx(0.5)
    np.testing.assert_array_equal(x[0], x[1])


def test_short_and_empty_sequences():
    x = KmerSpectrumFeaturizer("ACGT", k_max=3)(["", "A", "AC"])
    assert not x[0].any()
    assert x[1, 0] == 1.0 and not x[1, 4:].any()  # no 2-mers or 3-mers in "A"
    assert x[2, 4:20].sum() == pytest.approx(1.0) and not x[2, 20:].any()


def test_matches_reference_on_random_sequences_across_chunks(monkeypatch):
    monkeypatch.setattr(sequence_module, "_CELLS_PER_CHUNK", 64 * 3)  # 3 sequences per chunk
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGTN"), size=int(n))) for n in rng.integers(0, 40, 11)]
    f = KmerSpectrumFeaturizer("ACGT", k_max=3)
    x = f(seqs)
    expected = np.stack([_reference(s, "ACGT", 3) for s in seqs])
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-7)


def test_modality_defaults_and_sizes():
    assert len(KmerSpectrumFeaturizer.for_modality("protein")) == 420
    assert len(KmerSpectrumFeaturizer.for_modality("dna")) == 4 + 16 + 64 + 256 + 1024
    assert len(KmerSpectrumFeaturizer("ACGT", 6)) == 5460
    protein = KmerSpectrumFeaturizer.for_modality("protein")
    x = protein(["MKTAYIAKQR", "GGGG"])
    assert x.shape == (2, 420)
    np.testing.assert_allclose(x[:, :20].sum(axis=1), 1.0, rtol=1e-6)
    assert x[1, protein.feature_names.index("GG")] == pytest.approx(1.0)


def test_invalid_parameters():
    with pytest.raises(ValueError):
        KmerSpectrumFeaturizer("AAC", 2)
    with pytest.raises(ValueError):
        KmerSpectrumFeaturizer("ACGT", 0)
