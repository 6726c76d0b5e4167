"""How the inputs of each built-in modality are checked: ``data.smiles``, ``data.sequence``,
``data.text``, limits included.

**Limits.** Every input is checked against its modality's size limits first, in time that does not
grow with the input (a length) or grows only as fast as a C-speed scan of a string already capped
by the length limit, before RDKit or a tokenizer sees it. An input over a limit is rejected with
its reason (``too long: 20,000 characters > data.smiles.max_chars=2,000``); the row is reported in
``rejected.csv`` (training) or marked ``invalid`` (``scifm predict``), never fatal. The defaults
leave generous headroom over real data sets: the longest SMILES of MoleculeNet and the ChEMBL
pretraining set is 722 characters and 302 heavy atoms, the longest protein of DeepLoc 13,100
residues (titin, the longest known, about 35,000), the longest text line of the bundled text sets
1,548 characters. ``null`` removes a limit (not advised for untrusted input).

Re-exported by :mod:`scifm.config.schema`, which assembles the whole experiment spec.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from scifm.config.base import Strict as _Strict

__all__ = ["SequenceOptions", "SmilesOptions", "TextOptions"]


class SmilesOptions(_Strict):
    """How SMILES are validated and canonicalised (RDKit)."""

    largest_fragment: bool = True
    """Keep only the largest organic fragment (strips salts and solvents)."""
    neutralize: bool = False
    """Neutralise charges with RDKit's Uncharger."""
    isomeric: bool = True
    """Keep stereochemistry in the canonical SMILES."""
    max_chars: int | None = Field(default=2_000, ge=1)
    """Reject a SMILES longer than this many characters (surrounding whitespace excluded)
    before RDKit parses it: RDKit's canonicalisation time grows with the square of the size,
    and a 20,000-atom chain crashes it. ``null``: no limit."""
    max_heavy_atoms: int | None = Field(default=1_000, ge=1)
    """Reject a SMILES with more atoms other than hydrogen (``*`` counts) than this, counted
    from the string before RDKit parses it. ``null``: no limit."""


class SequenceOptions(_Strict):
    """How protein and DNA sequences are validated."""

    uppercase: bool = True
    """Upper-case sequences before checking the alphabet (lower case is an error if False)."""
    allow_ambiguous: bool = True
    """Accept IUPAC ambiguity letters (protein: B Z X J U O; DNA: N R Y K M S W B D H V)."""
    strip_gaps: bool = True
    """Remove alignment gaps ('-', '.') and whitespace before checking."""
    max_length: int | None = Field(default=100_000, ge=1)
    """Reject a sequence with more residues / bases than this (counted after gaps are
    stripped), before its letters are checked. ``null``: no limit."""


class TextOptions(_Strict):
    """How texts are normalised."""

    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] = "NFKC"
    collapse_whitespace: bool = True
    lowercase: bool = False
    max_chars: int | None = Field(default=100_000, ge=1)
    """Reject a text longer than this many characters (surrounding whitespace excluded),
    before it is normalised or tokenized. ``null``: no limit."""
