"""Featurizers: inputs (SMILES, sequences, texts; datapoints or strings) -> numeric matrices."""

from scifm.featurizers.base import (
    FEATURIZERS,
    BaseFeaturizer,
    Featurizer,
    build_featurizer,
    featurize,
)
from scifm.featurizers.fingerprints import MACCSFeaturizer
from scifm.featurizers.molecule import (
    ConcatFeaturizer,
    ECFPFeaturizer,
    MolFeaturizer,
    RDKit2DFeaturizer,
    parse_smiles,
)
from scifm.featurizers.protein import ProteinDescriptorFeaturizer
from scifm.featurizers.sequence import KmerSpectrumFeaturizer
from scifm.featurizers.sets import feature_set, featurizer_from_name
from scifm.featurizers.text import TfidfFeaturizer

__all__ = [
    "FEATURIZERS",
    "BaseFeaturizer",
    "ConcatFeaturizer",
    "ECFPFeaturizer",
    "Featurizer",
    "KmerSpectrumFeaturizer",
    "MACCSFeaturizer",
    "MolFeaturizer",
    "ProteinDescriptorFeaturizer",
    "RDKit2DFeaturizer",
    "TfidfFeaturizer",
    "build_featurizer",
    "feature_set",
    "featurize",
    "featurizer_from_name",
    "parse_smiles",
]
