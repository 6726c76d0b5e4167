"""``scifm train``: flags (or a YAML spec) -> config -> :func:`scifm.recipes.train.train`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from scifm.cli.main import app, friendly_errors
from scifm.cli.output import print_train_summary
from scifm.config.load import load_config
from scifm.errors import ConfigError


def split_flags(split: str | None) -> dict[str, Any]:
    """``--split scaffold`` -> a method; ``--split column:NAME`` -> predefined split on NAME."""
    if split is None:
        return {}
    if split.startswith("column:"):
        column = split.removeprefix("column:")
        if not column:
            raise ConfigError("--split column:NAME needs a column name, e.g. column:split")
        return {"split.method": "predefined", "split.column": column}
    return {"split.method": split}


@app.command()
@friendly_errors
def train(
    config: Path | None = typer.Option(None, "--config", "-c", help="YAML experiment spec."),
    data: Path | None = typer.Option(None, "--data", help="Input file (data.path)."),
    input_col: str | None = typer.Option(None, help="Input column (data.input_col)."),
    target_col: list[str] | None = typer.Option(
        None, "--target-col", help="Target column(s), repeat or comma-separate "
        "(data.target_cols)."),
    modality: str | None = typer.Option(None, help="smiles|protein|dna|text (data.modality)."),
    task: str | None = typer.Option(None, help="auto|regression|binary|multiclass (data.task)."),
    split: str | None = typer.Option(
        None, help="random|stratified|scaffold|similarity|column:NAME (split.method)."),
    folds: int | None = typer.Option(None, help="k-fold variant: number of folds "
                                     "(split.n_folds)."),
    fold: int | None = typer.Option(None, help="Which fold is the test set (split.fold)."),
    model: str | None = typer.Option(None, help="transformer|lightgbm|both (model.family)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Run directory (out)."),
    seed: int | None = typer.Option(None, help="Random seed (seed)."),
    epochs: float | None = typer.Option(None, help="Training epochs (train.epochs)."),
    max_steps: int | None = typer.Option(None, help="Stop after N optimiser steps "
                                         "(train.max_steps)."),
    lr: float | None = typer.Option(None, help="Learning rate (train.lr)."),
    batch_size: int | None = typer.Option(None, help="Batch size (train.batch_size)."),
    resume: bool = typer.Option(False, "--resume", help="Resume from the last checkpoint "
                                "(train.resume)."),
    no_track: bool = typer.Option(False, "--no-track", help="Skip MLflow (tracking.enabled)."),
    set_: list[str] | None = typer.Option(None, "--set", help="Dotted override KEY=VALUE, "
                                          "e.g. --set train.lr=3e-5 (repeatable)."),
) -> None:
    """Train and evaluate model(s) on a data file; writes a run directory with a report."""
    from scifm.recipes.train import train as run_train

    targets = [t for item in (target_col or []) for t in item.split(",") if t.strip()]
    flags: dict[str, Any] = {
        "data.path": str(data) if data else None, "data.input_col": input_col,
        "data.target_cols": targets or None, "data.modality": modality, "data.task": task,
        "split.n_folds": folds, "split.fold": fold, "model.family": model,
        "out": str(out) if out else None, "seed": seed, "train.epochs": epochs,
        "train.max_steps": max_steps, "train.lr": lr, "train.batch_size": batch_size,
        "train.resume": True if resume else None,
        "tracking.enabled": False if no_track else None,
        **split_flags(split),
    }
    cfg = load_config(config, flags=flags, overrides=set_ or [])
    result = run_train(cfg, command="scifm train")
    print_train_summary(result)
