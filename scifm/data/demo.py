"""The demo study: a real public dataset that ships inside scifm, and its config.

FreeSolv (Mobley & Guthrie 2014; 642 molecules, experimental hydration free energy ``expt`` in
kcal/mol) is package data: ``scifm/data/bundled/freesolv.csv``, with its provenance, licence notes
and SHA-256 in ``scifm/data/bundled/PROVENANCE.md``. Nothing is downloaded and no other package is
needed. ``scifm demo`` runs the ``train`` recipe on it with :func:`demo_config`: cleaned,
scaffold-split, trained with LightGBM and a small transformer, reported.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from scifm.config.load import load_config
from scifm.config.schema import ExperimentConfig
from scifm.errors import DataError

DEMO_FLAGS = {
    "data.input_col": "smiles",
    "data.target_cols": ["expt"],
    "data.units": {"expt": "kcal/mol"},  # experimental hydration free energy
    "data.modality": "smiles",
    "split.method": "scaffold",
    "model.families": ["lightgbm", "transformer"],
    "model.size": "small",
    "model.max_length": 128,
    "train.epochs": 40,
    "train.patience": 8,
    "train.lr": 5e-4,
    "train.batch_size": 32,
}

DEMO_FILE = "freesolv.csv"
"""File name of the demo data inside the ``scifm.data`` package's ``bundled`` folder."""
DEMO_SHA256 = "ab5895d914ee87cb563bd7b9611e869527bba45bec6b014d34dc495a0f9dcb72"
"""SHA-256 of the shipped ``freesolv.csv`` (also recorded in ``PROVENANCE.md``)."""
DEMO_ROWS = 642
"""Molecules (data rows, header excluded) in the shipped ``freesolv.csv``."""


def demo_data_path() -> Path:
    """Path of the FreeSolv CSV shipped with scifm (package data; a real file, not a zip member).

    Raises
    ------
    DataError
        The file is missing (a broken installation); the message says how to repair it.
    """
    resource = resources.files("scifm.data") / "bundled" / DEMO_FILE
    path = Path(str(resource))
    if not path.is_file():
        raise DataError(f"demo data not found at {path}; reinstall scifm "
                        "(pip install --force-reinstall scifm)")
    return path


def demo_data_sha256(path: Path | None = None) -> str:
    """SHA-256 (hex) of the demo CSV, to compare with :data:`DEMO_SHA256`."""
    return hashlib.sha256((path or demo_data_path()).read_bytes()).hexdigest()


def demo_config(out: str | Path = "runs/demo", overrides: list[str] | None = None,
                seed: int = 0) -> ExperimentConfig:
    """The demo's config: both families on FreeSolv with a scaffold split."""
    flags = dict(DEMO_FLAGS, **{"data.path": str(demo_data_path()), "out": str(out),
                                "seed": seed})
    return load_config(flags=flags, overrides=overrides or [])
