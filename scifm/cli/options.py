"""Options shared by the commands that read a data file (``train``, ``tune``) and their mapping
to config keys, written once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="YAML experiment spec.")]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Input file (data.path).")]
InputColOpt = Annotated[str | None, typer.Option(help="Input column (data.input_col).")]
TargetColOpt = Annotated[list[str] | None, typer.Option(
    "--target-col", help="Target column, exactly as named in the file (commas included); "
    "repeat the flag for several targets (data.target_cols).")]
ModalityOpt = Annotated[str | None, typer.Option(
    help="smiles|protein|dna|text (data.modality).")]
TaskOpt = Annotated[str | None, typer.Option(
    help="auto|regression|binary|multiclass (data.task).")]
SplitOpt = Annotated[str | None, typer.Option(
    help="random, stratified, scaffold, similarity, predefined or column:NAME (= predefined "
    "on column NAME), as in YAML (split.method).")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="Run directory (out).")]
SeedOpt = Annotated[int | None, typer.Option(help="Random seed (seed).")]
NoTrackOpt = Annotated[bool, typer.Option("--no-track", help="Skip MLflow (tracking.enabled).")]
SetOpt = Annotated[list[str] | None, typer.Option(
    "--set", help="Dotted override KEY=VALUE, e.g. --set train.lr=3e-5 (repeatable).")]


def data_flags(*, data: Path | None, input_col: str | None, target_col: list[str] | None,
               modality: str | None, task: str | None, split: str | None, out: Path | None,
               seed: int | None, no_track: bool) -> dict[str, Any]:
    """Dotted config keys of the shared options (``None`` = not given, left to the config).

    ``--split`` takes every form the YAML ``split`` key takes (a method or ``column:NAME``; the
    loader expands both the same way); each ``--target-col`` is one column, taken verbatim.
    """
    return {
        "data.path": str(data) if data else None, "data.input_col": input_col,
        "data.target_cols": list(target_col) if target_col else None, "data.modality": modality,
        "data.task": task, "out": str(out) if out else None, "seed": seed,
        "tracking.enabled": False if no_track else None, "split.method": split,
    }
