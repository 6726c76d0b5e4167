"""Every file under ``configs/`` works from a fresh clone: it loads, validates, names data that
exist (relative paths are relative to the YAML file, whatever the working directory), and sets no
key that its command and families ignore. Keys that do not apply are warned about."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from scifm.config.applicability import check_applicable
from scifm.config.load import load_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / "configs").rglob("*.y*ml"))
LIGHTGBM = ROOT / "configs" / "train" / "freesolv_lightgbm.yaml"


def _command(path: Path) -> str:
    """The subcommand named on the file's first line: ``# scifm train --config configs/...``."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# scifm (\w+) --config (\S+)", first)
    assert match, f"{path}: first line must be `# scifm <command> --config <this file>`"
    assert ROOT / match.group(2) == path, f"{path}: its first line names {match.group(2)}"
    return match.group(1)


def test_configs_are_found() -> None:
    assert len(CONFIGS) >= 4
    assert LIGHTGBM in CONFIGS


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_config_loads_from_anywhere_and_its_data_exist(
        path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = _command(path)
    monkeypatch.chdir(tmp_path)  # not the clone's root: paths must not depend on it
    cfg = load_config(path)
    assert cfg.data.path is not None, f"{path}: data.path is not set"
    for data in (cfg.data.path, cfg.data.val_path, cfg.data.test_path):
        assert data is None or Path(data).is_file(), f"{path}: {data} does not exist"
    assert "shared" not in Path(cfg.data.path).resolve().parts  # nothing outside the clone
    assert Path(cfg.data.path).resolve().is_relative_to(ROOT)
    assert check_applicable(cfg, recipe=command, strict=True) == []  # no key without effect


def test_transformer_keys_on_a_lightgbm_config_are_warned_about(
        caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config(LIGHTGBM, overrides=["train.lr=3e-5", "model.size=tiny"])
    with caplog.at_level(logging.WARNING, logger="scifm"):
        ignored = check_applicable(cfg, recipe="train")
    assert ignored == ["model.size", "train.lr"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("config keys with no effect: ")
    assert "train.lr=3e-05 (read by transformer" in warnings[0]


def test_the_readme_override_of_the_lightgbm_config_applies() -> None:
    cfg = load_config(LIGHTGBM, overrides=["params.lightgbm.num_leaves=63",
                                           "model.features=ecfp6+maccs"])
    assert check_applicable(cfg, recipe="train", strict=True) == []
    assert cfg.params["lightgbm"].num_leaves == 63


def test_a_path_given_on_the_command_line_stays_relative_to_the_working_directory() -> None:
    cfg = load_config(LIGHTGBM, flags={"data.path": "my.csv"})
    assert Path(cfg.data.path) == Path("my.csv")
