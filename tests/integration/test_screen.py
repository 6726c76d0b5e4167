"""``scifm screen`` (issue 13 item 2) on a 10,000-row SMILES stream with invalid rows and
duplicates, scored by a tiny real LightGBM ECFP run: exact row accounting, top K equal to a full
sort of every score, a run killed (SIGKILL) mid-way resumes to the same outputs, a mismatched
state is refused, PAINS is flagged, the cascade's recall equals a hand computation, bad input is
one line and a non-zero exit."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.errors import OutputError
from scifm.recipes.screen import DUPLICATE, ScreenOptions, screen

pytestmark = pytest.mark.integration
runner = CliRunner()
N_ROWS, CHUNK, TOP = 10_000, 500, 25
RHODANINE = "O=C1C(=Cc2ccccc2)SC(=S)N1"
"""A PAINS molecule (``ene_rhod_A``)."""


def _train(root: Path, name: str, features: str, trees: int) -> Path:
    from scifm.config.load import load_config
    from scifm.recipes.train import train
    from tests.conftest import make_molecules

    data = root / "mols.csv"
    if not data.exists():  # 240 rows: >= 20 validation rows, so the run has its uncertainty
        make_molecules(240).to_csv(data, index=False)
    cfg = load_config(flags={
        "data.path": str(data), "data.target_cols": ["active"], "model.families": "lightgbm",
        "model.features": features, "split.method": "random", "eval.n_bootstrap": 20,
        "params.lightgbm.n_estimators": trees, "tracking.enabled": False,
        "out": str(root / name)})
    return train(cfg).run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("screen_runs")
    return {"full": _train(root, "full", "ecfp", 20), "fast": _train(root, "fast", "maccs", 10)}


def _library_rows() -> tuple[list[str], int]:
    """10,000 SMILES: a pool of molecules repeated (another spelling of one of them too),
    invalid rows planted; returns the rows and the number of invalid ones."""
    from tests.conftest import make_molecules

    pool = make_molecules(900, seed=3)["smiles"].tolist() + [RHODANINE, "CCO"]
    rows, n_invalid = [], 0
    for i in range(N_ROWS):
        if i % 97 == 5 or i % 251 == 7:
            rows.append("not_a_smiles" if i % 2 else "C1CC")
            n_invalid += 1
        elif i == 9_000:
            rows.append("OCC")  # = CCO, written another way: a canonical duplicate
        else:
            rows.append(pool[(i * 7919) % len(pool)])
    return rows, n_invalid


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, int]:
    rows, n_invalid = _library_rows()
    path = tmp_path_factory.mktemp("screen_lib") / "lib.csv"
    pd.DataFrame({"smiles": rows, "name": [f"m{i}" for i in range(N_ROWS)]}).to_csv(path,
                                                                                  index=False)
    return path, n_invalid


def _options(**kw) -> ScreenOptions:
    return ScreenOptions(**{"top": TOP, "id_col": "name", "chunksize": CHUNK, "workers": 1,
                            **kw})


@pytest.fixture(scope="module")
def screened(runs, library, tmp_path_factory) -> Path:
    """One uninterrupted screen with every score written (the reference of the tests)."""
    out = tmp_path_factory.mktemp("screen_ref") / "hits.parquet"
    screen(runs["full"], library[0], out, _options(all_scores=out.with_name("all.parquet")))
    return out


def test_row_accounting_is_exact(screened, library):
    from rdkit import Chem

    path, n_invalid = library
    summary = json.loads(screened.with_name("hits.summary.json").read_text())
    rows = pd.read_csv(path)["smiles"].tolist()
    canonical = [Chem.MolToSmiles(m) for m in map(Chem.MolFromSmiles, rows) if m is not None]
    n_distinct = len(set(canonical))
    assert summary["n_input"] == N_ROWS
    assert summary["n_rejected"] == n_invalid and n_invalid > 100
    assert summary["n_scored"] == n_distinct
    assert summary["n_duplicates"] == N_ROWS - n_invalid - n_distinct
    assert summary["n_scored"] + summary["n_rejected"] + summary["n_duplicates"] == N_ROWS
    rejects = pd.read_csv(screened.with_name("hits.rejects.csv"))
    scores = pd.read_parquet(screened.with_name("all.parquet"))
    assert len(rejects) == n_invalid + summary["n_duplicates"]
    assert (rejects["reason"] == DUPLICATE).sum() == summary["n_duplicates"]
    assert rejects.loc[rejects["input"] == "OCC", "reason"].tolist() == [DUPLICATE]
    invalid = rejects[rejects["reason"] != DUPLICATE]
    assert invalid["reason"].str.contains("SMILES").all()
    assert set(invalid["input"]) == {"not_a_smiles", "C1CC"}
    # every input row is in exactly one of the two files; the first copy is the scored one
    assert sorted([*rejects["row_id"], *scores["row_id"]]) == list(range(N_ROWS))
    assert scores["canonical"].is_unique and len(scores) == n_distinct
    assert scores["id"].tolist() == [f"m{i}" for i in scores["row_id"]]


def test_top_k_equals_a_full_sort(screened):
    hits = pd.read_parquet(screened)
    scores = pd.read_parquet(screened.with_name("all.parquet"))
    assert scores["prob_active"].duplicated().any()  # ties exist: broken by row_id
    full = scores.sort_values(["prob_active", "row_id"], ascending=[False, True]).head(TOP)
    assert hits["row_id"].tolist() == full["row_id"].tolist()
    assert hits["rank"].tolist() == list(range(1, TOP + 1))
    assert np.allclose(hits["score"], full["prob_active"])
    assert (hits["target"] == "active").all()
    for col in ("nn_similarity", "in_domain", "cal_prob_active", "pains", "brenk",
                "ro5_violations", "flagged"):  # uncertainty, domain and molecule flags
        assert col in hits.columns, col
    assert hits["nn_similarity"].between(0, 1).all()


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "scifm.cli", "-q", "screen", *args]


def test_resume_after_a_kill_gives_the_same_outputs(runs, library, screened, tmp_path):
    out = tmp_path / "hits.parquet"
    args = [str(runs["full"]), "--library", str(library[0]), "--top", str(TOP), "--out",
            str(out), "--id-col", "name", "--chunksize", str(CHUNK), "--all-scores",
            str(tmp_path / "all.parquet")]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    state = tmp_path / "hits.screen"
    proc = subprocess.Popen(_cli([*args, "--workers", "1"]), env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(state.glob("scored-*.parquet"))) < 2 and proc.poll() is None \
            and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = len(list(state.glob("scored-*.parquet")))
    assert 2 <= finished < N_ROWS // CHUNK and not out.exists()
    # other settings: refused in one line, the state kept
    with pytest.raises(OutputError, match="--restart"):
        screen(runs["full"], library[0], out, _options(top=TOP + 1))
    assert len(list(state.glob("scored-*.parquet"))) == finished
    done = subprocess.run(_cli([*args, "--workers", "1"]), env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert not state.exists()
    pd.testing.assert_frame_equal(pd.read_parquet(out), pd.read_parquet(screened))
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "all.parquet"),
                                  pd.read_parquet(screened.with_name("all.parquet")))
    assert (tmp_path / "hits.rejects.csv").read_bytes() == \
        screened.with_name("hits.rejects.csv").read_bytes()
    resumed = json.loads((tmp_path / "hits.summary.json").read_text())
    reference = json.loads(screened.with_name("hits.summary.json").read_text())
    assert resumed["n_resumed"] >= finished * CHUNK
    for key in ("n_input", "n_scored", "n_rejected", "n_duplicates", "targets"):
        assert resumed[key] == reference[key], key


def test_filters_flag_pains_and_exclusion_skips_it(screened, runs, library, tmp_path):
    from scifm.screening.filters import MoleculeFilters

    flags = MoleculeFilters(("pains", "brenk", "ro5")).flags([RHODANINE, "CCO"])
    assert "ene_rhod" in flags.loc[0, "pains"] and flags.loc[0, "flagged"]
    assert flags.loc[1, "pains"] == "" and not flags.loc[1, "flagged"]
    # a library where the PAINS molecule would rank first: excluded, the next ones kept
    lib = tmp_path / "lib.smi"
    lib.write_text(f"smiles name\n{RHODANINE} rhod\nCCO ethanol\nc1ccccc1O phenol\n")
    out = tmp_path / "hits.parquet"
    summary = screen(runs["full"], lib, out, ScreenOptions(top=3, workers=1,
                                                           exclude_flagged=True))
    hits = pd.read_parquet(out)  # without the exclusion, all three would be hits
    assert set(hits["id"]) == {"ethanol", "phenol"} and not hits["flagged"].any()
    assert summary.targets["active"]["n_excluded_flagged"] == 1


def test_cascade_recall_equals_a_hand_computation(runs, library, tmp_path):
    from scifm.recipes.predict import predict

    lib = tmp_path / "lib.csv"
    pd.read_csv(library[0]).head(2_000).to_csv(lib, index=False)
    out, k, frac = tmp_path / "hits.parquet", 5, 0.1
    summary = screen(runs["full"], lib, out, _options(
        top=k, fast=runs["fast"], rescore_top=frac, recall_sample=10**6,
        all_scores=tmp_path / "fast.parquet"))
    fast = pd.read_parquet(tmp_path / "fast.parquet")  # the fast model's scores, every row
    predict(runs["full"], lib, tmp_path / "full.csv", workers=1)
    full = pd.read_csv(tmp_path / "full.csv").set_index("row_id").loc[fast["row_id"]]
    n = len(fast)
    m = max(k, math.ceil(frac * n))
    rescored = set(fast.sort_values(["prob_active", "row_id"], ascending=[False, True])
                   .head(m)["row_id"])
    by_full = full.reset_index().sort_values(["prob_active", "row_id"], ascending=[False, True])
    recall = np.mean([r in rescored for r in by_full.head(k)["row_id"]])
    at_rescore = np.mean([r in rescored for r in by_full.head(m)["row_id"]])
    got = summary.cascade["recall"]["active"]
    assert summary.cascade["recall_sample"] == n and summary.cascade["n_rescored"] == m
    assert got["n_reference"] == k and got["n_reference_rescore"] == m
    assert 0 <= got["recall"] <= 1 and got["recall"] == pytest.approx(recall)
    assert got["recall_at_rescore"] == pytest.approx(at_rescore)
    hits = pd.read_parquet(out)  # the best k of the re-scored rows by the full model
    expected = by_full[by_full["row_id"].isin(rescored)].head(k)
    assert hits["row_id"].tolist() == expected["row_id"].tolist()
    assert np.allclose(hits["prob_active"], expected["prob_active"])
    assert "fast_prob_active" in hits.columns


@pytest.mark.parametrize("extra, words", [
    (["--library", "missing.csv"], "not found"),
    (["--input-col", "smile"], "'smile' not found"),
    (["--top", "0"], "--top 0"),
    (["--direction", "up"], "--direction"),
    (["--target", "potency"], "--target potency"),
    (["--filters", "pains,toxic"], "toxic"),
    (["--engine", "spark"], "--engine"),
])
def test_bad_input_is_one_line(runs, library, tmp_path, extra, words):
    args = ["screen", str(runs["full"]), "--library", str(library[0]), "--out",
            str(tmp_path / "hits.parquet"), *extra]
    res = runner.invoke(app, args)
    assert res.exit_code != 0 and "Traceback" not in res.output
    errors = [ln for ln in res.output.splitlines() if "error:" in ln]
    assert len(errors) == 1 and words in " ".join(res.output.split()), res.output
    assert not (tmp_path / "hits.screen").exists()


def test_hits_get_the_uncertainty_columns_of_every_row_scoring(screened, runs, library,
                                                                tmp_path):
    """Without --all-scores the uncertainty columns are computed for the hits only: they equal
    those the every-row path wrote."""
    out = tmp_path / "hits.parquet"
    screen(runs["full"], library[0], out, _options())
    lazy, eager = pd.read_parquet(out), pd.read_parquet(screened)
    cols = [c for c in eager.columns if c.startswith(("cal_prob_", "set_", "uncertainty_"))
            or c in ("nn_similarity", "in_domain")]
    assert cols and set(cols) <= set(lazy.columns)
    pd.testing.assert_frame_equal(lazy[["row_id", *cols]], eager[["row_id", *cols]],
                                  check_dtype=False)
