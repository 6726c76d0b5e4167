"""Molecule drawings (RDKit SVG) and nearest training neighbours (Morgan fingerprint Tanimoto).

The inputs drawn are the run's cleaned, canonical SMILES (already validated in worker processes,
:mod:`scifm.data.contained`). They are parsed without CXSMILES extensions, so no text from the
input (atom labels, notes) reaches the drawing; a drawing is inline SVG without ids or scripts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["Neighbours", "molecule_svg"]

MAX_REFERENCE = 20_000
"""Training molecules searched for neighbours (a larger training set is subsampled, seed 0)."""
_UNSAFE = re.compile(r"<script|javascript:|\son\w+\s*=|<foreignObject|href", re.I)


def _mol(smiles: str):  # noqa: ANN202 - rdkit.Chem.Mol or None
    from rdkit import Chem, rdBase

    params = Chem.SmilesParserParams()
    params.allowCXSMILES = False
    try:
        _quiet = rdBase.BlockLogs()  # noqa: F841 - RDKit's parse errors are not news here
        return Chem.MolFromSmiles(str(smiles), params)
    except Exception:  # noqa: BLE001 - an undrawable input is shown as text
        return None


def molecule_svg(smiles: str, width: int = 200, height: int = 150) -> str:
    """An inline ``<svg class="mol">`` drawing of ``smiles`` ('' when RDKit cannot draw it)."""
    from rdkit.Chem.Draw import rdMolDraw2D

    mol = _mol(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return ""
    try:
        drawer = rdMolDraw2D.MolDraw2DSVG(width, height)
        opts = drawer.drawOptions()
        opts.clearBackground = False
        opts.fixedBondLength = 22  # small molecules are not blown up to fill the box
        rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol)
        drawer.FinishDrawing()
        svg = drawer.GetDrawingText()
    except Exception as err:  # noqa: BLE001 - a drawing must never break a report
        logger.warning("could not draw %.60s: %s", smiles, err)
        return ""
    return safe_svg(svg)


def safe_svg(svg: str) -> str:
    """RDKit's SVG text as an inline ``<svg class="mol">`` element, or ``""`` when it holds
    anything active (script, event handler, link, foreign object): nothing in a drawing may run
    or load."""
    svg = svg[svg.find("<svg"):].replace("<!-- END OF HEADER -->", "")
    if _UNSAFE.search(svg.replace("xmlns:xlink='http://www.w3.org/1999/xlink'", "")):
        return ""
    return svg.replace("<svg ", '<svg class="mol" role="img" ', 1)


class Neighbours:
    """Nearest training molecules by Tanimoto similarity of Morgan fingerprints (radius 2,
    2048 bits), the training fingerprints computed once."""

    def __init__(self, train_smiles: Sequence[str], radius: int = 2, n_bits: int = 2048) -> None:
        from rdkit.Chem import rdFingerprintGenerator

        self._gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
        idx = np.arange(len(train_smiles))
        if len(idx) > MAX_REFERENCE:
            idx = np.sort(np.random.default_rng(0).choice(len(idx), MAX_REFERENCE, replace=False))
        self.subsampled = len(idx) < len(train_smiles)
        fps = [(int(i), self._fp(train_smiles[i])) for i in idx]
        self._rows = [i for i, fp in fps if fp is not None]
        self._fps = [fp for _, fp in fps if fp is not None]

    def _fp(self, smiles: str):  # noqa: ANN202 - an RDKit bit vector or None
        mol = _mol(smiles)
        return None if mol is None else self._gen.GetFingerprint(mol)

    def nearest(self, smiles: str, k: int = 3) -> list[tuple[int, float]]:
        """``[(training row, similarity), ...]`` of the ``k`` most similar training molecules."""
        from rdkit import DataStructs

        fp = self._fp(smiles)
        if fp is None or not self._fps:
            return []
        sims = np.asarray(DataStructs.BulkTanimotoSimilarity(fp, self._fps))
        top = np.argsort(-sims, kind="stable")[:k]
        return [(self._rows[t], float(sims[t])) for t in top]
