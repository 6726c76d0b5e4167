"""The harness of the bad-input table (:mod:`tests.cli.test_bad_input`): the environment,
the case record, how a case is run and checked, and the tiny data makers."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app

runner = CliRunner()
FAST = ["--no-track", "--set", "params.lightgbm.n_estimators=20", "--set", "eval.n_bootstrap=20"]
"""Tiny, quick LightGBM runs (no tracking, few trees and bootstrap draws); molecules get ECFP
features only (:data:`ECFP`)."""
ECFP = ["--set", "model.features=ecfp"]
N_MOLS = 40


def _root_conftest() -> Any:
    """``tests/conftest.py`` (its molecule maker), imported under a name of its own."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("_scifm_tests_conftest_cli", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


MOLS: pd.DataFrame = _root_conftest().make_molecules(N_MOLS)[["smiles", "logp"]]


# ------------------------------------------------------------------------------ harness
@dataclass
class Outcome:
    """A command's exit code and everything it printed (stdout + stderr)."""

    exit_code: int
    output: str


@dataclass
class Env:
    """What a case builds on: its folder, the shared trained runs and the paths it protects."""

    tmp: Path
    request: pytest.FixtureRequest
    protected: list[Path] = field(default_factory=list)
    out: Path | None = None
    """The ``--out`` of the command (a failed run must leave none when there was none)."""

    def file(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        self.protected.append(path)
        return path

    def csv(self, name: str, df: pd.DataFrame, **kw: Any) -> Path:
        path = self.tmp / name
        df.to_csv(path, index=False, **kw)
        self.protected.append(path)
        return path

    def run_copy(self, which: str, name: str = "prev") -> Path:
        """A copy of a trained run (``lgbm`` or ``transformer``), to damage or to write over."""
        src = self.request.getfixturevalue(f"{which}_run")
        dst = self.tmp / name
        shutil.copytree(src, dst)
        return dst

    def shared_run(self, which: str) -> Path:
        """The shared trained run itself (read-only use: protected)."""
        run = self.request.getfixturevalue(f"{which}_run")
        self.protected.append(run)
        return run

    def train(self, data: Path, *extra: str, target: str = "logp") -> list[str]:
        """``scifm train`` of ``data`` into ``tmp/run`` (a quick LightGBM run)."""
        self.out = self.tmp / "run"
        features = [] if "--modality" in extra else ECFP
        return ["train", "--data", str(data), "--target-col", target, "--model", "lightgbm",
                "--out", str(self.out), *FAST, *features, *extra]


@dataclass
class Case:
    """One row of the table: how the input is made and the exact outcome expected."""

    id: str
    build: Callable[[Env], list[str]]
    """Writes the inputs into ``env.tmp``; returns the command line (without ``scifm``)."""
    exit: int
    words: tuple[str, ...] = ()
    """Key words (case-insensitive) of the one error line, or of the warnings of a completed
    run."""
    rows: tuple[int, int] | None = None
    """``(rows in the input, rows rejected)`` of a completed training run."""
    reasons: tuple[str, ...] = ()
    """Words that every rejected row's reason holds (one of them)."""
    check: Callable[[Env, Outcome], None] | None = None
    """Further checks of this case."""
    fresh_process: bool = False
    """Run ``python -m scifm.cli`` (native crash or hang risk; the real terminal output)."""
    seconds: float = 240
    """Time limit of a fresh process."""


def _snapshot(path: Path) -> Any:
    if path.is_symlink():
        return ("link", os.readlink(path))
    if path.is_file():
        return path.read_bytes()
    if path.is_dir():
        return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else "<dir>")
                for p in sorted(path.rglob("*"))}
    return None


def _invoke(argv: list[str], case: Case) -> Outcome:
    if not case.fresh_process:
        res = runner.invoke(app, argv)
        return Outcome(res.exit_code, res.output)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "scifm.cli", *argv], capture_output=True,
                          text=True, errors="replace", timeout=case.seconds, env=env)
    return Outcome(proc.returncode, proc.stdout + proc.stderr)


def _flat(text: str) -> str:
    """Output as one lower-case line (the terminal wraps long log lines)."""
    return " ".join(text.split()).lower()


def _error_line(out: Outcome) -> str:
    """The one ``error:`` line of a failed command (and no traceback)."""
    assert "Traceback" not in out.output, out.output
    lines = [ln for ln in out.output.splitlines() if "error:" in ln]
    assert len(lines) == 1, f"expected one error line:\n{out.output}"
    return lines[0]


def _accounted(run: Path, rows: tuple[int, int], reasons: tuple[str, ...]) -> None:
    """rows in = rows used + rejected.csv rows; every rejected row has an expected reason."""
    report = json.loads((run / "data_report.json").read_text())
    rejected = pd.read_csv(run / "rejected.csv", dtype=str, keep_default_na=False)
    n_in, n_rejected = rows
    assert report["n_rows_in"] == n_in, report
    assert len(rejected) == report["n_rejected"] == n_rejected, rejected
    assert report["n_rows_out"] + len(rejected) == n_in
    for reason in rejected["reason"]:
        assert reason.strip() and any(w in reason.lower() for w in reasons), reason


def _run_case(case: Case, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    env = Env(tmp_path, request)
    argv = case.build(env)
    out_existed = env.out is not None and env.out.exists()
    before = {p: _snapshot(p) for p in env.protected}
    t0 = time.perf_counter()
    out = _invoke(argv, case)
    elapsed = time.perf_counter() - t0
    assert out.exit_code == case.exit, f"exit {out.exit_code} after {elapsed:.0f} s:\n" \
                                       f"{out.output[-3000:]}"
    if case.exit == 2:
        line = _error_line(out).lower()
        for word in case.words:
            assert word.lower() in line, f"{word!r} not in: {line}"
        if env.out is not None:
            assert out_existed or not env.out.exists(), f"a failed run left {env.out}"
            staging = env.out.with_name(env.out.name + ".partial")
            assert not staging.exists(), f"a failed run left {staging} (nothing to resume)"
    elif case.exit == 0:
        assert "Traceback" not in out.output and "error:" not in out.output, out.output
        if case.words:
            assert "warning" in out.output.lower(), out.output
            for word in case.words:
                assert word.lower() in _flat(out.output), f"{word!r} not printed:\n{out.output}"
    if case.rows is not None:
        assert env.out is not None
        _accounted(env.out, case.rows, case.reasons)
    for path, snap in before.items():
        assert _snapshot(path) == snap, f"{path} was modified"
    if case.check is not None:
        case.check(env, out)


# ------------------------------------------------------------------------------ data makers
def _mols(n: int = N_MOLS) -> pd.DataFrame:
    return MOLS.head(n).copy()


def _with(df: pd.DataFrame, extra: dict[str, list[Any]]) -> pd.DataFrame:
    return pd.concat([df, pd.DataFrame(extra)], ignore_index=True)


def _dna(n: int = N_MOLS, length: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), size=length)) for _ in range(n)]
    return pd.DataFrame({"sequence": seqs, "label": [i % 2 for i in range(n)]})


def _proteins(n: int = N_MOLS) -> pd.DataFrame:
    """Random proteins of 30..59 residues with a binary label."""
    rng = np.random.default_rng(1)
    seqs = ["".join(rng.choice(list("ACDEFGHIKLMNPQRSTVWY"), size=30 + i % 30)) for i in range(n)]
    return pd.DataFrame({"sequence": seqs, "label": [i % 2 for i in range(n)]})


def _texts(n: int = N_MOLS) -> pd.DataFrame:
    words = ["cell", "protein", "binds", "assay", "dose", "trial", "patient", "kinase"]
    rng = np.random.default_rng(2)
    texts = [" ".join(rng.choice(words, size=12)) for _ in range(n)]
    return pd.DataFrame({"text": texts, "label": [i % 2 for i in range(n)]})


def _sdf(n: int, broken: int) -> str:
    from rdkit import Chem

    blocks = []
    for smi, logp in _mols(n).itertuples(index=False):
        blocks.append(Chem.MolToMolBlock(Chem.MolFromSmiles(smi)) + f">  <logp>\n{logp}\n\n")
    for k in range(broken):
        blocks.append(f"broken {k}\n  garbage\n\n  1  1  0  0\nnot an atom line\nM  END\n"
                      f">  <logp>\n1.0\n\n")
    return "$$$$\n".join(blocks) + "$$$$\n"


def _junk(n: int, seed: int = 0) -> bytes:
    """Binary junk for one CSV cell: NULs and invalid UTF-8, no line break, comma or quote."""
    raw = random.Random(seed).randbytes(n) + b"\x00\xff\xfe\x80"
    return bytes(b for b in raw if b not in b'\n\r,"')


# ------------------------------------------------------------------------------ checks
def _no_output(name: str) -> Callable[[Env, Outcome], None]:
    def check(env: Env, out: Outcome) -> None:
        assert not (env.tmp / name).exists(), f"{name} was written"

    return check


def _lgbm_replaced_transformer(env: Env, out: Outcome) -> None:
    """--overwrite replaced the earlier transformer run as a whole: no file of it is left."""
    assert env.out is not None
    fresh = env.request.getfixturevalue("lgbm_run")
    files = {str(p.relative_to(env.out)) for p in env.out.rglob("*")}
    want = {str(p.relative_to(fresh)) for p in fresh.rglob("*")}
    assert not list((env.out / "model").glob("*.safetensors")), files
    assert not list((env.out / "model").glob("tokenizer*")), files
    assert files == want, f"left over: {sorted(files - want)}; missing: {sorted(want - files)}"


def _conflict_reported(env: Env, out: Outcome) -> None:
    assert env.out is not None
    report = json.loads((env.out / "data_report.json").read_text())
    assert report["max_conflict_spread"] == pytest.approx(5.0)
    assert "spread 5" in _flat(json.dumps(report.get("warnings", [])))
    assert "spread 5" in _flat((env.out / "log.txt").read_text())
    assert "spread 5" in _flat(re.sub(r"<[^>]+>", " ", (env.out / "report.html").read_text()))


def _ids_reported(env: Env, out: Outcome) -> None:
    assert env.out is not None
    report = json.loads((env.out / "data_report.json").read_text())
    assert "repeated" in _flat(json.dumps(report.get("warnings", [])))
    assert "repeated" in _flat((env.out / "log.txt").read_text())


def _no_info_lines(env: Env, out: Outcome) -> None:
    assert not [ln for ln in out.output.splitlines() if "INFO" in ln], out.output


def _estimates_inside_intervals(env: Env, out: Outcome) -> None:
    assert env.out is not None
    metrics = json.loads((env.out / "metrics.json").read_text())
    checked = 0
    for split in ("val", "test"):
        for name, m in metrics.get(split, {}).items():
            if isinstance(m, dict) and m.get("ci95") and m.get("value") is not None:
                lo, hi = m["ci95"]
                if None in (lo, hi) or any(map(np.isnan, (lo, hi, m["value"]))):
                    continue
                assert lo <= m["value"] <= hi, f"{split} {name}: {m}"
                checked += 1
    assert checked, metrics


def _pathological_predictions(bad: dict[int, str]) -> Callable[[Env, Outcome], None]:
    def check(env: Env, out: Outcome) -> None:
        frame = pd.read_csv(env.tmp / "pred.csv", dtype=str, keep_default_na=False)
        assert len(frame) == 300, f"300 rows in, {len(frame)} out"
        assert frame["row_id"].tolist() == [str(i) for i in range(300)]
        invalid = frame.index[frame["status"] == "invalid"].tolist()
        assert invalid == sorted(bad), frame.loc[invalid, ["row_id", "error"]]
        for i, word in bad.items():
            assert word in frame.loc[i, "error"].lower(), frame.loc[i, "error"]
        assert (frame.loc[frame["status"] == "ok", "error"] == "").all()

    return check
