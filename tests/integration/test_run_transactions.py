"""A run directory is a transaction (issue 9): a failed or interrupted run leaves ``--out`` as it
was, a non-empty ``--out`` is replaced only with ``--overwrite`` and only when scifm wrote all of
it, an interrupted transformer run resumes from its staging folder, and outputs never overwrite
inputs."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.errors import DataError, OutputError
from scifm.recipes.train import train
from scifm.rundir import staging_dir, stopped_note

pytestmark = pytest.mark.integration


def _cfg(data, out, **flags):
    base = {"data.path": str(data), "data.input_col": "smiles", "data.target_cols": ["logp"],
            "model.families": "lightgbm", "out": str(out), "split.method": "random",
            "eval.n_bootstrap": 20, "params.lightgbm.n_estimators": 20, "model.n_jobs": 1,
            "tracking.enabled": False}
    return load_config(flags={**base, **flags})


def _tiny_transformer(data, out, **flags):
    return _cfg(data, out, **{"model.families": "transformer", "model.size": "tiny",
                              "model.max_length": 48, "train.epochs": 3,
                              "train.batch_size": 16, "train.lr": 1e-3,
                              "train.bf16": "off", **flags})


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _one_line_error(res, *fragments):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.strip().splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error:"), res.output
    assert "Traceback" not in res.output
    text = " ".join(ln.strip() for ln in lines)
    for fragment in fragments:
        assert fragment in text, res.output


@pytest.fixture(scope="module")
def previous_run(tmp_path_factory):
    from tests.conftest import make_molecules

    root = tmp_path_factory.mktemp("tx")
    data = root / "mols.csv"
    make_molecules(90).to_csv(data, index=False)
    out = root / "run"
    train(_cfg(data, out))
    return data, out


def test_a_failed_rerun_leaves_the_previous_run_byte_identical(previous_run, tmp_path):
    data, out = previous_run
    before = _snapshot(out)
    header_only = tmp_path / "empty.csv"
    header_only.write_text("smiles,logp\n")
    with pytest.raises(DataError):
        train(_cfg(header_only, out, overwrite=True))
    assert _snapshot(out) == before
    assert not staging_dir(out).exists()  # nothing worth continuing from: no leftovers
    res = CliRunner().invoke(app, ["train", "--data", str(header_only), "--target-col", "logp",
                                   "--out", str(out), "--overwrite", "--no-track"])
    assert res.exit_code == 2 and _snapshot(out) == before


def test_a_non_empty_out_is_refused_and_user_files_are_never_deleted(previous_run, tmp_path):
    data, _ = previous_run
    user = tmp_path / "mine"
    (user / "checkpoints").mkdir(parents=True)
    (user / "checkpoints" / "weights.pt").write_bytes(b"precious")
    (user / "notes.txt").write_text("precious")
    before = _snapshot(user)
    runner = CliRunner()
    common = ["train", "--data", str(data), "--target-col", "logp", "--model", "lightgbm",
              "--out", str(user), "--no-track", "--set", "params.lightgbm.n_estimators=5"]
    _one_line_error(runner.invoke(app, common), "scifm did not write it")
    _one_line_error(runner.invoke(app, [*common, "--overwrite"]), "scifm did not write it")
    assert _snapshot(user) == before and not staging_dir(user).exists()
    # a scifm run with a user's file in it: refused as well, even with --overwrite
    run = tmp_path / "run"
    train(_cfg(data, run))
    _one_line_error(runner.invoke(app, [*common[:-4], str(run), "--no-track"]),
                    f"{run} exists and is not empty: pass --overwrite to replace it, or choose "
                    "another --out")
    (run / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match=r"holds files scifm did not write \(notes.txt\)"):
        train(_cfg(data, run, overwrite=True))
    assert (run / "notes.txt").read_text() == "mine"


def test_out_that_is_a_file_is_one_line(previous_run, tmp_path):
    data, _ = previous_run
    target = tmp_path / "results.csv"
    target.write_text("keep me\n")
    res = CliRunner().invoke(app, ["train", "--data", str(data), "--target-col", "logp",
                                   "--out", str(target), "--overwrite", "--no-track"])
    _one_line_error(res, "is a file, not a folder: choose another --out")
    assert target.read_text() == "keep me\n"


def test_overwrite_replaces_a_transformer_run_as_a_whole(previous_run, tmp_path):
    data, _ = previous_run
    out = tmp_path / "run"
    train(_tiny_transformer(data, out, **{"train.max_steps": 2}))
    assert (out / "model" / "model.safetensors").is_file()
    with pytest.raises(OutputError, match="pass --overwrite"):
        train(_cfg(data, out))
    result = train(_cfg(data, out, overwrite=True))
    assert result.run_dir == out and result.selected == "lightgbm"
    assert not (out / "model" / "model.safetensors").exists()  # no stale transformer weights
    assert not list(out.rglob("*.safetensors")) and not list(out.rglob("tokenizer*"))
    assert json.loads((out / "model" / "scifm.json").read_text())["family"] == "lightgbm"
    assert "overwrite: false" in (out / "config.yaml").read_text()  # re-usable as a spec
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_an_interrupted_transformer_run_resumes_from_its_staging_folder(
        previous_run, tmp_path, monkeypatch):
    from transformers import TrainerCallback

    import scifm.training.finetune as ft

    data, _ = previous_run
    straight = train(_tiny_transformer(data, tmp_path / "straight"))

    class Interrupt(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            raise KeyboardInterrupt  # Ctrl-C right after the first checkpoint

    real = ft.make_trainer

    def interrupted(*args, **kwargs):
        trainer = real(*args, **kwargs)
        trainer.add_callback(Interrupt)
        return trainer

    out = tmp_path / "run"
    monkeypatch.setattr(ft, "make_trainer", interrupted)
    with pytest.raises(KeyboardInterrupt) as info:
        train(_tiny_transformer(data, out))
    monkeypatch.setattr(ft, "make_trainer", real)
    staging = staging_dir(out)
    assert not out.exists() and list((staging / "checkpoints").glob("checkpoint-*"))
    assert info.value.scifm_staging == staging
    note = stopped_note(info.value)
    assert f"{out} was not created" in note and str(staging) in note and "--resume" in note
    with pytest.raises(OutputError, match="--resume"):  # a fresh run would discard them
        train(_tiny_transformer(data, out))
    resumed = train(_tiny_transformer(data, out, **{"train.resume": True}))
    assert "resuming from" in (out / "log.txt").read_text()
    assert not staging.exists() and not (out / "checkpoints").exists()
    for name, cell in straight.metrics["test"].items():  # resuming reproduces the metrics
        if not isinstance(cell, dict):
            continue
        assert resumed.metrics["test"][name]["value"] == pytest.approx(cell["value"], abs=1e-6)


def test_predict_and_evaluate_refuse_to_write_over_their_input(previous_run, tmp_path):
    data, run = previous_run
    own = tmp_path / "in.csv"
    own.write_bytes(data.read_bytes())
    before = own.read_bytes()
    (tmp_path / "link.csv").symlink_to(own)
    os.link(own, tmp_path / "hard.csv")
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for out in (str(own), "in.csv", "./sub/../in.csv", "link.csv", "hard.csv"):
            res = runner.invoke(app, ["predict", str(run), "--data", str(own), "--out", out])
            _one_line_error(res, "is the --data file", "never writes over its inputs")
            res = runner.invoke(app, ["evaluate", str(run), "--data", "in.csv", "--out", out])
            _one_line_error(res, "is the --data file")
        res = runner.invoke(app, ["evaluate", str(run), "--data", "in.csv", "--out", str(run)])
        _one_line_error(res, "contains the run's model")
    finally:
        os.chdir(cwd)
    assert own.read_bytes() == before
    # the default evaluation folder is replaced by the next evaluation, as a whole
    res = runner.invoke(app, ["evaluate", str(run), "--data", str(own)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["evaluate", str(run), "--data", str(own)])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (run / "evaluations").iterdir()) == ["in"]
    assert pd.read_csv(run / "evaluations" / "in" / "predictions.csv").shape[0] > 0
