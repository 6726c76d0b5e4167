"""The ``dna`` modality: nucleotide sequences.

* validation: at most ``sequence.max_length`` bases, ``A C G T`` (+ IUPAC
  ``N R Y K M S W B D H V`` when ``sequence.allow_ambiguous``); a ``U`` is flagged as RNA
  (``data.sequence``);
* split and leakage audit: 5-mer Jaccard similarity (``similarity`` split by default);
* features: the k-mer spectrum (k <= 5);
* tokenizer: one token per nucleotide, or overlapping k-mers with ``model.dna_kmer > 1`` (then
  pretraining masks whole k-mer spans).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scifm.config.registry import MODALITIES
from scifm.modalities.sequence import Alphabet, sequence_modality

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from scifm.config.schema import ModelConfig

__all__ = ["DNA", "DNA_LETTERS"]

DNA_LETTERS = Alphabet(standard=frozenset("ACGT"), ambiguous=frozenset("NRYKMSWBDHV"),
                       unit="base", label="DNA",
                       hints=(("U", "looks like RNA: convert U to T"),))
"""Valid bases: A C G T; IUPAC ambiguity codes N R Y K M S W B D H V."""

K = 5
"""k of the k-mer similarity (split groups and leakage audit)."""


def _tokenizer(corpus: Sequence[str], model_cfg: ModelConfig) -> Tokenizer:
    from scifm.featurizers.tokenizers import DNA_ALPHABET, char_tokenizer, kmer_tokenizer

    if model_cfg.dna_kmer <= 1:
        return char_tokenizer(DNA_ALPHABET)
    return kmer_tokenizer(corpus, model_cfg.dna_kmer)


DNA = MODALITIES.register(sequence_modality(
    "dna", DNA_LETTERS, K,
    tune_features=("kmer3", "kmer4", "kmer5", "kmer6"),
    tune_default_features="kmer5",
    feature_atoms=("kmer", "kmer1", "kmer2", "kmer3", "kmer4", "kmer5", "kmer6", "tfidf"),
    kmer_alphabet=("ACGT", 5),
    tokenizer=_tokenizer,
    kmer_tokens=True,
    description="nucleotide sequences",
))
"""The registered spec."""
