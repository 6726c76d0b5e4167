"""Medicinal-chemistry flags of molecules: RDKit FilterCatalog PAINS and Brenk matches and
Lipinski rule-of-five violations.

Columns (added to the hits; on the canonical SMILES):

* ``pains`` / ``brenk``: the names of the matched filter entries, joined by ``; `` (empty: none);
* ``ro5_violations``: how many of MW > 500, Crippen logP > 5, H-bond donors > 5, acceptors > 10;
* ``flagged``: a PAINS or Brenk match, or more than one rule-of-five violation (Lipinski's own
  threshold), among the filters asked for.

PAINS matching costs about 1.5 ms a molecule, several times a fingerprint model's prediction, so
:mod:`scifm.recipes.screen` asks only about the rows that would rank (:class:`~scifm.screening.
topk.TopK`), never the whole library.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from scifm.errors import ConfigError

__all__ = ["FILTERS", "MoleculeFilters", "parse_filters"]

FILTERS = ("pains", "brenk", "ro5")
"""Filter names of ``--filters``."""


def parse_filters(text: str | None, modality: str) -> tuple[str, ...]:
    """``--filters`` (comma-separated names, ``none``) as a tuple; None: every filter for
    molecules, none otherwise."""
    if text is None:
        return FILTERS if modality == "smiles" else ()
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    if names in ((), ("none",)):
        return ()
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise ConfigError(f"--filters {', '.join(unknown)}: unknown; use any of "
                          f"{', '.join(FILTERS)} (comma-separated) or none")
    if modality != "smiles":
        raise ConfigError(f"--filters {text}: molecule filters need a SMILES run (this run's "
                          f"modality is {modality})")
    return names


class MoleculeFilters:
    """The chosen filters, applied to canonical SMILES.

    Parameters
    ----------
    names
        A subset of :data:`FILTERS`.
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names

    @cached_property
    def _catalogs(self) -> dict[str, object]:
        from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

        out = {}
        for name in ("pains", "brenk"):
            if name in self.names:
                params = FilterCatalogParams()
                params.AddCatalog(getattr(FilterCatalogParams.FilterCatalogs, name.upper()))
                out[name] = FilterCatalog(params)
        return out

    def flags(self, smiles: list[str | None]) -> pd.DataFrame:
        """One row of flag columns per SMILES (None or unparsable: empty flags, not flagged)."""
        from rdkit import Chem

        cols: dict[str, list] = {name: [] for name in self._catalogs}
        if "ro5" in self.names:
            cols["ro5_violations"] = []
        for smi in smiles:
            mol = Chem.MolFromSmiles(smi) if smi else None
            for name, catalog in self._catalogs.items():
                matches = catalog.GetMatches(mol) if mol is not None else []  # type: ignore
                cols[name].append("; ".join(m.GetDescription() for m in matches))
            if "ro5" in self.names:
                cols["ro5_violations"].append(_ro5(mol) if mol is not None else None)
        frame = pd.DataFrame(cols)
        flagged = np.zeros(len(smiles), dtype=bool)
        for name in self._catalogs:
            flagged |= frame[name].str.len().to_numpy() > 0
        if "ro5" in self.names:
            flagged |= frame["ro5_violations"].fillna(0).to_numpy(dtype=float) > 1
        frame["flagged"] = flagged
        return frame

    def keep(self, rows: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """:data:`scifm.screening.topk.Keep`: the unflagged rows, and ``rows`` with the flags."""
        flags = self.annotate(rows)
        return ~flags["flagged"].to_numpy(dtype=bool), flags

    def annotate(self, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` with the flag columns (replacing any it has)."""
        flags = self.flags(rows["canonical"].tolist())
        flags.index = rows.index
        return pd.concat([rows.drop(columns=list(flags.columns), errors="ignore"), flags],
                         axis=1)


def _ro5(mol: object) -> int:
    from rdkit.Chem import Crippen, Descriptors, Lipinski

    return int((Descriptors.MolWt(mol) > 500) + (Crippen.MolLogP(mol) > 5)
               + (Lipinski.NumHDonors(mol) > 5) + (Lipinski.NumHAcceptors(mol) > 10))
