"""``scifm predict`` when an input crashes a native library: no row is lost, the offender is
marked invalid with its reason, every other row is predicted as on a clean run.

A reliable crash: the ``crashy_smiles`` plug-in (registered here; chunk workers receive it
pickled) is the SMILES plug-in whose validator kills its own process with ``SIGSEGV`` on inputs
starting with ``CRASH``, as RDKit does on a 20,000-atom chain.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from scifm.config.registry import MODALITIES
from scifm.config.schema import DataConfig
from scifm.evaluation.chunks import MODEL_CRASH, ChunkPool
from scifm.modalities.base import NativeCode
from tests.crash_plugin import CRASHED, crash, crashing_validator

pytestmark = pytest.mark.integration
# recipes are imported inside the tests: chunk workers import this module, and stay light
BOOM = "CCCCCCCCCCCCCCCO"
"""A valid molecule that kills the worker predicting it (featurizer or model crash)."""


@pytest.fixture
def crashy():
    spec = MODALITIES.register(dataclasses.replace(
        MODALITIES.get("smiles"), name="crashy_smiles", validator=crashing_validator,
        native=NativeCode("TestLib", ("rdkit.Chem",))))
    yield spec
    MODALITIES.unregister(spec.name)


def _train(tmp_path: Path, molecules: pd.DataFrame) -> Path:
    from scifm.config.load import load_config
    from scifm.recipes.train import train

    data = tmp_path / "mols.csv"
    molecules.to_csv(data, index=False)
    cfg = load_config(flags={
        "data.path": str(data), "data.modality": "crashy_smiles", "data.target_cols": ["logp"],
        "model.families": "lightgbm", "model.features": "ecfp",
        "params.lightgbm.n_estimators": 20, "eval.n_bootstrap": 20, "split.method": "random",
        "out": str(tmp_path / "run"), "tracking.enabled": False})
    return train(cfg).run_dir


def test_predict_marks_the_crasher_and_loses_no_row(crashy, molecules, tmp_path):
    from scifm.recipes.predict import predict

    run = _train(tmp_path, molecules)
    rows = molecules["smiles"].head(40).tolist()
    rows[3], rows[17], rows[18] = "CRASH-a", "CRASH-b", "CRASH-c"
    rows += ["C" * 20_000, "\x07\x1b[31m\ufffd\ufffe junk \u202e", "C" * 1_000_000]
    data = tmp_path / "new.csv"
    pd.DataFrame({"smiles": rows}).to_csv(data, index=False)

    by_pool = predict(run, data, tmp_path / "pool.csv", chunksize=8, workers=2)
    in_process = predict(run, data, tmp_path / "one.csv", chunksize=8, workers=1)
    frame = pd.read_csv(tmp_path / "pool.csv")
    assert by_pool.n_rows == in_process.n_rows == len(frame) == len(rows)
    assert frame["row_id"].tolist() == list(range(len(rows)))
    errors = frame.set_index("row_id")["error"]
    assert [errors[i] for i in (3, 17, 18)] == [CRASHED] * 3
    assert errors[40] == "too long: 20,000 characters > data.smiles.max_chars=2,000"
    assert errors[41].startswith("invalid SMILES")
    assert errors[42] == "too long: 1,000,000 characters > data.smiles.max_chars=2,000"
    assert by_pool.n_invalid == in_process.n_invalid == 6
    pd.testing.assert_frame_equal(frame, pd.read_csv(tmp_path / "one.csv"))


@dataclasses.dataclass
class BoomJob:
    """A chunk job whose 'model' crashes on :data:`BOOM` (validation passes it)."""

    data_cfg: DataConfig = dataclasses.field(default_factory=DataConfig)

    @property
    def cols(self) -> list[str]:
        return ["smiles"]

    def __call__(self, chunk, start, checked=None):
        if BOOM in chunk["smiles"].tolist():
            crash(BOOM)
        return self.invalid(chunk, start, None, status="ok")

    def invalid(self, chunk, start, reason, status="invalid"):
        return pd.DataFrame({"row_id": range(start, start + len(chunk)),
                             "input": chunk["smiles"].tolist(), "status": status,
                             "error": reason})


def test_a_crash_after_validation_is_isolated_row_by_row():
    pool = ChunkPool(BoomJob(), workers=2)
    chunks = [pd.DataFrame({"smiles": ["CCO", "xx", BOOM, "CCN"]}),
              pd.DataFrame({"smiles": ["CCC", "CCCl"]})]
    try:
        submitted = [(c, s, pool.submit(c, s)) for c, s in zip(chunks, (0, 4), strict=True)]
        out = pd.concat([pool.result(*job) for job in submitted], ignore_index=True)
    finally:
        pool.close()
    assert out["row_id"].tolist() == list(range(6))
    assert out["status"].tolist() == ["ok", "invalid", "invalid", "ok", "ok", "ok"]
    assert out["error"][1].startswith("invalid SMILES") and out["error"][2] == MODEL_CRASH
