"""Shared fixtures: small molecule / sequence / text tables generated on the fly (no network)."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")

SHARED = Path(__file__).resolve().parents[2] / "shared"

RINGS = ["c1ccc({})cc1", "C1CCC({})CC1", "c1ccnc({})c1", "C1CCN(C{})CC1", "c1ccc2cc({})ccc2c1",
         "c1coc({})c1", "C1CC1{}", "c1csc({})c1", "O=C1CCC({})N1", "c1cnc2ccc({})cc2n1"]
SUBS = ["C", "CC", "O", "N", "Cl", "F", "C(=O)O", "OC", "CN", "C(F)(F)F", "CCO", "S(=O)(=O)N"]


def make_molecules(n: int = 120, seed: int = 0) -> pd.DataFrame:
    """Valid, distinct SMILES with a learnable binary label and a regression target (logP)."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Crippen

    RDLogger.DisableLog("rdApp.*")

    rng = random.Random(seed)
    combos = list(itertools.product(RINGS, SUBS, SUBS))
    rng.shuffle(combos)
    rows, seen = [], set()
    for ring, s1, s2 in combos:
        smi = s1 + ring.format(s2)
        mol = Chem.MolFromSmiles(smi)
        if mol is None:
            continue
        can = Chem.MolToSmiles(mol)
        if can in seen:
            continue
        seen.add(can)
        logp = Crippen.MolLogP(mol)
        rows.append({"smiles": smi, "logp": round(logp + rng.gauss(0, 0.1), 3),
                     "active": int(logp > 1.5)})
        if len(rows) == n:
            break
    return pd.DataFrame(rows)


def make_dna(n: int = 80, length: int = 40, seed: int = 0) -> pd.DataFrame:
    """Random DNA; label 1 when a TATA box is planted."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        seq = "".join(rng.choice(list("ACGT"), size=length))
        label = i % 2
        if label:
            pos = int(rng.integers(0, length - 6))
            seq = seq[:pos] + "TATAAA" + seq[pos + 6:]
        rows.append({"sequence": seq, "label": label})
    return pd.DataFrame(rows)


@pytest.fixture
def molecules() -> pd.DataFrame:
    return make_molecules()


@pytest.fixture
def molecules_csv(tmp_path: Path, molecules: pd.DataFrame) -> Path:
    path = tmp_path / "mols.csv"
    molecules.to_csv(path, index=False)
    return path


@pytest.fixture
def dirty_csv(tmp_path: Path, molecules: pd.DataFrame) -> Path:
    """Molecules plus 3 invalid SMILES, 2 blank labels and 1 duplicate with a conflicting label."""
    df = molecules[["smiles", "active"]].astype({"active": "object"}).copy()
    bad = pd.DataFrame({"smiles": ["C1CC", "not_a_smiles", "C(C)(C)(C)(C)C"],
                        "active": [1, 0, 1]})
    df.loc[3, "active"] = None
    df.loc[7, "active"] = None
    flipped = 1 - int(df.loc[10, "active"])
    dup = pd.DataFrame({"smiles": [df.loc[10, "smiles"]], "active": [flipped]})
    df = pd.concat([df, bad, dup], ignore_index=True)
    path = tmp_path / "dirty.csv"
    df.to_csv(path, index=False)
    return path


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared benchmark data not found at {SHARED}")
    return SHARED
