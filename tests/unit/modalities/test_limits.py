"""Size limits of every built-in modality: configurable, documented defaults, checked first and
in bounded time (before RDKit, the alphabet check or Unicode normalisation)."""

from __future__ import annotations

import time

import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.data.datapoints import InvalidInput
from scifm.errors import ConfigError
from scifm.modalities.smiles import count_heavy_atoms


def _v(modality: str, **kw):
    return MODALITIES.get(modality).validator(DataConfig(modality=modality, **kw))


def _reason(validate, value: str) -> str:
    with pytest.raises(InvalidInput) as info:
        validate(value)
    return info.value.reason


def test_defaults_leave_headroom_over_real_data():
    cfg = DataConfig()
    assert cfg.smiles.max_chars == 2_000 and cfg.smiles.max_heavy_atoms == 1_000
    assert cfg.sequence.max_length == 100_000
    assert cfg.text.max_chars == 100_000


def test_limits_must_be_positive_or_null():
    with pytest.raises((ValueError, ConfigError)):
        DataConfig(smiles={"max_chars": 0})
    assert DataConfig(smiles={"max_chars": None}).smiles.max_chars is None


@pytest.mark.parametrize(("modality", "value", "kw", "reason"), [
    ("smiles", "C" * 20_000, {}, "too long: 20,000 characters > data.smiles.max_chars=2,000"),
    ("smiles", "  " + "C" * 11 + "  ", {"smiles": {"max_chars": 10}},
     "too long: 11 characters > data.smiles.max_chars=10"),
    ("smiles", "C" * 1_500, {},
     "too many atoms: 1,500 heavy atoms > data.smiles.max_heavy_atoms=1,000"),
    ("smiles", "c1ccccc1[2H]", {"smiles": {"max_heavy_atoms": 5}},
     "too many atoms: 6 heavy atoms > data.smiles.max_heavy_atoms=5"),
    ("protein", "M" * 100_001, {}, "too long: 100,001 residues > data.sequence.max_length=100,000"),
    ("dna", "ACGT" * 30, {"sequence": {"max_length": 100}},
     "too long: 120 bases > data.sequence.max_length=100"),
    ("text", "word " * 20_001, {}, "too long: 100,004 characters > data.text.max_chars=100,000"),
])
def test_an_input_over_a_limit_is_rejected_with_its_reason(modality, value, kw, reason):
    assert _reason(_v(modality, **kw), value) == reason


def test_inputs_at_a_limit_are_accepted_and_null_removes_it():
    assert _v("smiles", smiles={"max_chars": 3})(" CCO ") == "CCO"
    assert _v("smiles", smiles={"max_heavy_atoms": 6})("c1ccccc1[2H]") == "[2H]c1ccccc1"
    assert _v("smiles", smiles={"max_heavy_atoms": None})("C" * 1_200) == "C" * 1_200
    assert _v("protein", sequence={"max_length": 4})("MK-TL") == "MKTL"  # gaps do not count
    assert _v("dna", sequence={"max_length": None})("ACGT" * 30_000) == "ACGT" * 30_000
    assert _v("text", text={"max_chars": 5})("  hello  ") == "hello"


def test_the_length_is_checked_before_the_alphabet():
    assert _reason(_v("protein", sequence={"max_length": 3}), "MK1@").startswith("too long")


@pytest.mark.serial
@pytest.mark.parametrize("modality", ["smiles", "protein", "dna", "text"])
def test_a_1_mb_input_is_rejected_in_milliseconds(modality):
    validate = _v(modality)
    line = ("C" if modality == "smiles" else "A") * 1_000_000
    t0 = time.perf_counter()
    reason = _reason(validate, line)
    seconds = time.perf_counter() - t0
    assert reason.startswith("too long: 1,000,000 "), reason
    assert seconds < 0.05, f"{seconds:.3f} s"


def test_heavy_atoms_are_counted_from_the_string_as_rdkit_counts_them(molecules):
    from rdkit import Chem

    extra = ["[2H]OC(=O)c1ccccc1[Hg]Cl", "[H]C([H])([H])[H]", "c1cc[nH]c1", "[Na+].[O-]C(=O)C",
             "Brc1ccccc1Cl", "[H+]", "C[C@@H](N)C(=O)O", "[13CH4]"]
    for smi in [*molecules["smiles"], *extra]:
        assert count_heavy_atoms(smi) == Chem.MolFromSmiles(smi).GetNumHeavyAtoms(), smi


def test_only_smiles_declares_a_native_library():
    assert MODALITIES.get("smiles").native.name == "RDKit"
    assert all(MODALITIES.get(m).native is None for m in ("protein", "dna", "text"))
