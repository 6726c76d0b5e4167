"""What the scientist sees (issue 9): -q prints no INFO line, Ctrl-C ends with one line and exit
code 130, a non-UTF-8 config file gives the same one line as a non-UTF-8 data file, and the data
warnings reach the terminal."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.config.load import load_config
from scifm.errors import ConfigError

pytestmark = pytest.mark.cli
runner = CliRunner()


def _train_args(data, out, *extra) -> list[str]:
    return ["train", "--data", str(data), "--target-col", "logp", "--model", "lightgbm",
            "--out", str(out), "--no-track", "--set", "params.lightgbm.n_estimators=20",
            "--set", "eval.n_bootstrap=20", *extra]


def test_quiet_prints_no_info_line(tmp_path, molecules):
    df = molecules.head(60).copy()
    df.loc[1, "smiles"] = df.loc[0, "smiles"]  # a duplicate group: a warning must still show
    df.loc[1, "logp"] = df.loc[0, "logp"] + 50.0
    data = tmp_path / "m.csv"
    df.to_csv(data, index=False)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "scifm.cli", "-q", *_train_args(
        data, tmp_path / "run")], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "INFO" not in proc.stderr, proc.stderr
    assert "WARNING" in proc.stderr and "disagree by more than" in proc.stderr
    assert "report:" in proc.stdout  # the command's result stays
    log = (tmp_path / "run" / "log.txt").read_text()
    assert "INFO" in log  # the run log still has everything


@pytest.mark.parametrize("checkpoint", [True, False], ids=["checkpoints", "no-checkpoints"])
def test_ctrl_c_during_train_is_one_line_with_exit_130(tmp_path, molecules_csv, monkeypatch,
                                                       checkpoint):
    import scifm.recipes.train as recipe
    from scifm.staging import staging_dir

    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        if checkpoint:  # what the Trainer leaves in the staging folder
            ckpt = staging_dir(out) / "checkpoints" / "checkpoint-5"
            ckpt.mkdir(parents=True)
            (ckpt / "trainer_state.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "fit_family", interrupted)
    for var in ("TQDM_DISABLE", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        monkeypatch.delenv(var, raising=False)  # restored after the test (-q sets them)
    res = runner.invoke(app, ["-q", *_train_args(molecules_csv, out)])
    assert res.exit_code == 130
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    said = [ln for ln in lines if "interrupted" in ln]
    assert said == lines[-1:], res.output  # one line, the last
    assert said[0].startswith(f"interrupted: {out} was not created"), res.output
    if checkpoint:
        assert f"kept in {staging_dir(out)}" in said[0] and "--resume" in said[0]
    else:
        assert said[0] == f"interrupted: {out} was not created"
    assert "Traceback" not in res.output and not out.exists()


def test_ctrl_c_in_a_command_without_resume_says_interrupted(tmp_path, molecules_csv,
                                                              monkeypatch):
    import scifm.recipes.tune as recipe

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(recipe, "tune", interrupted)
    res = runner.invoke(app, ["tune", "--data", str(molecules_csv), "--target-col", "logp",
                              "--out", str(tmp_path / "t"), "--no-track"])
    assert res.exit_code == 130
    assert [ln for ln in res.output.splitlines() if ln.strip()] == ["interrupted"]


LATIN1_YAML = "# Löslichkeit (solubility) at 25 °C\nseed: 3\n".encode("latin-1")


def test_latin1_config_is_one_clear_line(tmp_path, molecules_csv):
    spec = tmp_path / "exp.yaml"
    spec.write_bytes(LATIN1_YAML)
    with pytest.raises(ConfigError) as err:
        load_config(spec)
    assert str(err.value) == ("config file exp.yaml: line 1 is not valid UTF-8 (byte 0xf6 at "
                              "column 4); re-encode the file as UTF-8, e.g. `iconv -f latin1 -t "
                              "utf-8 exp.yaml > fixed.yaml`")
    res = runner.invoke(app, ["train", "--config", str(spec), "--data", str(molecules_csv),
                              "--target-col", "logp", "--out", str(tmp_path / "r"), "--no-track"])
    assert res.exit_code == 2
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "exp.yaml: line 1 is not valid UTF-8" in lines[0]
    assert "UnicodeDecodeError" not in res.output


def test_semicolon_csv_with_decimal_commas(tmp_path, molecules):
    data = tmp_path / "eu.csv"
    df = molecules.head(60)[["smiles", "logp"]].copy()
    df["logp"] = [f"{v:.3f}".replace(".", ",") for v in df["logp"]]
    df.to_csv(data, index=False, sep=";")
    res = runner.invoke(app, _train_args(data, tmp_path / "r1"))
    assert res.exit_code == 2
    assert "looks like decimal commas: pass --set data.decimal=',' (or convert)" in res.output
    res = runner.invoke(app, _train_args(data, tmp_path / "r2", "--set", "data.decimal=,"))
    assert res.exit_code == 0, res.output
    report = pd.read_json(tmp_path / "r2" / "data_report.json", typ="series")
    assert report["task"]["task_type"] == "regression" and report["n_rows_out"] == 60
