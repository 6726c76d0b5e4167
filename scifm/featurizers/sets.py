"""Named feature sets: ``atom`` or ``atom+atom+...`` -> a featurizer for a modality.

Atoms (each applies to the modalities whose plug-in lists it in ``feature_atoms``, see
:mod:`scifm.modalities`; the syntax is checked by :mod:`scifm.modalities.features`):

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
give a :class:`~scifm.featurizers.molecule.ConcatFeaturizer`. An atom a plug-in adds (its
featurizer registered with :func:`scifm.featurizers.base.register` under the atom's name, with
a constructor that takes no argument) is built like the built-in ones.

Scaling: feature sets are *not* scaled here. Families that need scaled inputs (``linear``,
``svm``, euclidean ``knn``) standardise inside their own scikit-learn pipeline
(:mod:`scifm.models.estimators`), so the scaler is fitted on each training fold only and saved
with the model; tree families take raw values.
"""

from __future__ import annotations

import logging

from scifm.config.registry import MODALITIES
from scifm.errors import ConfigError
from scifm.featurizers.base import FEATURIZERS, Featurizer, load_builtins
from scifm.modalities.features import EMBED_PREFIX, applies, atoms, is_embed

logger = logging.getLogger(__name__)

FINGERPRINT_ATOMS = frozenset({"ecfp", "ecfp4", "ecfp6", "maccs"})
"""Atoms whose columns are (count) fingerprints: Tanimoto similarity is meaningful on them."""


def is_fingerprint(name: str) -> bool:
    """Whether every atom of ``name`` is a fingerprint (Tanimoto-compatible)."""
    return all(a in FINGERPRINT_ATOMS for a in atoms(name))


def _atom(name: str, modality: str) -> Featurizer:
    from scifm.featurizers.fingerprints import MACCSFeaturizer
    from scifm.featurizers.molecule import ECFPFeaturizer, RDKit2DFeaturizer
    from scifm.featurizers.protein import ProteinDescriptorFeaturizer
    from scifm.featurizers.sequence import KmerSpectrumFeaturizer
    from scifm.featurizers.text import TfidfFeaturizer

    if is_embed(name):
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
    if name.startswith("kmer") and name[4:].isdigit():
        alphabet = KmerSpectrumFeaturizer.for_modality(modality).alphabet
        return KmerSpectrumFeaturizer(alphabet, int(name.removeprefix("kmer")))
    if name == "protdesc":
        return ProteinDescriptorFeaturizer()
    if name == "tfidf":
        return TfidfFeaturizer()
    load_builtins()
    if name not in FEATURIZERS:
        raise ConfigError(f"feature atom {name!r} has no registered featurizer")
    return FEATURIZERS[name]()


def feature_set(name: str, modality: str) -> Featurizer:
    """A fresh (unfitted) featurizer for a feature-set name on ``modality`` inputs.

    Raises
    ------
    ConfigError
        Unknown atoms, or atoms that do not apply to ``modality``.
    """
    parts = atoms(name)
    wrong = [a for a in parts if not applies(a, modality)]
    if wrong:
        fits = MODALITIES.get(modality).feature_atoms
        verb = "does" if len(wrong) == 1 else "do"
        raise ConfigError(f"features {name!r}: {', '.join(wrong)} {verb} not apply to {modality} "
                          f"inputs; atoms for {modality}: {', '.join(fits)}")
    from scifm.featurizers.molecule import ConcatFeaturizer

    built = [_atom(a, modality) for a in parts]
    logger.debug("feature set %s for %s: %s", name, modality, built)
    return built[0] if len(built) == 1 else ConcatFeaturizer(built)


def featurizer_from_name(name: str, modality: str, family: str | None = None) -> Featurizer:
    """A fresh (unfitted) featurizer for a feature-set name and a modality.

    Parameters
    ----------
    name
        ``auto`` or a feature set of :mod:`scifm.featurizers.sets` (``ecfp``, ``ecfp+rdkit2d``,
        ``ecfp6+maccs``, ``kmer``, ``kmer3+protdesc``, ``tfidf``, ...).
    modality
        A registered modality; its plug-in says what ``auto`` means
        (``ModalitySpec.default_features``), which atoms apply and the k-mer alphabet.
    family
        The model family, for plug-ins whose ``auto`` differs per family.

    Raises
    ------
    ConfigError
        Unknown name or modality, or features that do not apply to the modality.
    """
    resolved = MODALITIES.get(modality).features_for(family) if name == "auto" else name
    logger.debug("featurizer %s for modality %s", resolved, modality)
    return feature_set(resolved, modality)
