"""Shared parts of the biological-sequence plug-ins (protein, DNA): the alphabet validator, the
k-mer similarity used by both the ``similarity`` split and the leakage audit, and the spec fields
every sequence modality has in common (:func:`sequence_modality`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.data.datapoints import InvalidInput
from scifm.modalities.base import GroupFn, ModalitySpec, NNSimilarity, over_limit

if TYPE_CHECKING:
    from scifm.config.schema import DataConfig

_GAPS = re.compile(r"[\s\-.]+")


@dataclass(frozen=True)
class Alphabet:
    """The letters of a sequence modality and how its messages name them."""

    standard: frozenset[str]
    """Letters always accepted."""
    ambiguous: frozenset[str]
    """IUPAC ambiguity letters, accepted when ``sequence.allow_ambiguous``."""
    unit: str
    """One letter, in messages (``residue``, ``base``)."""
    label: str
    """The modality in messages (``protein``, ``DNA``)."""
    strip_stop: bool = False
    """Drop a trailing ``*`` (translated stop codon) with the gaps."""
    hints: tuple[tuple[str, str], ...] = ()
    """``(letter, hint)``: a hint added when that letter is among the invalid ones."""


def sequence_validator(alphabet: Alphabet) -> Callable[[DataConfig], Callable[[str], str]]:
    """The ``validator`` hook of a sequence modality (options: ``data.sequence``): gaps
    stripped, then the length limit (``data.sequence.max_length``), then the alphabet."""

    def build(data_cfg: DataConfig) -> Callable[[str], str]:
        opts = data_cfg.sequence
        allowed = alphabet.standard | alphabet.ambiguous if opts.allow_ambiguous \
            else alphabet.standard

        def validate(value: str) -> str:
            s = value
            if opts.strip_gaps:
                s = _GAPS.sub("", s)
                if alphabet.strip_stop and s.endswith("*"):
                    s = s[:-1]  # translated stop codon
            else:
                s = s.strip()
            if not s:
                raise InvalidInput("empty input")
            over_limit(len(s), opts.max_length, f"{alphabet.unit}s", "data.sequence.max_length")
            if opts.uppercase:
                s = s.upper()
            if not allowed.issuperset(s):
                bad = [(i, c) for i, c in enumerate(s) if c not in allowed]
                raise InvalidInput(_bad_letters(bad, alphabet, opts.uppercase,
                                                opts.allow_ambiguous))
            return s

        return validate

    return build


def _bad_letters(bad: list[tuple[int, str]], alphabet: Alphabet, uppercase: bool,
                 allow_ambiguous: bool) -> str:
    chars = list(dict.fromkeys(c for _, c in bad))
    shown = ",".join(repr(c) for c in chars[:5]) + ("..." if len(chars) > 5 else "")
    hints = [h for letter, h in alphabet.hints if letter in chars]
    if not uppercase and any(c.isalpha() and c.islower() for c in chars):
        hints.append("lower case; set sequence.uppercase: true")
    if not allow_ambiguous and set(chars) <= alphabet.ambiguous:
        hints.append("ambiguity code; set sequence.allow_ambiguous: true")
    hint = f" ({hints[0]})" if hints else ""
    return (f"invalid {alphabet.label} {alphabet.unit}(s): {shown} at position {bad[0][0] + 1}"
            f"{hint}")


def kmer_groups(k: int) -> GroupFn:
    """Groups of the ``similarity`` split: k-mer Jaccard >= threshold (MinHash + LSH)."""

    def groups(inputs: Sequence[str], seed: int, threshold: float) -> np.ndarray:
        from scifm.data.leakage import similarity_groups

        return similarity_groups(inputs, k=k, threshold=threshold, seed=seed)

    return groups


def kmer_similarity(k: int) -> NNSimilarity:
    """Exact k-mer Jaccard similarity to the nearest train sequence (leakage audit)."""

    def nearest(query: Sequence[str], reference: Sequence[str]) -> np.ndarray:
        from scifm.data.leakage import nn_kmer_jaccard

        return nn_kmer_jaccard(query, reference, k)

    return NNSimilarity(fn=nearest, metric=f"{k}-mer Jaccard similarity, test -> nearest train",
                        name=f"{k}-mer Jaccard", items="sequences")



def sequence_modality(name: str, alphabet: Alphabet, k: int, **fields: Any) -> ModalitySpec:
    """The spec of a biological-sequence modality.

    What every sequence modality shares is filled in: the label (``alphabet.label``), the
    validator of ``alphabet``, the ``sequence`` input column, the ``similarity`` split (the
    default) and the leakage audit on ``k``-mer Jaccard similarity, and k-mer features by default.

    Parameters
    ----------
    name
        ``data.modality``.
    alphabet
        Accepted letters and how messages name them.
    k
        k of the k-mer similarity (split groups and leakage audit).
    **fields
        The other :class:`~scifm.modalities.base.ModalitySpec` fields (features searched,
        feature atoms, k-mer alphabet, tokenizer, ...).
    """
    return ModalitySpec(name=name, label=alphabet.label, validator=sequence_validator(alphabet),
                        input_cols=("sequence",), default_split="similarity",
                        groups={"similarity": kmer_groups(k)}, nn_similarity=kmer_similarity(k),
                        default_features="kmer", options_section="data.sequence", **fields)
