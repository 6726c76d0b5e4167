"""MACCS structural keys (166 public keys; RDKit's 167-bit vector, bit 0 unused)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import MACCSkeys

from scifm.featurizers.base import register
from scifm.featurizers.molecule import MolFeaturizer

logger = logging.getLogger(__name__)

N_MACCS = 167
"""Width of RDKit's MACCS vector."""


@register("maccs")
class MACCSFeaturizer(MolFeaturizer):
    """MACCS keys as 0/1 float32 columns; an unparsable molecule gives a NaN row."""

    def __len__(self) -> int:
        return N_MACCS

    def _params(self) -> dict[str, Any]:
        return {}

    def featurize_mols(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        out = np.full((len(mols), N_MACCS), np.nan, dtype=np.float32)
        row = np.zeros(N_MACCS, dtype=np.float32)
        for i, mol in enumerate(mols):
            if mol is not None:
                DataStructs.ConvertToNumpyArray(MACCSkeys.GenMACCSKeys(mol), row)
                out[i] = row
        return out
