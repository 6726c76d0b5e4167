"""The fuzz suite's fixture: one small trained model per session (strategies: ``fuzzlib``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzlib import root_conftest


@pytest.fixture(scope="session")
def lgbm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LightGBM model on ECFP features, trained once for every predict property."""
    from scifm.config.load import load_config
    from scifm.recipes.train import train

    root = tmp_path_factory.mktemp("fuzz_model")
    data = root / "mols.csv"
    root_conftest().make_molecules(60).to_csv(data, index=False)
    cfg = load_config(flags={
        "data.path": str(data), "data.target_cols": ["logp"], "model.families": "lightgbm",
        "model.features": "ecfp", "params.lightgbm.n_estimators": 20, "eval.n_bootstrap": 20,
        "split.method": "random", "out": str(root / "run"), "tracking.enabled": False})
    return train(cfg).run_dir
