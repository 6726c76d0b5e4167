"""``--engine ray`` (issue 13 item 2): on a local Ray cluster started here, the frames of
:func:`~scifm.screening.ray_engine.ray_predicted` (a Ray Data pipeline) equal those of the local
engine (:func:`~scifm.evaluation.chunks.predict_chunks`), invalid rows included; the driver
reads at most a window of chunks ahead; an actor killed by a crash loses no row; ``scifm
screen --engine ray`` (cascade included) writes the same outputs as the local engine; a cluster
the caller started is left running."""

from __future__ import annotations

import ctypes
import logging
import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from scifm.errors import ConfigError, DataError
from scifm.evaluation.chunks import MODEL_CRASH, ChunkJob, predict_chunks
from scifm.screening.ray_engine import ray_predicted

pytestmark = pytest.mark.integration
BOOM = "CCCCCCCCCCCCCCCO"
"""A valid molecule that kills the actor predicting it (:class:`BoomJob`)."""


@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray", reason="Ray is not installed (the `ray` extra)")
    # this process's path on the actors' (as a spawned process has it): they unpickle BoomJob
    # by reference to this module
    path = os.pathsep.join(p for p in sys.path if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A tiny LightGBM ECFP run (tracking off)."""
    from scifm.config.load import load_config
    from scifm.recipes.train import train
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("ray")
    make_molecules(80).to_csv(root / "mols.csv", index=False)
    cfg = load_config(flags={
        "data.path": str(root / "mols.csv"), "data.target_cols": ["active"],
        "model.families": "lightgbm", "model.features": "ecfp", "split.method": "random",
        "params.lightgbm.n_estimators": 20, "eval.n_bootstrap": 20,
        "tracking.enabled": False, "out": str(root / "run")})
    return train(cfg).run_dir


def _job(run_dir: Path) -> ChunkJob:
    from scifm.config.schema import DataConfig
    from scifm.rundir import RunDir
    from scifm.tasks import TaskSpec
    from scifm.trust.uncertainty import prediction_extras

    run = RunDir(run_dir)
    meta = run.model_meta()
    data_cfg = DataConfig.model_validate(meta["data"])
    return ChunkJob(run.model, TaskSpec.from_dict(meta["task"]), data_cfg, "smiles", "name",
                    extras=prediction_extras)


def _library() -> pd.DataFrame:
    from tests.conftest import make_molecules

    smiles = make_molecules(120, seed=5)["smiles"].head(50).tolist()
    for i, bad in zip((2, 13, 14, 31, 49), ("not_a_smiles", "", "C1CC", "C(C)(C)(C)(C)C", "xx"),
                      strict=True):
        smiles[i] = bad
    return pd.DataFrame({"name": [f"m{i}" for i in range(len(smiles))], "smiles": smiles})


def _chunks(frame: pd.DataFrame, size: int = 3):
    for i in range(0, len(frame), size):
        yield frame.iloc[i:i + size].reset_index(drop=True)


def test_ray_frames_equal_the_local_engine(ray, run_dir, caplog):
    """workers=0: one actor per cluster CPU (2); 17 chunks, more than the window of 4."""
    caplog.set_level(logging.INFO, "scifm.screening.ray_engine")
    library = _library()
    local = list(predict_chunks(_job(run_dir), _chunks(library), 1, "lib.csv"))
    on_ray = list(ray_predicted(_job(run_dir), _chunks(library), 0, "lib.csv"))
    assert len(on_ray) == len(local) == 17
    for ours, theirs in zip(on_ray, local, strict=True):
        pd.testing.assert_frame_equal(ours, theirs)
    out = pd.concat(on_ray, ignore_index=True)
    assert out["row_id"].tolist() == list(range(len(library)))
    assert out["id"].tolist() == library["name"].tolist()
    assert (out["status"] == "invalid").sum() == 5
    assert out.loc[out["status"] == "ok", "prob_active"].notna().all()
    assert "Ray Data: 2 actors" in caplog.text
    assert ray.is_initialized()  # the test's cluster: not ours to shut down


def test_the_driver_reads_at_most_a_window_ahead(ray, run_dir):
    """One actor: a window of 2 chunks; the chunk read while waiting for room is the +1."""
    library, pulled = _library(), [0]

    def counted():
        for chunk in _chunks(library, size=2):
            pulled[0] += 1
            yield chunk

    frames = ray_predicted(_job(run_dir), counted(), 1, "lib.csv")
    got = 0
    for frame in frames:
        assert pulled[0] <= got + 2 + 1, (pulled[0], got)
        got += 1
        assert frame["row_id"].iloc[0] == 2 * (got - 1)
    assert got == pulled[0] == 25


def test_missing_column_is_one_clear_error(ray, run_dir):
    frames = ray_predicted(_job(run_dir), iter([pd.DataFrame({"smi": ["CCO"]})]), 2, "lib.csv")
    with pytest.raises(DataError, match="smiles"):
        list(frames)
    assert ray.is_initialized()


class BoomJob:
    """A chunk job whose 'model' kills its actor on :data:`BOOM` (validation passes it)."""

    col, id_col = "smiles", None

    def __init__(self) -> None:
        from scifm.config.schema import DataConfig

        self.data_cfg = DataConfig()

    @property
    def cols(self) -> list[str]:
        return ["smiles"]

    def __call__(self, chunk, start, checked=None):
        if BOOM in chunk["smiles"].tolist():
            # a real segfault, in this thread: os.kill(SIGSEGV) may be handled by another of
            # the actor's threads while this one goes on and reports the chunk done
            ctypes.string_at(0)
        return self.invalid(chunk, start, None, status="ok")

    def invalid(self, chunk, start, reason, status="invalid"):
        return pd.DataFrame({"row_id": range(start, start + len(chunk)),
                             "input": chunk["smiles"].tolist(), "status": status,
                             "error": reason})


def test_an_actor_crash_loses_no_row(ray, caplog):
    """The Dataset skips the chunk whose actor died; a spare actor re-runs it row by row."""
    caplog.set_level(logging.WARNING, "scifm.screening.ray_engine")
    chunks = [pd.DataFrame({"smiles": ["CCO", "xx", BOOM, "CCN"]}),
              pd.DataFrame({"smiles": ["CCC", "CCCl"]})]
    out = pd.concat(ray_predicted(BoomJob(), iter(chunks), 1, "lib.csv"), ignore_index=True)
    assert out["row_id"].tolist() == list(range(6))
    assert out["status"].tolist() == ["ok", "invalid", "invalid", "ok", "ok", "ok"]
    assert out["error"][1].startswith("invalid SMILES") and out["error"][2] == MODEL_CRASH
    assert "a Ray actor died while predicting rows 0-3" in caplog.text


def test_screen_on_ray_writes_what_the_local_engine_writes(ray, run_dir, tmp_path):
    """The whole ``scifm screen``, cascade (the same run as fast and full model) included."""
    from scifm.recipes.screen import ScreenOptions, screen

    lib = tmp_path / "lib.csv"
    _library().to_csv(lib, index=False)
    outs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine / "hits.parquet"
        opts = ScreenOptions(top=5, workers=1, chunksize=7, input_col="smiles", id_col="name",
                             fast=run_dir, rescore_top=0.2, recall_sample=10, engine=engine,
                             all_scores=out.with_name("all.parquet"))
        summary = screen(run_dir, lib, out, opts)
        assert summary.n_scored + summary.n_rejected + summary.n_duplicates == 50
        outs[engine] = (pd.read_parquet(out), pd.read_parquet(out.with_name("all.parquet")),
                        pd.read_csv(out.with_name("hits.rejects.csv")), summary.cascade)
    for ours, theirs in zip(outs["ray"], outs["local"], strict=True):
        if isinstance(ours, pd.DataFrame):
            pd.testing.assert_frame_equal(ours, theirs)
        else:
            assert ours == theirs


def test_without_ray_one_line_with_the_install_command(monkeypatch, run_dir):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(ConfigError, match=r'pip install -c constraints.txt -e "\.\[ray\]"'):
        next(ray_predicted(_job(run_dir), iter([]), 1, "lib.csv"))
