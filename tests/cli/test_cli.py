"""The command line: flags map to config keys, bad input gives one line and a non-zero exit."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app

pytestmark = pytest.mark.cli
runner = CliRunner()


def _train(tmp_path, data, *extra):
    return runner.invoke(app, ["train", "--data", str(data), "--input-col", "smiles",
                               "--target-col", "active", "--model", "lightgbm",
                               "--out", str(tmp_path / "run"), "--no-track",
                               "--set", "params.lightgbm.n_estimators=100",
                               "--set", "eval.n_bootstrap=50", *extra])


def _one_error_line(result) -> str:
    lines = [ln for ln in result.output.strip().splitlines() if ln.strip()]
    assert result.exit_code != 0
    assert any("error:" in ln for ln in lines), result.output
    assert "Traceback" not in result.output
    return next(ln for ln in lines if "error:" in ln)


def test_train_flags_end_up_in_resolved_config(tmp_path, molecules_csv):
    res = _train(tmp_path, molecules_csv, "--split", "random", "--seed", "5",
                 "--set", "model.size=tiny")
    assert res.exit_code == 0, res.output
    cfg = (tmp_path / "run" / "config.yaml").read_text()
    assert "seed: 5" in cfg and "method: random" in cfg and "size: tiny" in cfg
    assert "n_estimators: 100" in cfg
    assert "report:" in res.output


def test_split_column_flag_selects_predefined(tmp_path, molecules):
    df = molecules.copy()
    df["split"] = ["train"] * 90 + ["val"] * 15 + ["test"] * 15
    path = tmp_path / "m.csv"
    df.to_csv(path, index=False)
    res = _train(tmp_path, path, "--split", "column:split")
    assert res.exit_code == 0, res.output
    splits = json.loads((tmp_path / "run" / "splits.json").read_text())
    assert splits["method"] == "predefined" and len(splits["test"]) == 15


def test_missing_target_column_is_one_line_error(tmp_path, molecules_csv):
    res = runner.invoke(app, ["train", "--data", str(molecules_csv), "--target-col", "p_np",
                              "--model", "lightgbm", "--out", str(tmp_path / "r"), "--no-track"])
    line = _one_error_line(res)
    assert "p_np" in line and "smiles" in line  # names the column and what is available


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", ""),
        (b"smiles,active\nCCO,1\nC\xff\xfeC,0\n", "UTF-8"),
    ],
    ids=["empty", "png-as-csv", "non-utf8"],
)
def test_bad_files_give_clear_errors(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    res = _train(tmp_path, path)
    line = _one_error_line(res)
    assert expected in line


def test_wrong_file_type_and_missing_file(tmp_path):
    res = _train(tmp_path, tmp_path / "nope.csv")
    assert "not found" in _one_error_line(res)
    weird = tmp_path / "data.xyz"
    weird.write_text("a,b\n1,2\n")
    res = _train(tmp_path, weird)
    _one_error_line(res)


def test_invalid_config_value_is_one_line(tmp_path, molecules_csv):
    res = _train(tmp_path, molecules_csv, "--set", "model.size=huge")
    line = _one_error_line(res)
    assert "model.size" in line and "tiny" in line


def test_all_labels_missing_and_nan_labels(tmp_path, molecules):
    df = molecules[["smiles"]].copy()
    df["active"] = None
    path = tmp_path / "nolabels.csv"
    df.to_csv(path, index=False)
    res = _train(tmp_path, path)
    assert "no valid rows" in _one_error_line(res)


def test_verbose_shows_traceback(tmp_path):
    res = runner.invoke(app, ["-v", "train", "--data", str(tmp_path / "nope.csv"),
                              "--target-col", "y", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0
    assert res.exception is not None  # re-raised for the traceback


def test_predict_reports_invalid_rows_without_crashing(tmp_path, molecules_csv):
    assert _train(tmp_path, molecules_csv).exit_code == 0
    new = tmp_path / "new.csv"
    pd.DataFrame({"smiles": ["CCO", "C1CC", "c1ccccc1O"]}).to_csv(new, index=False)
    out = tmp_path / "p.csv"
    res = runner.invoke(app, ["predict", str(tmp_path / "run"), "--data", str(new),
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    preds = pd.read_csv(out)
    assert preds["status"].tolist() == ["ok", "invalid", "ok"]
    assert "1 invalid" in res.output


def test_predict_on_non_run_directory(tmp_path, molecules_csv):
    res = runner.invoke(app, ["predict", str(tmp_path), "--data", str(molecules_csv),
                              "--out", str(tmp_path / "p.csv")])
    assert "not a scifm run directory" in _one_error_line(res)


@pytest.fixture
def loaded(monkeypatch):
    """The config a command loads (the command stops before running its recipe)."""
    from scifm.config.load import load_config

    seen = {}

    def capture(*args, **kwargs):
        seen["cfg"] = load_config(*args, **kwargs)
        raise SystemExit(0)

    for command in ("train", "tune", "auto", "pretrain"):
        monkeypatch.setattr(f"scifm.cli.{command}.load_config", capture)
    return seen


def test_target_col_is_repeatable_and_keeps_commas_in_a_name(tmp_path, loaded):
    res = runner.invoke(app, ["train", "--data", "x.csv", "--target-col", "hepatic, cardiac",
                              "--target-col", "renal", "--split", "column:fold"])
    assert res.exit_code == 0, res.output
    cfg = loaded["cfg"]
    assert cfg.data.target_cols == ["hepatic, cardiac", "renal"]
    assert (cfg.split.method, cfg.split.column) == ("predefined", "fold")


@pytest.mark.parametrize("split", ["predefined", "column:split", "random"])
def test_split_flag_takes_the_yaml_forms(tmp_path, loaded, split):
    spec = tmp_path / "s.yaml"
    spec.write_text(f"split: {split}\n")
    assert runner.invoke(app, ["tune", "-c", str(spec)]).exit_code == 0
    from_yaml = loaded["cfg"].split
    assert runner.invoke(app, ["tune", "--split", split]).exit_code == 0
    assert loaded["cfg"].split == from_yaml


def test_pretrain_steps_flag_and_set_are_one_key(loaded):
    assert runner.invoke(app, ["pretrain", "--max-steps", "200"]).exit_code == 0
    assert loaded["cfg"].train.max_steps == 200
    assert runner.invoke(app, ["pretrain", "--set", "train.max_steps=200"]).exit_code == 0
    assert loaded["cfg"].train.max_steps == 200


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.output.strip() == f"scifm {version('scifm')}"


def _help(command: str) -> str:
    """``scifm COMMAND --help`` in an 80-column terminal, as one line of words (the panel's
    borders and line breaks removed, colours stripped)."""
    import re

    res = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.output.splitlines()) <= 80
    text = re.sub(r"\x1b\[[0-9;]*m", "", res.output)
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.parametrize("command", ["train", "tune", "auto"])
def test_help_shows_schema_defaults_every_choice_and_flags(command):
    import re

    from scifm.cli import options as opt
    from scifm.config.registry import MODALITIES
    from scifm.models.registry import trainable_families, tunable_families

    text = _help(command)
    families = trainable_families() if command == "train" else tunable_families()
    for name in [*families, *MODALITIES.names(), "scaffold", "similarity", "stratified",
                 "regression", "multiclass"]:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), name
    d = opt.DEFAULTS
    shown = {"train": [f"[default: {', '.join(d.model.families)}]",
                       f"[default: {d.train.epochs:g}]", f"[default: {d.train.lr:g}]"],
             "tune": [f"[default: {d.automl.tune.family}]", f"[default: {d.automl.tune.n_trials}]",
                      f"[default: {d.automl.tune.folds}]"],
             "auto": [f"[default: {d.automl.tune.n_trials}]"]}[command]
    for default in [*shown, f"[default: {d.out}]", "[default: by modality (smiles: scaffold"]:
        assert default in text, default
    assert "<bool>" not in text and "--no-track Skip MLflow" in text


def test_quiet_run_prints_only_warnings_and_errors(tmp_path, molecules_csv):
    """A whole run with -q (LightGBM, a one-epoch transformer, MLflow tracking): no INFO line and
    no progress bar on stderr; the run's log.txt still has the INFO lines."""
    import subprocess
    import sys

    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "scifm.cli", "-q", "train", "--data", str(molecules_csv),
         "--target-col", "logp", "--model", "lightgbm,transformer", "--out", str(out),
         "--set", "params.lightgbm.n_estimators=50", "--set", "eval.n_bootstrap=50",
         "--set", "train.epochs=1", "--set", "model.size=tiny"],
        capture_output=True, text=True, timeout=600, env={**__import__("os").environ,
                                                          "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert not [ln for ln in lines if "INFO" in ln or "it/s" in ln or "%|" in ln], lines
    assert "test metrics" in proc.stdout  # the result still goes to stdout
    log = (out / "log.txt").read_text()
    assert " INFO " in log and "fitting lightgbm" in log
