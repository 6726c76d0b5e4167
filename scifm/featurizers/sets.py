"""Named feature sets: ``atom`` or ``atom+atom+...`` -> a featurizer for a modality.

Atoms (each applies to the modalities listed in :data:`ATOM_MODALITIES`):

========== ===========================================================================
``ecfp``   Morgan count fingerprint, radius 2, 2048 columns (= ``ecfp4``)
``ecfp4``  same as ``ecfp``
``ecfp6``  Morgan count fingerprint, radius 3, 2048 columns
``maccs``  MACCS keys (167 columns, 0/1)
``rdkit2d`` RDKit 2D descriptors (raw values, NaN-safe; see note on scaling below)
``kmer``   k-mer spectrum with the modality's default ``k_max`` (protein 2, DNA 5)
``kmerK``  k-mer spectrum ``k = 1..K`` (DNA: K <= 6; protein: K <= 3)
``protdesc`` amino-acid composition + physicochemical descriptors (protein)
``tfidf``  word + character n-gram TF-IDF (fitted on the training inputs)
``embed:P`` mean-pooled embeddings of the Hugging Face encoder in folder ``P`` (a trained or
           pretrained run's ``model/``, or any checkpoint; every modality)
========== ===========================================================================

Combinations join atoms with ``+`` (``ecfp+maccs``, ``ecfp6+rdkit2d``, ``kmer3+protdesc``) and
give a :class:`~scifm.featurizers.molecule.ConcatFeaturizer`.

Scaling: feature sets are *not* scaled here. Families that need scaled inputs (``linear``,
``svm``, euclidean ``knn``) standardise inside their own scikit-learn pipeline
(:mod:`scifm.models.estimators`), so the scaler is fitted on each training fold only and saved
with the model; tree families take raw values.
"""

from __future__ import annotations

import logging

from scifm.errors import ConfigError
from scifm.featurizers.base import Featurizer

logger = logging.getLogger(__name__)

_MOL = ("smiles",)
_SEQ = ("protein", "dna")

ATOM_MODALITIES: dict[str, tuple[str, ...]] = {
    "ecfp": _MOL, "ecfp4": _MOL, "ecfp6": _MOL, "maccs": _MOL, "rdkit2d": _MOL,
    "kmer": _SEQ, "kmer1": _SEQ, "kmer2": _SEQ, "kmer3": _SEQ, "kmer4": ("dna",),
    "kmer5": ("dna",), "kmer6": ("dna",), "protdesc": ("protein",),
    "tfidf": ("smiles", "protein", "dna", "text"),
}
"""Which modalities each atom applies to (pure data: no RDKit import)."""

FINGERPRINT_ATOMS = frozenset({"ecfp", "ecfp4", "ecfp6", "maccs"})
"""Atoms whose columns are (count) fingerprints: Tanimoto similarity is meaningful on them."""


def atoms(name: str) -> list[str]:
    """The atoms of a feature-set name (``"ecfp+maccs"`` -> ``["ecfp", "maccs"]``).

    Raises
    ------
    ConfigError
        Empty, repeated or unknown atoms.
    """
    parts = [p.strip() for p in str(name).split("+")]
    unknown = [p for p in parts if p not in ATOM_MODALITIES and not _is_embed(p)]
    if unknown or len(set(parts)) != len(parts):
        raise ConfigError(f"unknown feature set {name!r}: use auto or atoms joined by '+' from "
                          f"{', '.join(ATOM_MODALITIES)} (each at most once)")
    return parts


def _is_embed(atom: str) -> bool:
    return atom.startswith(EMBED_PREFIX) and len(atom) > len(EMBED_PREFIX)


EMBED_PREFIX = "embed:"
_ALL = ("smiles", "protein", "dna", "text")


def _modalities(atom: str) -> tuple[str, ...]:
    return _ALL if _is_embed(atom) else ATOM_MODALITIES[atom]


def check_feature_name(name: str) -> str:
    """Validate a feature-set name (``auto`` or atoms); returns it unchanged."""
    if name != "auto":
        atoms(name)
    return name


def is_fingerprint(name: str) -> bool:
    """Whether every atom of ``name`` is a fingerprint (Tanimoto-compatible)."""
    return all(a in FINGERPRINT_ATOMS for a in atoms(name))


def modalities_of(name: str) -> tuple[str, ...]:
    """Modalities every atom of ``name`` applies to."""
    parts = atoms(name)
    return tuple(m for m in _ALL if all(m in _modalities(a) for a in parts))


def _atom(name: str, modality: str) -> Featurizer:
    from scifm.featurizers.fingerprints import MACCSFeaturizer
    from scifm.featurizers.molecule import ECFPFeaturizer, RDKit2DFeaturizer
    from scifm.featurizers.protein import ProteinDescriptorFeaturizer
    from scifm.featurizers.sequence import KmerSpectrumFeaturizer
    from scifm.featurizers.text import TfidfFeaturizer

    if _is_embed(name):
        from pathlib import Path

        from scifm.featurizers.embedding import EmbeddingFeaturizer

        return EmbeddingFeaturizer(str(Path(name.removeprefix(EMBED_PREFIX)).resolve()))
    if name in ("ecfp", "ecfp4", "ecfp6"):
        return ECFPFeaturizer(radius=3 if name == "ecfp6" else 2)
    if name == "maccs":
        return MACCSFeaturizer()
    if name == "rdkit2d":
        return RDKit2DFeaturizer()
    if name == "kmer":
        return KmerSpectrumFeaturizer.for_modality(modality)
    if name.startswith("kmer"):
        alphabet = KmerSpectrumFeaturizer.for_modality(modality).alphabet
        return KmerSpectrumFeaturizer(alphabet, int(name.removeprefix("kmer")))
    if name == "protdesc":
        return ProteinDescriptorFeaturizer()
    return TfidfFeaturizer()


def feature_set(name: str, modality: str) -> Featurizer:
    """A fresh (unfitted) featurizer for a feature-set name on ``modality`` inputs.

    Raises
    ------
    ConfigError
        Unknown atoms, or atoms that do not apply to ``modality``.
    """
    parts = atoms(name)
    wrong = [a for a in parts if modality not in _modalities(a)]
    if wrong:
        fits = [a for a, m in ATOM_MODALITIES.items() if modality in m]
        raise ConfigError(f"features {name!r}: {', '.join(wrong)} do(es) not apply to {modality} "
                          f"inputs; atoms for {modality}: {', '.join(fits)}")
    from scifm.featurizers.molecule import ConcatFeaturizer

    built = [_atom(a, modality) for a in parts]
    logger.debug("feature set %s for %s: %s", name, modality, built)
    return built[0] if len(built) == 1 else ConcatFeaturizer(built)
