"""The ``smiles`` modality: small molecules written as SMILES (RDKit).

* validation: size limits first (``data.smiles.max_chars``, ``max_heavy_atoms``, counted on the
  string), then RDKit parse, optional largest fragment and neutralisation (``data.smiles``),
  canonical SMILES; RDKit runs in worker processes, so an input that crashes it is rejected
  alone (``native``);
* split: balanced Bemis-Murcko ``scaffold`` split (the default);
* leakage audit: ECFP4 Tanimoto similarity to the nearest train molecule;
* features: ``ecfp+rdkit2d`` for single models (``ecfp`` for Tanimoto kNN), a search over
  fingerprints and descriptors for ``auto``;
* tokenizer: atom-level regex, word-level vocabulary learnt from the corpus;
* pretraining corpus lines: the first whitespace-separated field (``.smi`` names are dropped).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from scifm.config.registry import MODALITIES
from scifm.data import parsed
from scifm.data.datapoints import Inputs, InvalidInput, primary_strings
from scifm.modalities.base import ModalitySpec, NativeCode, NNSimilarity, over_limit

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from scifm.config.schema import DataConfig, ModelConfig

__all__ = ["SMILES", "count_heavy_atoms", "nn_tanimoto", "scaffold_fold_groups", "scaffold_groups",
           "scaffolds", "smiles_validator"]

_ATOM = re.compile(r"\[(\d*)(H?)([a-z]?)[^\]]*\]|Br|Cl|[BCNOPSFIbcnops*]")
"""One atom of a SMILES string: a bracket atom (isotope, a leading ``H``, the letter after it) or
an atom of the organic subset (``*`` included)."""


def count_heavy_atoms(smiles: str) -> int:
    """Atoms other than hydrogen written in a SMILES string, counted without parsing it.

    Bracket hydrogens (``[H]``, ``[2H]``, ``[H+]``) do not count; implicit hydrogens are not
    written. Equals RDKit's ``GetNumHeavyAtoms`` for valid SMILES without ``*`` atoms.

    Examples
    --------
    >>> count_heavy_atoms("[2H]OC(=O)c1ccccc1[Hg]Cl")
    11
    """
    return sum(1 for _, h, low in _ATOM.findall(smiles) if not h or low)


def _short(s: str, n: int = 60) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def _why(s: str) -> str:
    """The reason RDKit rejects ``s``: syntax, valence, aromaticity or other chemistry."""
    from rdkit import Chem, rdBase

    with rdBase.BlockLogs():
        raw = Chem.MolFromSmiles(s, sanitize=False)
        problems = Chem.DetectChemistryProblems(raw) if raw is not None else ()
    if raw is None:
        return f"invalid SMILES syntax: cannot parse {_short(s)!r}"
    if not problems:
        return f"invalid SMILES: RDKit could not sanitise {_short(s)!r}"
    p = problems[0]
    kind = {"AtomValenceException": "valence", "KekulizeException": "aromaticity"}.get(
        p.GetType(), "chemistry")
    return f"invalid SMILES {kind}: {' '.join(p.Message().split())}"


def smiles_validator(data_cfg: DataConfig) -> Callable[[str], str]:
    """Raw SMILES -> canonical SMILES with the options of ``data_cfg.smiles``.

    An input over ``data.smiles.max_chars`` characters or ``max_heavy_atoms`` heavy atoms is
    rejected before RDKit sees it (a length check, then a regex scan of at most ``max_chars``
    characters).
    """
    from rdkit import Chem, rdBase
    from rdkit.Chem.MolStandardize import rdMolStandardize

    opts = data_cfg.smiles
    chooser = rdMolStandardize.LargestFragmentChooser() if opts.largest_fragment else None
    uncharger = rdMolStandardize.Uncharger() if opts.neutralize else None

    def validate(value: str) -> str:
        s = value.strip()
        if not s:
            raise InvalidInput("empty input")
        over_limit(len(s), opts.max_chars, "characters", "data.smiles.max_chars")
        if opts.max_heavy_atoms is not None:
            n = count_heavy_atoms(s)
            if n > opts.max_heavy_atoms:
                raise InvalidInput(f"too many atoms: {n:,} heavy atoms > "
                                   f"data.smiles.max_heavy_atoms={opts.max_heavy_atoms:,}")
        with rdBase.BlockLogs():
            mol = Chem.MolFromSmiles(s)
            if mol is not None:
                if chooser is not None and "." in s:  # no '.': one fragment already
                    mol = chooser.choose(mol)
                if uncharger is not None:
                    mol = uncharger.uncharge(mol)
        if mol is None:
            raise InvalidInput(_why(s))
        if mol.GetNumAtoms() == 0:
            raise InvalidInput("empty input: SMILES has no atoms")
        canonical = Chem.MolToSmiles(mol, isomericSmiles=opts.isomeric)
        parsed.remember(canonical, mol)
        return canonical

    return validate


def scaffolds(smiles: Inputs) -> list[str]:
    """Bemis-Murcko scaffold SMILES (without chirality); acyclic molecules give ``""``."""
    from rdkit import Chem, rdBase
    from rdkit.Chem.Scaffolds import MurckoScaffold

    out = []
    with rdBase.BlockLogs():
        for s in primary_strings(smiles):
            mol = Chem.MolFromSmiles(s)
            if mol is None:
                out.append(s)  # keeps an unparsable input in its own group
                continue
            out.append(MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False))
    return out


def scaffold_groups(smiles: Inputs, seed: int = 0, threshold: float = 0.9) -> np.ndarray:
    """Integer group id per molecule: equal ids share a Bemis-Murcko scaffold (in order of
    first appearance; ``seed`` and ``threshold`` are unused)."""
    import pandas as pd

    return pd.factorize(pd.Series(scaffolds(smiles), dtype=object))[0].astype(np.int64)


def scaffold_fold_groups(smiles: Inputs, seed: int = 0, threshold: float = 0.9) -> np.ndarray:
    """:func:`scaffold_groups` for a search's k-fold CV: each acyclic molecule (empty scaffold)
    is a group of its own, as acyclic molecules share no ring system; grouped, they are one
    group too large to balance across folds."""
    import pandas as pd

    found = scaffolds(smiles)
    keys = [s if s else f"acyclic:{i}" for i, s in enumerate(found)]
    return pd.factorize(pd.Series(keys, dtype=object))[0].astype(np.int64)


def _ecfp4(smiles: Sequence[str]) -> list:
    from rdkit import Chem, rdBase
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    with rdBase.BlockLogs():
        mols = (Chem.MolFromSmiles(s) for s in smiles)
        return [gen.GetFingerprint(m if m is not None else Chem.Mol()) for m in mols]


@functools.lru_cache(maxsize=2)
def _reference_fps(reference: tuple[str, ...]) -> list:
    """The reference set's fingerprints, made once per process: ``predict`` / ``serve`` /
    ``screen`` ask for the similarity to the same training set chunk after chunk."""
    return _ecfp4(reference)


def nn_tanimoto(query: Sequence[str], reference: Sequence[str]) -> np.ndarray:
    """ECFP4 (2048 bits) Tanimoto similarity of each query molecule to its nearest reference."""
    from rdkit import DataStructs

    ref = _reference_fps(tuple(primary_strings(reference)))
    return np.array([max(DataStructs.BulkTanimotoSimilarity(fp, ref))
                     for fp in _ecfp4(primary_strings(query))])


def _tokenizer(corpus: Sequence[str], model_cfg: ModelConfig) -> Tokenizer:
    from scifm.featurizers.tokenizers import smiles_tokenizer

    return smiles_tokenizer(corpus)


def _first_field(line: str) -> str:
    return line.split(None, 1)[0]


TANIMOTO = NNSimilarity(
    fn=nn_tanimoto, metric="ECFP4 (Morgan radius 2, 2048 bits) Tanimoto, test -> nearest train",
    name="Tanimoto", items="molecules")
"""The leakage audit's similarity of molecules (a plug-in of SMILES + more columns reuses it)."""

SMILES = MODALITIES.register(ModalitySpec(
    name="smiles",
    label="SMILES",
    options_section="data.smiles",
    draws_molecules=True,
    validator=smiles_validator,
    input_cols=("smiles",),
    native=NativeCode("RDKit", ("rdkit.Chem", "rdkit.Chem.MolStandardize.rdMolStandardize")),
    default_split="scaffold",
    groups={"scaffold": scaffold_groups},
    fold_groups={"scaffold": scaffold_fold_groups},
    nn_similarity=TANIMOTO,
    default_features="ecfp+rdkit2d",
    family_features={"knn": "ecfp"},  # Tanimoto kNN wants fingerprints
    tune_features=("ecfp", "ecfp6", "maccs", "ecfp+maccs", "ecfp+rdkit2d", "maccs+rdkit2d",
                   "rdkit2d"),
    tune_default_features="ecfp+rdkit2d",
    # physico-chemical regression (solubility, hydration free energy, logD) is carried by the
    # descriptors: on FreeSolv and ESOL every model did as well or better on rdkit2d alone
    # (bench/descriptor_probe.py), and trees fit its 213 columns about 10x faster than 2,261
    tune_task_features={"regression": "rdkit2d"},
    feature_atoms=("ecfp", "ecfp4", "ecfp6", "maccs", "rdkit2d", "tfidf"),
    tokenizer=_tokenizer,
    corpus_item=_first_field,
    description="small molecules as SMILES (RDKit)",
))
"""The registered spec."""
