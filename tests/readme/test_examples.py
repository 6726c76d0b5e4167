"""``examples/`` holds exactly what ``examples/make_examples.py`` writes (synthetic, seeded)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pandas as pd

from tests.readme.readme_commands import ROOT

EXAMPLES = ROOT / "examples"


def test_committed_examples_are_what_the_script_writes(tmp_path: Path) -> None:
    make = runpy.run_path(str(EXAMPLES / "make_examples.py"))["main"]
    written = make(tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    committed = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*")
                 if p.is_file() and p.suffix not in (".py", ".md") and "__pycache__" not in p.parts}
    assert names == committed
    for name in sorted(names):
        assert (tmp_path / name).read_bytes() == (EXAMPLES / name).read_bytes(), name


def test_examples_carry_their_rules() -> None:
    prom = pd.read_csv(EXAMPLES / "promoters.csv")
    assert prom["sequence"].str.contains("TATAAA").eq(prom["label"] == 1).all()
    assert set(prom["split"]) == {"train", "val", "test"}
    res = pd.read_csv(EXAMPLES / "residues.csv", dtype=str)  # keeps the mask's leading 0s
    assert (res["sequence"].str.len() == res["ss3"].str.len()).all()
    assert (res["sequence"].str.len() == res["resolved_mask"].str.len()).all()
    assert res["resolved_mask"].str.startswith("00").all()
