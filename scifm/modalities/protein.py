"""The ``protein`` modality: amino-acid sequences.

* validation: gaps and a trailing stop ``*`` are stripped, at most ``sequence.max_length``
  residues, the 20 standard amino acids (+ ``B Z X J U O`` when ``sequence.allow_ambiguous``)
  (``data.sequence``);
* split and leakage audit: 3-mer Jaccard similarity (``similarity`` split by default);
* features: the k-mer spectrum (k <= 2) for single models, k-mers and physicochemical
  descriptors for ``auto``;
* tokenizer: one token per residue, fixed vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scifm.config.registry import MODALITIES
from scifm.modalities.sequence import Alphabet, sequence_modality

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from scifm.config.schema import ModelConfig

__all__ = ["PROTEIN", "PROTEIN_LETTERS", "STANDARD_AMINO_ACIDS"]

STANDARD_AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 standard amino acids (also the k-mer feature alphabet)."""

PROTEIN_LETTERS = Alphabet(standard=frozenset(STANDARD_AMINO_ACIDS),
                           ambiguous=frozenset("BZXJUO"), unit="residue", label="protein",
                           strip_stop=True)
"""Valid residues: 20 standard amino acids; ambiguity codes B Z X J U O."""

K = 3
"""k of the k-mer similarity (split groups and leakage audit)."""


def _tokenizer(corpus: Sequence[str], model_cfg: ModelConfig) -> Tokenizer:
    from scifm.featurizers.tokenizers import PROTEIN_ALPHABET, char_tokenizer

    return char_tokenizer(PROTEIN_ALPHABET)


PROTEIN = MODALITIES.register(sequence_modality(
    "protein", PROTEIN_LETTERS, K,
    tune_features=("kmer", "protdesc", "kmer+protdesc", "kmer3"),
    tune_default_features="kmer+protdesc",
    feature_atoms=("kmer", "kmer1", "kmer2", "kmer3", "protdesc", "tfidf"),
    kmer_alphabet=(STANDARD_AMINO_ACIDS, 2),
    tokenizer=_tokenizer,
    description="amino-acid sequences",
))
"""The registered spec."""
