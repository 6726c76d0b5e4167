"""Generators of tiny datasets for the data-layer tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scifm.config.schema import DataConfig
from scifm.data.clean import CleanDataset, clean_table

RINGS = ["c1ccccc1", "C1CCCCC1", "c1ccncc1", "C1CCNCC1", "c1ccc2ccccc2c1", "c1ccoc1",
         "c1ccsc1", "C1CC1", "C1CCC1", "c1cnc[nH]1"]
SUBS = ["C", "CC", "O", "N", "CCO", "OC(=O)", "Cl", "F", "CO", "CN"]
ACYCLIC = ["CCCC", "CCCO", "CCCN", "CCOCC", "CC(C)C", "CCCCCl", "CCC(=O)O", "CC=CC"]


def make_dataset(frame: pd.DataFrame, **cfg) -> CleanDataset:
    return clean_table(frame, DataConfig(**cfg)).dataset


def dataset_frame(ds: CleanDataset) -> pd.DataFrame:
    """``row_id``, ``id``, ``input`` and the targets as decoded values (class names)."""
    df = pd.DataFrame({"row_id": ds.row_ids, "id": ds.ids, "input": [str(x) for x in ds.inputs]})
    for j, col in enumerate(ds.task.target_cols):
        v = ds.y[:, j]
        if ds.task.is_classification:
            names = np.asarray(ds.task.classes or ["0", "1"], dtype=object)
            dec = np.full(len(v), None, dtype=object)
            ok = ~np.isnan(v)
            dec[ok] = names[v[ok].astype(int)]
            df[col] = dec
        else:
            df[col] = v
    return df



def mutants(n_families: int, length: int, alphabet: str, per_family: int = 3,
            seed: int = 0) -> tuple[list[str], list[int]]:
    """Random sequences, each with ``per_family - 1`` single-point mutants."""
    rng = np.random.default_rng(seed)
    letters = np.array(list(alphabet))
    seqs, family = [], []
    for f in range(n_families):
        base = rng.choice(letters, length)
        seqs.append("".join(base))
        family.append(f)
        for _ in range(per_family - 1):
            m = base.copy()
            pos = rng.integers(length)
            m[pos] = rng.choice(letters[letters != m[pos]])
            seqs.append("".join(m))
            family.append(f)
    return seqs, family
