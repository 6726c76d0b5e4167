"""Every command the README shows works after the README's install command.

Each ``scifm`` command of README.md runs in-process (``typer.testing.CliRunner``), in the README's
order (``predict`` uses the run ``train`` wrote), from a folder laid out like a fresh clone:
``configs/`` and ``examples/`` copied, ``scifm/data/bundled/freesolv.csv`` replaced by every 4th
FreeSolv row (same columns; ``scifm demo`` reads the full shipped file). The fast settings of
:data:`readme_commands.FAST` are appended (tiny models, 2 steps, 2 trials). Parts that cannot run
here are in :data:`readme_commands.SKIPPED` with the reason; their ``scifm`` part is parsed with
the real command-line definitions, so a renamed flag still fails.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from scifm.cli.main import app
from scifm.utils.extras import require_storage_driver
from tests.readme.readme_commands import (
    BY_TEXT,
    FAST,
    ROOT,
    SKIPPED,
    Part,
    fast_argv,
    option_value,
    readme_parts,
)

PARTS = readme_parts()


def test_every_readme_command_is_run_or_skipped_with_a_reason() -> None:
    scifm_parts = [p for p in PARTS if p.scifm_argv is not None]
    assert len(scifm_parts) >= 20, "the README's commands were not found"
    unknown = [f"line {p.line}: {p.text}" for p in PARTS if not p.runs_here
               and p.text not in SKIPPED]
    assert not unknown, "README commands neither run by this test nor in SKIPPED: " \
        + "; ".join(unknown)
    stale = set(SKIPPED) - {p.text for p in PARTS}
    assert not stale, f"SKIPPED names commands the README no longer has: {sorted(stale)}"
    assert all(reason.strip() for reason in SKIPPED.values())
    unmatched = [t for t in BY_TEXT if not any(p.text.startswith(t) for p in PARTS)]
    assert not unmatched, f"BY_TEXT names commands the README no longer has: {unmatched}"
    for part in PARTS:
        if part.runs_here:
            fast_argv(part)  # KeyError: a subcommand without fast settings


def test_classification_of_a_new_command() -> None:
    parts = readme_parts("```bash\nscifm train --data x.csv \\\n   --out runs/x  # note\n"
                         "make all && scifm demo\n```\n```\nnot bash\n```\n")
    assert [p.text for p in parts] == ["scifm train --data x.csv --out runs/x", "make all",
                                       "scifm demo"]
    assert [p.runs_here for p in parts] == [True, False, True]
    assert parts[0].line == 2 and parts[2].line == 4
    torch = Part("t", ("torchrun", "--nproc_per_node", "2", "-m", "scifm", "train", "--x"), 1)
    assert torch.scifm_argv == ["train", "--x"] and not torch.runs_here


def _parse(argv: list[str]) -> None:
    """Parse ``scifm ARGV`` with the real command definitions (options, types); nothing runs."""
    group = typer.main.get_command(app)
    name, *rest = argv
    with group.make_context("scifm", list(argv)) as ctx:  # global flags; the rest left as args
        command = group.get_command(ctx, name)  # type: ignore[attr-defined]
        assert command is not None, f"no command `scifm {name}`"
        command.make_context(name, list(rest), parent=ctx)


@pytest.mark.parametrize("text", sorted(t for t in SKIPPED if " scifm " in f" {t} "
                                        or "-m scifm" in t))
def test_skipped_scifm_commands_parse(text: str) -> None:
    part = next(p for p in PARTS if p.text == text)
    argv = part.scifm_argv or []
    _parse(argv)
    storage = option_value(argv, "--storage")
    if storage:
        require_storage_driver(storage)  # the dev extra includes postgres


def test_parse_rejects_an_unknown_flag() -> None:
    with pytest.raises(Exception, match="No such option: --no-such-flag"):
        _parse(["train", "--data", "x.csv", "--no-such-flag", "1"])


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clone")
    shutil.copytree(ROOT / "configs", root / "configs")
    shutil.copytree(ROOT / "examples", root / "examples")
    bundled = root / "scifm" / "data" / "bundled"
    bundled.mkdir(parents=True)
    full = pd.read_csv(ROOT / "scifm" / "data" / "bundled" / "freesolv.csv")
    full.iloc[::4].to_csv(bundled / "freesolv.csv", index=False)
    return root


def _check_outputs(part: Part, argv: list[str], output: str) -> None:
    written = re.search(r"^run directory: (\S+)", output, flags=re.M)
    out = written.group(1) if written else option_value(argv, "--out")
    if out is not None:
        assert Path(out).exists(), f"README line {part.line}: {out} was not written"
    if argv[0] in ("train", "tune", "auto", "finetune", "demo"):
        assert (Path(out or "") / "metrics.json").is_file(), f"line {part.line}: no metrics.json"
    if argv[0] == "predict":
        source = str(option_value(argv, "--data"))
        data = (pd.read_json(source, lines=True) if source.endswith(".jsonl")
                else pd.read_csv(source))
        preds = pd.read_csv(out)
        assert len(preds) == len(data)  # one row per input row, the invalid SMILES included
        if source.endswith("library.csv"):  # one invalid SMILES
            assert preds.loc[preds["status"] != "ok", "input"].tolist() == ["C1CC("]
    if "--config" in argv and "lightgbm" in str(option_value(argv, "--config")):
        # the transformer keys of FAST are read by no chosen family: one warning line says so
        assert "config keys with no effect" in output and "model.size" in output


@pytest.mark.integration
def test_every_readme_command_runs(fresh_clone: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(fresh_clone)
    runner = CliRunner()
    ran = []
    for part in PARTS:
        if not part.runs_here:
            continue
        argv = fast_argv(part)
        t0 = time.perf_counter()
        result = runner.invoke(app, argv)
        print(f"{time.perf_counter() - t0:6.1f} s  README line {part.line}: scifm {argv[0]}")
        assert result.exit_code == 0, (
            f"README line {part.line} failed: scifm {' '.join(argv)}\n{result.output[-3000:]}"
            + (f"\n{result.exception!r}" if result.exception else ""))
        _check_outputs(part, argv, result.output)
        ran.append(argv[0])
    assert set(ran) == set(FAST), f"subcommands with fast settings but no README example: " \
        f"{set(FAST) - set(ran)}"
