"""Fixtures of the data-layer tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from scifm.data.clean import CleanDataset

from .helpers import ACYCLIC, RINGS, SUBS, make_dataset


@pytest.fixture
def mol_frame() -> pd.DataFrame:
    """108 distinct molecules: 10 ring scaffolds x 10 substituents + 8 acyclic ones."""
    smiles = [s + r for r in RINGS for s in SUBS] + ACYCLIC
    rng = np.random.default_rng(0)
    y = (rng.random(len(smiles)) < 0.3).astype(int).astype(str)
    return pd.DataFrame({"smiles": smiles, "y": y,
                         "value": np.round(rng.normal(size=len(smiles)), 3).astype(str)})


@pytest.fixture
def mol_ds(mol_frame) -> CleanDataset:
    return make_dataset(mol_frame, target_cols=["y"])
