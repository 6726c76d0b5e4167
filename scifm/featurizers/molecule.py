"""Molecule featurizers on (canonical) SMILES: Morgan/ECFP fingerprints and RDKit 2D descriptors.

Every molecule featurizer also works on already-parsed RDKit molecules
(:meth:`MolFeaturizer.featurize_mols`), so that :class:`ConcatFeaturizer` parses each SMILES once
for all its parts. An unparsable SMILES gives a row of NaN (LightGBM treats NaN as missing); it
never raises.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from scifm.data import parsed
from scifm.data.datapoints import Datapoint, Inputs
from scifm.featurizers.base import (
    BaseFeaturizer,
    Features,
    Featurizer,
    build_featurizer,
    featurize,
    memo_key,
    register,
)
from scifm.featurizers.memo import current_memo

logger = logging.getLogger(__name__)

DESCRIPTOR_CLIP = 1e10
"""Descriptor values are clipped to ``[-DESCRIPTOR_CLIP, DESCRIPTOR_CLIP]`` (float32-safe)."""


def parse_smiles(xs: Inputs, reuse: bool = False) -> list[Chem.Mol | None]:
    """Parse SMILES (datapoints: their primary input) with RDKit, logging silenced; ``None``
    where parsing fails.

    ``reuse``: take the molecule the validator of this process parsed for a canonical SMILES
    (:mod:`scifm.data.parsed`) instead of parsing it again; only for features that do not
    depend on atom order.
    """
    smiles = (x.primary if isinstance(x, Datapoint) else x for x in xs)
    with rdBase.BlockLogs():
        return [_parsed(s, reuse) if isinstance(s, str) and s else None for s in smiles]


def _parsed(smiles: str, reuse: bool) -> Chem.Mol | None:
    mol = parsed.recall(smiles) if reuse else None
    return mol if mol is not None else Chem.MolFromSmiles(smiles)


class MolFeaturizer(BaseFeaturizer):
    """A featurizer of RDKit molecules; calling it on SMILES parses them first."""

    order_invariant = False
    """Whether the features are exactly the same whatever the atom order of the molecule (so a
    molecule the validator parsed can be reused, :func:`parse_smiles`)."""

    def featurize_mols(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        """Featurize parsed molecules; ``None`` gives a NaN row. Shape ``n x d``, float32."""
        raise NotImplementedError

    def __call__(self, xs: Inputs) -> np.ndarray:
        return self.featurize_mols(parse_smiles(xs, reuse=self.order_invariant))


@register("ecfp")
class ECFPFeaturizer(MolFeaturizer):
    """Morgan (ECFP-like) fingerprint folded to ``n_bits``.

    Parameters
    ----------
    radius
        Morgan radius (2 = ECFP4).
    n_bits
        Fingerprint length ``d``.
    counts
        Count fingerprint (how often each folded environment occurs) instead of 0/1 bits.
    """

    order_invariant = True  # counts of atom environments: integers, whatever the atom order

    def __init__(self, radius: int = 2, n_bits: int = 2048, counts: bool = True) -> None:
        if radius < 0 or n_bits < 1:
            raise ValueError("ECFP needs radius >= 0 and n_bits >= 1")
        self.radius = int(radius)
        self.n_bits = int(n_bits)
        self.counts = bool(counts)
        self._generator = rdFingerprintGenerator.GetMorganGenerator(
            radius=self.radius, fpSize=self.n_bits
        )

    def __len__(self) -> int:
        return self.n_bits

    def _params(self) -> dict[str, Any]:
        return {"radius": self.radius, "n_bits": self.n_bits, "counts": self.counts}

    def featurize_mols(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        out = np.empty((len(mols), self.n_bits), dtype=np.float32)
        fp = (
            self._generator.GetCountFingerprintAsNumPy
            if self.counts
            else self._generator.GetFingerprintAsNumPy
        )
        for i, mol in enumerate(mols):
            if mol is None:
                out[i] = np.nan
            else:
                out[i] = fp(mol)
        return out


SLOW_DESCRIPTORS = frozenset({"AvgIpc", "Ipc", "qed", "SPS"})
ESTATE_INDEX_DESCRIPTORS = frozenset({"MaxAbsEStateIndex", "MaxEStateIndex", "MinAbsEStateIndex",
                                      "MinEStateIndex"})
"""Descriptors that each compute a molecule's E-state indices (an O(atoms²) Python loop) unless
called with ``force=0``: then the first computes and caches them on the molecule
(``mol._eStateIndices``) and the others reuse them, so the values are the same, bit for bit."""
"""Left out of the default set: together they take more than half of the descriptor time
(measured on MUV molecules: 4.3 -> 2.0 ms/molecule without them), and ``Ipc`` overflows to
huge values on large molecules. Pass ``names=`` to use them."""


def _all_descriptor_names() -> list[str]:
    return [name for name, _ in Descriptors.descList if name not in SLOW_DESCRIPTORS]


@register("rdkit2d")
class RDKit2DFeaturizer(MolFeaturizer):
    """RDKit 2D descriptors (``Descriptors.descList``), in a fixed, saved order.

    Parameters
    ----------
    names
        Descriptor names; ``None`` = every descriptor of the installed RDKit except
        :data:`SLOW_DESCRIPTORS`. Saved in the
        config, so a model keeps its columns; a name the installed RDKit lacks gives a NaN column.

    Notes
    -----
    A descriptor that raises or is non-finite gives NaN; values are clipped to
    ``±DESCRIPTOR_CLIP``. This is the slow part of molecule featurisation (a few ms/molecule).
    """

    def __init__(self, names: Sequence[str] | None = None) -> None:
        self.names = list(names) if names is not None else _all_descriptor_names()
        available = dict(Descriptors.descList)
        missing = [n for n in self.names if n not in available]
        if missing:
            logger.warning("RDKit lacks descriptors %s; their columns will be NaN", missing)
        shared = ESTATE_INDEX_DESCRIPTORS & set(available)
        self._fns = [partial(available[n], force=0) if n in shared else available.get(n)
                     for n in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def _params(self) -> dict[str, Any]:
        return {"names": list(self.names)}

    def _one(self, mol: Chem.Mol) -> list[float]:
        try:
            return [fn(mol) if fn is not None else np.nan for fn in self._fns]
        except Exception:  # rare: find which descriptor failed, one by one
            values = []
            for fn in self._fns:
                try:
                    values.append(fn(mol) if fn is not None else np.nan)
                except Exception:
                    values.append(np.nan)
            return values

    def featurize_mols(self, mols: Sequence[Chem.Mol | None]) -> np.ndarray:
        out = np.full((len(mols), len(self.names)), np.nan, dtype=np.float64)
        with rdBase.BlockLogs(), np.errstate(all="ignore"):
            for i, mol in enumerate(mols):
                if mol is not None:
                    out[i] = np.asarray(self._one(mol), dtype=np.float64)
        out[~np.isfinite(out)] = np.nan
        np.clip(out, -DESCRIPTOR_CLIP, DESCRIPTOR_CLIP, out=out)
        return out.astype(np.float32)


@register("concat")
class ConcatFeaturizer(BaseFeaturizer):
    """Column-wise concatenation of featurizers (``ecfp+rdkit2d``).

    When every part is a :class:`MolFeaturizer`, each SMILES is parsed once for all parts.
    The result is CSR when any part returns CSR, dense otherwise.
    """

    def __init__(self, featurizers: Sequence[Featurizer]) -> None:
        if not featurizers:
            raise ValueError("ConcatFeaturizer needs at least one featurizer")
        self.featurizers = list(featurizers)

    def __len__(self) -> int:
        return sum(len(f) for f in self.featurizers)

    def fit(self, xs: Inputs) -> ConcatFeaturizer:
        for f in self.featurizers:
            f.fit(xs)
        return self

    def __call__(self, xs: Inputs) -> Features:
        if current_memo() is not None and all(memo_key(f) is not None for f in self.featurizers):
            # inside a run's memo each part is kept on its own: the descriptors computed for
            # ``rdkit2d`` are reused by ``ecfp+rdkit2d`` (``scifm auto`` searches both)
            blocks = [featurize(f, xs) for f in self.featurizers]
        elif all(isinstance(f, MolFeaturizer) for f in self.featurizers):
            mols = parse_smiles(xs, reuse=all(f.order_invariant for f in self.featurizers))
            blocks = [f.featurize_mols(mols) for f in self.featurizers]
        else:
            blocks = [f(xs) for f in self.featurizers]
        if any(sp.issparse(b) for b in blocks):
            return sp.hstack(blocks, format="csr", dtype=np.float32)
        return np.hstack(blocks).astype(np.float32, copy=False)

    def to_config(self) -> dict[str, Any]:
        return {"name": self.name, "parts": [f.to_config() for f in self.featurizers]}

    def _params(self) -> dict[str, Any]:
        return {"parts": [f.name for f in self.featurizers]}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConcatFeaturizer:
        return cls([build_featurizer(part) for part in config["parts"]])
