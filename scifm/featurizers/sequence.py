"""k-mer spectrum features for protein and DNA sequences (vectorised numpy, no per-k-mer Python).

For each ``k = 1..k_max`` the block of ``len(alphabet)**k`` columns holds the frequency of every
k-mer (lexicographic in alphabet order, as :func:`itertools.product`), i.e. its count divided by
the number of k-mers of that length counted in the sequence, so each block of a row sums to 1
(0 when the sequence is shorter than ``k``). Windows touching a character outside the alphabet
are not counted. Matching is case-insensitive. Output is dense float32: protein ``k_max=2`` has
420 columns, DNA ``k_max=5`` 1364, DNA ``k_max=6`` 5460.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.data.datapoints import Inputs, primary_strings
from scifm.errors import ConfigError
from scifm.featurizers.base import BaseFeaturizer, register

logger = logging.getLogger(__name__)

PROTEIN_ALPHABET = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 standard amino acids (columns of the protein descriptors)."""

_CELLS_PER_CHUNK = 4_000_000
"""Bound on ``n_sequences x 4**k`` count cells held at once (memory of one chunk)."""


@register("kmer")
class KmerSpectrumFeaturizer(BaseFeaturizer):
    """Frequencies of all k-mers, ``k = 1..k_max``, over a fixed alphabet.

    Parameters
    ----------
    alphabet
        Distinct ASCII symbols; case-insensitive.
    k_max
        Longest k-mer; ``d = sum(len(alphabet)**k for k in 1..k_max)``.

    Examples
    --------
    >>> f = KmerSpectrumFeaturizer("ACGT", k_max=2)
    >>> f(["ACGT"])[0, :4].tolist()  # A, C, G, T each 1 of 4
    [0.25, 0.25, 0.25, 0.25]
    """

    def __init__(self, alphabet: str, k_max: int) -> None:
        alphabet = alphabet.upper()
        if not alphabet or len(set(alphabet)) != len(alphabet) or not alphabet.isascii():
            raise ValueError(f"alphabet must be distinct ASCII symbols, got {alphabet!r}")
        if k_max < 1:
            raise ValueError("k_max must be >= 1")
        self.alphabet = alphabet
        self.k_max = int(k_max)
        lut = np.full(256, -1, dtype=np.int64)
        for i, c in enumerate(alphabet):
            lut[ord(c)] = i
            lut[ord(c.lower())] = i
        self._lut = lut
        self._sizes = [len(alphabet) ** k for k in range(1, self.k_max + 1)]
        if sum(self._sizes) > 5_000_000:
            raise ValueError(f"{sum(self._sizes)} k-mer columns is too many; lower k_max")

    @classmethod
    def for_modality(cls, modality: str) -> KmerSpectrumFeaturizer:
        """The default spectrum of a modality (its plug-in's ``kmer_alphabet``: protein 20 aa,
        k<=2; dna ACGT, k<=5).

        Raises
        ------
        ConfigError
            The modality has no k-mer alphabet.
        """
        spec = MODALITIES.get(modality)
        if spec.kmer_alphabet is None:
            raise ConfigError(f"k-mer features need a sequence modality, not {modality}")
        alphabet, k_max = spec.kmer_alphabet
        return cls(alphabet, k_max)

    def __len__(self) -> int:
        return sum(self._sizes)

    def _params(self) -> dict[str, Any]:
        return {"alphabet": self.alphabet, "k_max": self.k_max}

    @property
    def feature_names(self) -> list[str]:
        """The k-mer of every column, in column order."""
        return [
            "".join(p)
            for k in range(1, self.k_max + 1)
            for p in itertools.product(self.alphabet, repeat=k)
        ]

    def __call__(self, xs: Inputs) -> np.ndarray:
        xs = primary_strings(xs)
        out = np.zeros((len(xs), len(self)), dtype=np.float32)
        chunk = max(1, _CELLS_PER_CHUNK // self._sizes[-1])
        for start in range(0, len(xs), chunk):
            out[start : start + chunk] = self._spectrum(xs[start : start + chunk])
        return out

    def _spectrum(self, xs: Sequence[str]) -> np.ndarray:
        n, a = len(xs), len(self.alphabet)
        lengths = np.fromiter((len(s) for s in xs), dtype=np.int64, count=n)
        # one byte per character: non-ASCII characters become '?' (outside every alphabet)
        raw = "".join(xs).encode("ascii", errors="replace")
        codes = self._lut[np.frombuffer(raw, dtype=np.uint8)]
        seq_id = np.repeat(np.arange(n, dtype=np.int64), lengths)
        valid = codes >= 0
        code_k = np.where(valid, codes, 0)
        blocks = []
        for k, size in enumerate(self._sizes, start=1):
            if k > 1:  # extend the window starting at p by the character at p + k - 1
                m = max(len(codes) - k + 1, 0)
                nxt = codes[k - 1 : k - 1 + m]
                valid = valid[:m] & (nxt >= 0) & (seq_id[:m] == seq_id[k - 1 : k - 1 + m])
                code_k = code_k[:m] * a + np.maximum(nxt, 0)
            idx = seq_id[: len(code_k)][valid] * size + code_k[valid]
            counts = np.bincount(idx, minlength=n * size).reshape(n, size).astype(np.float32)
            total = counts.sum(axis=1, keepdims=True)
            blocks.append(np.divide(counts, total, out=np.zeros_like(counts), where=total > 0))
        return np.hstack(blocks)
