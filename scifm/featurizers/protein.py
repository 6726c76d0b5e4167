"""Protein composition and physicochemical descriptors from published residue scales.

One row per sequence (dense float32, :data:`PROTEIN_DESCRIPTOR_NAMES` columns):

* ``comp_<aa>`` - frequency of each of the 20 standard amino acids (standard residues only);
* ``length``, ``log10_length`` - number of residues (all letters);
* ``mw_kda`` - average molecular weight (ExPASy average residue masses + one water), in kDa;
* ``pi`` - isoelectric point (pH where the net charge is 0; EMBOSS pKa values, bisection);
* ``charge_ph7`` - net charge at pH 7 (same pKa values);
* ``gravy`` - grand average of hydropathy (Kyte & Doolittle, 1982);
* ``aromaticity`` - F + W + Y frequency (Lobry & Gautier, 1994);
* ``aliphatic_index`` - A + 2.9 V + 3.9 (I + L) in mole percent (Ikai, 1980);
* ``frac_nonstandard`` - fraction of letters outside the 20 standard amino acids (X, B, Z, ...).

Non-standard letters count towards the length only. Everything is vectorised over the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np

from scifm.data.datapoints import Inputs, primary_strings
from scifm.featurizers.base import BaseFeaturizer, register
from scifm.featurizers.sequence import PROTEIN_ALPHABET

logger = logging.getLogger(__name__)

KYTE_DOOLITTLE = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5, "G": -0.4,
    "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8, "P": -1.6, "S": -0.8,
    "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2,
}
"""Hydropathy index of each residue (Kyte & Doolittle, J. Mol. Biol. 157:105, 1982)."""

RESIDUE_MASS = {
    "A": 71.0788, "R": 156.1875, "N": 114.1038, "D": 115.0886, "C": 103.1388, "E": 129.1155,
    "Q": 128.1307, "G": 57.0519, "H": 137.1411, "I": 113.1594, "L": 113.1594, "K": 128.1741,
    "M": 131.1926, "F": 147.1766, "P": 97.1167, "S": 87.0782, "T": 101.1051, "W": 186.2132,
    "Y": 163.1760, "V": 99.1326,
}
"""Average residue masses in Da (ExPASy ProtParam), i.e. amino acid minus water."""
WATER_MASS = 18.01524

PKA_POSITIVE = {"Nterm": 8.6, "K": 10.8, "R": 12.5, "H": 6.5}
PKA_NEGATIVE = {"Cterm": 3.6, "D": 3.9, "E": 4.1, "C": 8.5, "Y": 10.1}
"""pKa values of ionisable groups (EMBOSS ``iep``)."""

PROTEIN_DESCRIPTOR_NAMES = [f"comp_{a}" for a in PROTEIN_ALPHABET] + [
    "length", "log10_length", "mw_kda", "pi", "charge_ph7", "gravy", "aromaticity",
    "aliphatic_index", "frac_nonstandard",
]
"""Column names of :class:`ProteinDescriptorFeaturizer`, in order."""

_IDX = {a: i for i, a in enumerate(PROTEIN_ALPHABET)}


def _scale(table: dict[str, float]) -> np.ndarray:
    return np.array([table[a] for a in PROTEIN_ALPHABET], dtype=np.float64)


def _counts(xs: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Standard-residue counts ``n x 20`` and total letters per sequence ``(n,)``."""
    lut = np.full(256, -1, dtype=np.int64)
    for a, i in _IDX.items():
        lut[ord(a)] = lut[ord(a.lower())] = i
    n = len(xs)
    lengths = np.fromiter((len(s) for s in xs), dtype=np.int64, count=n)
    codes = lut[np.frombuffer("".join(xs).encode("ascii", errors="replace"), dtype=np.uint8)]
    seq_id = np.repeat(np.arange(n, dtype=np.int64), lengths)
    ok = codes >= 0
    counts = np.bincount(seq_id[ok] * 20 + codes[ok], minlength=n * 20).reshape(n, 20)
    return counts.astype(np.float64), lengths.astype(np.float64)


def net_charge(counts: np.ndarray, ph: np.ndarray | float) -> np.ndarray:
    """Net charge of each sequence at ``ph`` (Henderson-Hasselbalch; one N- and C-terminus).

    Parameters
    ----------
    counts
        Residue counts ``n x 20`` in :data:`~scifm.featurizers.sequence.PROTEIN_ALPHABET` order.
    ph
        A pH, or one pH per sequence ``(n,)``.
    """
    ph = np.broadcast_to(np.asarray(ph, dtype=np.float64), (counts.shape[0],))[:, None]
    pos = 1.0 / (1.0 + 10.0 ** (ph - PKA_POSITIVE["Nterm"]))[:, 0]
    neg = -1.0 / (1.0 + 10.0 ** (PKA_NEGATIVE["Cterm"] - ph))[:, 0]
    for aa in ("K", "R", "H"):
        pos = pos + counts[:, _IDX[aa]] / (1.0 + 10.0 ** (ph[:, 0] - PKA_POSITIVE[aa]))
    for aa in ("D", "E", "C", "Y"):
        neg = neg - counts[:, _IDX[aa]] / (1.0 + 10.0 ** (PKA_NEGATIVE[aa] - ph[:, 0]))
    return pos + neg


def isoelectric_point(counts: np.ndarray, n_iter: int = 40) -> np.ndarray:
    """pH in [0, 14] where :func:`net_charge` is zero (bisection; charge falls with pH)."""
    lo = np.zeros(counts.shape[0])
    hi = np.full(counts.shape[0], 14.0)
    for _ in range(n_iter):
        mid = (lo + hi) / 2
        positive = net_charge(counts, mid) > 0
        lo = np.where(positive, mid, lo)
        hi = np.where(positive, hi, mid)
    return (lo + hi) / 2


@register("protdesc")
class ProteinDescriptorFeaturizer(BaseFeaturizer):
    """Amino-acid composition + physicochemical descriptors of protein sequences.

    A fixed featurizer (no fitting); ``d = len(PROTEIN_DESCRIPTOR_NAMES)`` = 29. Empty sequences
    or sequences without standard residues give NaN for the residue-based descriptors.

    Examples
    --------
    >>> f = ProteinDescriptorFeaturizer()
    >>> row = f(["AAAA"])[0]
    >>> round(float(row[PROTEIN_DESCRIPTOR_NAMES.index("gravy")]), 3)
    1.8
    """

    def __len__(self) -> int:
        return len(PROTEIN_DESCRIPTOR_NAMES)

    def _params(self) -> dict[str, Any]:
        return {}

    @property
    def feature_names(self) -> list[str]:
        return list(PROTEIN_DESCRIPTOR_NAMES)

    def __call__(self, xs: Inputs) -> np.ndarray:
        xs = primary_strings(xs)
        counts, lengths = _counts(xs)
        n_std = counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            comp = counts / n_std[:, None]
            mw = (counts @ _scale(RESIDUE_MASS) + WATER_MASS) / 1000.0
            gravy = counts @ _scale(KYTE_DOOLITTLE) / n_std
            aromatic = comp[:, [_IDX["F"], _IDX["W"], _IDX["Y"]]].sum(axis=1)
            aliphatic = 100.0 * (comp[:, _IDX["A"]] + 2.9 * comp[:, _IDX["V"]]
                                 + 3.9 * (comp[:, _IDX["I"]] + comp[:, _IDX["L"]]))
            frac_nonstd = np.where(lengths > 0, 1.0 - n_std / lengths, np.nan)
        cols = [comp, lengths[:, None], np.log10(np.maximum(lengths, 1.0))[:, None],
                mw[:, None], isoelectric_point(counts)[:, None],
                net_charge(counts, 7.0)[:, None], gravy[:, None], aromatic[:, None],
                aliphatic[:, None], frac_nonstd[:, None]]
        out = np.hstack(cols)
        residue_based = ~np.isin(np.arange(out.shape[1]), [20, 21, out.shape[1] - 1])
        out[np.ix_(n_std == 0, residue_based)] = np.nan
        out[~np.isfinite(out)] = np.nan
        return out.astype(np.float32)
