"""Feature-set names are checked against the plug-ins' atoms without importing a featurizer."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scifm.errors import ConfigError
from scifm.modalities.features import applies, atoms, check_feature_name, known_atoms


def test_atoms_and_names():
    assert atoms("ecfp+maccs") == ["ecfp", "maccs"]
    assert atoms("embed:/tmp/m+ecfp") == ["embed:/tmp/m", "ecfp"]
    assert check_feature_name("auto") == "auto"
    assert {"ecfp", "kmer6", "protdesc", "tfidf"} <= set(known_atoms())
    for bad in ("morgan", "ecfp+ecfp", "embed:", ""):
        with pytest.raises(ConfigError, match="unknown feature set"):
            atoms(bad)


def test_which_atoms_apply():
    assert applies("tfidf", "smiles") and applies("tfidf", "text")
    assert applies("kmer6", "dna") and not applies("kmer6", "protein")
    assert applies("embed:/m", "text") and not applies("ecfp", "dna")


def test_config_check_imports_no_featurizer():
    code = ("import sys; from scifm.config.schema import ModelConfig; "
            "ModelConfig(features='ecfp6+maccs'); "
            "print(sorted(m for m in sys.modules if m.startswith('scifm.featurizers')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
