"""The bad-input table of issue 9: what a new user tries, and the exact outcome of each.

Every row of :data:`CASES` builds a tiny input (a data file, a config, a damaged model folder, an
output path that must not be written over), runs one ``scifm`` command and checks:

* the exit code (2: one of scifm's one-line errors; 0: the run completed; 130: Ctrl-C);
* a failure prints exactly one ``error:`` line, no traceback, holding the case's key words;
  a run that completes prints the case's key words as a WARNING;
* rows are accounted for: ``data_report.json`` rows in = rows used + ``rejected.csv`` rows, and
  the rejected rows and reasons are the expected ones;
* nothing is lost: every input (data files, configs, model folders, an earlier run directory,
  the user's own files) is byte-identical afterwards, and a failed run leaves neither a new
  ``--out`` nor its staging folder ``OUT.partial`` (only an interrupted run keeps that, to resume).

The cases whose exit code is 2 print their error line; a case that ends another way (a raw
library error: exit 1, a crash, a hang past its time limit) fails with what it printed.

Commands run in-process (``CliRunner``) except where a native crash or a hang is the risk being
tested, or the terminal output itself is (those run as ``python -m scifm.cli`` with a time limit).
"""

from __future__ import annotations

import csv
import gzip
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from scifm.cli.main import app
from tests.cli.bad_input_harness import (
    ECFP,
    FAST,
    MOLS,
    N_MOLS,
    Case,
    Env,
    _conflict_reported,
    _dna,
    _estimates_inside_intervals,
    _ids_reported,
    _junk,
    _lgbm_replaced_transformer,
    _mols,
    _no_info_lines,
    _no_output,
    _pathological_predictions,
    _proteins,
    _run_case,
    _sdf,
    _snapshot,
    _texts,
    _with,
    runner,
)

pytestmark = [pytest.mark.cli, pytest.mark.timeout(300)]


# ------------------------------------------------------------------------------ the cases
def _into(env: Env, out: Path, *extra: str, data: Path | None = None) -> list[str]:
    """Train into ``out`` (an existing path)."""
    argv = env.train(data or env.csv("d.csv", _mols()), *extra)
    env.out = out
    i = argv.index("--out")
    return [*argv[:i + 1], str(out), *argv[i + 2:]]


def _with_config(env: Env, content: bytes) -> list[str]:
    """Train with a YAML config file holding ``content``."""
    return ["train", "--config", str(env.file("exp.yaml", content)),
            *env.train(env.csv("d.csv", _mols()))[1:]]


def _user_folder(env: Env) -> Path:
    folder = env.tmp / "mine"
    env.file("mine/checkpoints/epoch1.ckpt", b"\x00weights")
    env.file("mine/notes.txt", "my notes\n")
    env.protected.append(folder)
    return folder


def _prev_run(env: Env) -> Path:
    prev = env.run_copy("lgbm")
    env.protected.append(prev)
    return prev


def _predict(env: Env, data: Path, out: Path | str, *, workers: int = 1, id_col: str = "",
             run: Path | None = None) -> list[str]:
    run = run or env.shared_run("lgbm")
    return ["predict", str(run), "--data", str(data), "--out", str(out), "--workers",
            str(workers), *(["--id-col", id_col] if id_col else [])]


def _tampered(which: str, damage: Callable[[Path], None]) -> Callable[[Env], list[str]]:
    def build(env: Env) -> list[str]:
        run = env.run_copy(which, "tampered")
        damage(run / "model")
        data = env.csv("new.csv", _mols(5)[["smiles"]])
        return _predict(env, data, env.tmp / "pred.csv", run=run)

    return build


def _plant_torch_pickle(model: Path) -> None:
    import torch

    torch.save({"weight": torch.zeros(2)}, model / "pytorch_model.bin")


def _truncate(name: str) -> Callable[[Path], None]:
    def damage(model: Path) -> None:
        data = (model / name).read_bytes()
        (model / name).write_bytes(data[: len(data) // 2])

    return damage


def _pathological_csv(env: Env, junk: bool) -> Path:
    """300 rows: molecules, and the rows that crashed or hung scifm (issue 9)."""
    cells = [s.encode() for s in (MOLS["smiles"].tolist() * 8)[:300]]
    cells[100] = b"C" * 20_000
    cells[150] = b"C" * 1_000_000
    cells[250] = b""
    cells[260] = b"\x01\x02\x1b[31m"
    cells[270] = b"c1ccccc1" * 3_000
    if junk:
        cells[200] = _junk(200)
    lines = [c + b",m" + str(i).encode() for i, c in enumerate(cells)]
    return env.file("patho.csv", b"smiles,name\n" + b"\n".join(lines) + b"\n")


CASES: list[Case] = [
    # ---- the data file
    Case("empty-file", lambda e: e.train(e.file("d.csv", b"")), 2, ("empty",)),
    Case("blank-lines-only", lambda e: e.train(e.file("d.csv", "\n \n\n")), 2, ("empty",)),
    Case("header-only", lambda e: e.train(e.file("d.csv", "smiles,logp\n")), 2,
         ("no data rows",)),
    Case("missing-input-column", lambda e: e.train(e.csv("d.csv", _mols().rename(
        columns={"smiles": "smi"}))), 2, ("'smiles'", "not found", "smi")),
    Case("missing-target-column", lambda e: e.train(e.csv("d.csv", _mols()), target="pIC50"),
         2, ("'pic50'", "not found", "logp")),
    Case("nan-inf-labels", lambda e: e.train(e.csv("d.csv", _mols().astype(str).assign(
        logp=lambda d: ["nan", "inf", "-inf", "", *d["logp"][4:]])), "--split", "random"),
         0, rows=(N_MOLS, 4), reasons=("label",)),
    Case("non-utf8", lambda e: e.train(e.file("d.csv", "smiles,logp\nCCO,1\nC\xe9C,0\n".encode(
        "latin-1"))), 2, ("utf-8", "line 3")),
    Case("binary-junk-file", lambda e: e.train(e.file("d.csv", random.Random(1).randbytes(3000)
                                                      + b"\x00")), 2, ("d.csv",)),
    Case("png-named-csv", lambda e: e.train(e.file("d.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
                                                   + bytes(64))), 2, ("png",)),
    Case("excel-file", lambda e: e.train(e.file("d.xlsx", b"PK\x03\x04" + bytes(200))), 2,
         ("d.xlsx",)),
    Case("csv-named-parquet", lambda e: e.train(e.csv("d.parquet", _mols())), 2,
         ("not a parquet",)),
    Case("truncated-gzip", lambda e: e.train(e.file("d.csv.gz", gzip.compress(
        _with(_mols(), {"smiles": [f"C{'C' * (i % 30)}O" for i in range(4000)],
                        "logp": [f"{random.Random(i).random():.6f}" for i in range(4000)]})
        .to_csv(index=False).encode())[:-2000])), 2, ("d.csv.gz",)),
    Case("semicolon-separator", lambda e: e.train(e.csv("d.csv", _mols(), sep=";")), 0,
         rows=(N_MOLS, 0)),
    Case("pipe-separator", lambda e: e.train(e.csv("d.csv", _mols(), sep="|")), 2,
         ("not found", "smiles|logp")),
    Case("decimal-commas", lambda e: e.train(e.csv("d.csv", _mols().assign(
        logp=lambda d: d["logp"].map(lambda v: str(v).replace(".", ","))), sep=";")), 2,
         ("decimal comma", "data.decimal")),
    Case("ragged-csv", lambda e: e.train(e.file("d.csv", "smiles,logp\nCCO,1\nCCN,2,3\n")), 2,
         ("malformed", "line 3")),
    Case("excel-export-bom-crlf", lambda e: e.train(e.csv("d.csv", _mols(), encoding="utf-8-sig",
                                                          lineterminator="\r\n")), 0,
         rows=(N_MOLS, 0)),
    Case("old-mac-cr-line-endings", lambda e: e.train(e.csv("d.csv", _mols(),
                                                            lineterminator="\r")), 0,
         rows=(N_MOLS, 0)),
    Case("carriage-return-in-a-cell", lambda e: e.train(e.csv("d.csv", _with(_mols(), {
        "smiles": ["C\rC"], "logp": [1.0]}), quoting=csv.QUOTE_ALL)), 0, rows=(N_MOLS + 1, 1),
         reasons=("invalid smiles",)),
    Case("malformed-jsonl", lambda e: e.train(e.file("d.jsonl", '{"smiles": "CCO", "logp": 1}\n'
                                                     '{"smiles": "CCN", "logp": \n')), 2,
         ("line 2", "json")),
    Case("jsonl-not-objects", lambda e: e.train(e.file("d.jsonl", '["CCO", 1]\n')), 2,
         ("line 1", "object")),
    Case("malformed-fasta", lambda e: e.train(e.file("d.fasta", "MKTAYIAK\n>p1 label=1\nMKV\n"),
                                              "--modality", "protein", target="label"), 2,
         ("line 1", "header")),
    Case("malformed-sdf-records", lambda e: e.train(e.file("d.sdf", _sdf(N_MOLS, 2))), 0,
         rows=(N_MOLS + 2, 2), reasons=("unparseable",)),
    Case("sdf-of-garbage", lambda e: e.train(e.file("d.sdf", _sdf(0, 3))), 2,
         ("no valid rows", "unparseable")),
    Case("all-inputs-invalid", lambda e: e.train(e.csv("d.csv", _mols().assign(
        smiles="not a molecule"))), 2, ("no valid rows",)),
    Case("single-valued-target", lambda e: e.train(e.csv("d.csv", _mols().assign(logp=1.5))), 2,
         ("nothing to learn",)),
    Case("dna-given-as-protein", lambda e: e.train(e.csv("d.csv", _dna()), "--modality",
                                                   "protein", "--input-col", "sequence",
                                                   target="label"), 0,
         ("dna alphabet", "--modality dna"), rows=(N_MOLS, 0)),
    Case("smiles-of-20-kb-and-line-of-1-mb", lambda e: e.train(e.csv("d.csv", _with(_mols(), {
        "smiles": ["C" * 20_000, "c1ccccc1" * 125_000], "logp": [1.0, 2.0]}))), 0,
         rows=(N_MOLS + 2, 2), reasons=("too long",), fresh_process=True, seconds=120),
    # ---- the limits on each input (issue 9 item 1), defaults and configured
    Case("smiles-over-heavy-atom-limit", lambda e: e.train(e.csv("d.csv", _with(_mols(), {
        "smiles": ["C" * 1_500], "logp": [1.0]}))), 0, rows=(N_MOLS + 1, 1),
         reasons=("too many atoms",)),
    Case("configured-smiles-limit", lambda e: e.train(e.csv("d.csv", _mols()), "--set",
                                                      "data.smiles.max_chars=20"), 0,
         rows=(N_MOLS, int((MOLS["smiles"].str.len() > 20).sum())),
         reasons=("data.smiles.max_chars=20",)),
    Case("configured-sequence-limit", lambda e: e.train(e.csv("d.csv", _proteins()), "--modality",
                                                        "protein", "--input-col", "sequence",
                                                        "--set", "data.sequence.max_length=50",
                                                        target="label"), 0,
         rows=(N_MOLS, sum(30 + i % 30 > 50 for i in range(N_MOLS))),
         reasons=("data.sequence.max_length=50",)),
    Case("text-over-default-limit", lambda e: e.train(e.csv("d.csv", _with(_texts(), {
        "text": ["word " * 40_000], "label": [1]})), "--modality", "text", "--input-col", "text",
        target="label"), 0, rows=(N_MOLS + 1, 1), reasons=("too long",)),
    Case("duplicate-ids", lambda e: e.train(e.csv("d.csv", _mols().assign(
        id=[f"m{min(i, 5)}" if i in (5, 6) else f"m{i}" for i in range(N_MOLS)])),
        "--set", "data.id_col=id"), 0, ("repeated", "'m5'"), rows=(N_MOLS, 0),
         check=_ids_reported),
    Case("conflicting-duplicate-spread-5", lambda e: e.train(e.csv("d.csv", _with(_mols(), {
        "smiles": [MOLS["smiles"][0]], "logp": [MOLS["logp"][0] + 5.0]}))), 0,
         ("spread 5", "data.duplicates"), rows=(N_MOLS + 1, 1), reasons=("duplicate",),
         check=_conflict_reported),
    # ---- the config
    Case("latin-1-yaml-config", lambda e: _with_config(
        e, "# r\xe9sum\xe9 of the experiment\nseed: 1\n".encode("latin-1")), 2,
         ("utf-8", "exp.yaml")),
    Case("yaml-syntax-error", lambda e: _with_config(e, b"data: [unclosed\n"), 2,
         ("yaml", "exp.yaml")),
    Case("unknown-config-key", lambda e: e.train(e.csv("d.csv", _mols()), "--set",
                                                 "data.colour=red"), 2, ("colour",)),
    # ---- the run directory (--out)
    Case("out-is-a-file", lambda e: _into(e, e.file("taken.txt", "keep me\n")), 2,
         ("taken.txt", "file")),
    Case("out-holds-user-files", lambda e: _into(e, _user_folder(e)), 2, ("did not write",)),
    Case("out-holds-user-files-overwrite", lambda e: _into(e, _user_folder(e), "--overwrite"), 2,
         ("did not write",)),
    Case("out-is-earlier-run", lambda e: _into(e, _prev_run(e)), 2, ("--overwrite",)),
    Case("failed-rerun-keeps-earlier-run", lambda e: _into(
        e, _prev_run(e), "--overwrite", data=e.file("h.csv", "smiles,logp\n")), 2,
         ("no data rows",)),
    Case("lightgbm-over-transformer-run", lambda e: _into(e, e.run_copy("transformer"),
                                                          "--overwrite"), 0,
         check=_lgbm_replaced_transformer),
    # ---- outputs never overwrite inputs
    Case("predict-out-is-data", lambda e: _predict(e, p := e.csv("in.csv", _mols()[["smiles"]]),
                                                   p), 2, ("in.csv", "input")),
    Case("predict-out-resolves-to-data", lambda e: _predict(
        e, e.csv("in.csv", _mols()[["smiles"]]), e.tmp / "sub" / ".." / "in.csv"), 2,
         ("input",)),
    Case("predict-out-into-model", lambda e: _predict(
        e, e.csv("in.csv", _mols()[["smiles"]]), e.shared_run("lgbm") / "model" / "scifm.json"),
         2, ("input",)),
    Case("evaluate-out-is-data", lambda e: ["evaluate", str(e.shared_run("lgbm")), "--data",
                                            str(p := e.csv("in.csv", _mols())), "--out", str(p)],
         2, ("input",)),
    # ---- predict on bad rows
    Case("predict-missing-column", lambda e: _predict(e, e.csv("in.csv", _mols().rename(
        columns={"smiles": "smi"})), e.tmp / "pred.csv"), 2, ("'smiles'", "not found"),
         check=_no_output("pred.csv")),
    Case("predict-not-a-run", lambda e: _predict(e, e.csv("in.csv", _mols()), e.tmp / "pred.csv",
                                                 run=e.tmp), 2, ("scifm.json",),
         check=_no_output("pred.csv")),
    Case("predict-pathological-rows", lambda e: _predict(
        e, _pathological_csv(e, junk=False), e.tmp / "pred.csv", workers=2, id_col="name"), 0,
         check=_pathological_predictions({100: "too long", 150: "too long", 250: "missing",
                                          260: "smiles", 270: "too long"}),
         fresh_process=True, seconds=180),
    Case("predict-binary-junk-row", lambda e: _predict(
        e, _pathological_csv(e, junk=True), e.tmp / "pred.csv", id_col="name"), 0,
         check=_pathological_predictions({100: "too long", 150: "too long", 200: "",
                                          250: "missing", 260: "smiles", 270: "too long"}),
         fresh_process=True, seconds=180),
    # ---- damaged or tampered model folders
    Case("planted-pytorch-model-bin", _tampered("transformer", _plant_torch_pickle), 2,
         ("pytorch_model.bin",), check=_no_output("pred.csv")),
    Case("planted-pickle-in-lightgbm-model", _tampered("lgbm", lambda m: (
        m / "model.pkl").write_bytes(b"\x80\x04\x95")), 2, ("model.pkl",),
         check=_no_output("pred.csv")),
    Case("truncated-safetensors", _tampered("transformer", _truncate("model.safetensors")), 2,
         ("model.safetensors",), check=_no_output("pred.csv")),
    Case("truncated-lightgbm-booster", _tampered("lgbm", _truncate("booster_0.txt")), 2,
         ("booster_0.txt",), check=_no_output("pred.csv")),
    Case("corrupt-scifm-json", _tampered("lgbm", lambda m: (m / "scifm.json").write_text(
        '{"family": "lightgbm", ')), 2, ("scifm.json",), check=_no_output("pred.csv")),
    Case("missing-tokenizer", _tampered("transformer", lambda m: (
        m / "tokenizer.json").unlink()), 2, ("tokenizer",), check=_no_output("pred.csv")),
    # ---- what the terminal and the report show
    Case("quiet-prints-no-info", lambda e: ["-q", *e.train(e.csv("d.csv", _mols()))], 0,
         check=_no_info_lines),
    Case("estimates-inside-their-intervals", lambda e: e.train(e.csv("d.csv", _mols().assign(
        logp=np.random.default_rng(3).normal(size=N_MOLS).round(3))), "--split", "random",
        "--set", "eval.n_bootstrap=200"), 0, check=_estimates_inside_intervals),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _run_case(case, tmp_path, request)


def test_every_case_is_named_once():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# ------------------------------------------------------------------------------ Ctrl-C
def _read_until(proc: subprocess.Popen, marker: str, seconds: float) -> str:
    """What ``proc`` printed until ``marker`` appeared (or ``seconds`` passed)."""
    import select

    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + seconds
    while marker.encode() not in seen and time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            seen += os.read(fd, 1 << 16)
    return seen.decode(errors="replace")


def test_ctrl_c_says_how_to_resume(tmp_path: Path, lgbm_run: Path) -> None:
    """Ctrl-C while a transformer re-run trains into an earlier run (--overwrite): exit 130, one
    line naming --resume, no traceback, and the earlier run untouched."""
    data = tmp_path / "d.csv"
    _mols().to_csv(data, index=False)
    out = tmp_path / "run"
    shutil.copytree(lgbm_run, out)
    before = _snapshot(out)
    cmd = [sys.executable, "-m", "scifm.cli", "train", "--data", str(data), "--target-col",
           "logp", "--model", "transformer", "--out", str(out), "--overwrite", "--no-track",
           "--split", "random", "--set", "model.size=tiny", "--set", "model.max_length=32",
           "--set", "train.max_steps=100000", "--set", "train.patience=100000",
           "--set", "train.batch_size=8"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"})
    head = _read_until(proc, "trainable", 120)  # the last line before the training loop
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    try:
        rest, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("scifm did not stop within 60 s of Ctrl-C")
    after = rest.decode(errors="replace")
    output = head + after
    assert proc.returncode == 130, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    hint = [ln for ln in re.split(r"[\r\n]+", after) if "--resume" in ln]
    assert len(hint) == 1, after[-2000:]  # one line (a progress bar may still close after it)
    assert _snapshot(out) == before, "an interrupted run changed the earlier run"


# ------------------------------------------------------------------------------ trained runs
@pytest.fixture(scope="module")
def lgbm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_input_lgbm")
    data = root / "mols.csv"
    _mols().to_csv(data, index=False)
    res = runner.invoke(app, ["train", "--data", str(data), "--target-col", "logp", "--model",
                              "lightgbm", "--out", str(root / "run"), *FAST, *ECFP])
    assert res.exit_code == 0, res.output
    return root / "run"


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad_input_transformer")
    data = root / "mols.csv"
    _mols().to_csv(data, index=False)
    res = runner.invoke(app, ["train", "--data", str(data), "--target-col", "logp", "--model",
                              "transformer", "--out", str(root / "run"), "--no-track", "--split",
                              "random", "--set", "model.size=tiny", "--set", "model.max_length=32",
                              "--set", "train.max_steps=2", "--set", "train.batch_size=8",
                              "--set", "eval.n_bootstrap=20"])
    assert res.exit_code == 0, res.output
    return root / "run"
