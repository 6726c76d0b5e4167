"""``scifm train``: flags (or a YAML spec) -> config -> :func:`scifm.recipes.train.train`."""

from __future__ import annotations

from typing import Any

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.options import (
    ConfigOpt,
    DataOpt,
    InputColOpt,
    ModalityOpt,
    NoTrackOpt,
    OutOpt,
    SeedOpt,
    SetOpt,
    SplitOpt,
    TargetColOpt,
    TaskOpt,
    data_flags,
)
from scifm.cli.output import print_train_summary
from scifm.config.load import load_config
from scifm.models.registry import trainable_families

__all__ = ["train"]


@app.command()
@friendly_errors
def train(
    config: ConfigOpt = None,
    data: DataOpt = None,
    input_col: InputColOpt = None,
    target_col: TargetColOpt = None,
    modality: ModalityOpt = None,
    task: TaskOpt = None,
    split: SplitOpt = None,
    folds: int | None = typer.Option(None, help="k-fold variant: number of folds "
                                     "(split.n_folds)."),
    fold: int | None = typer.Option(None, help="Which fold is the test set (split.fold)."),
    model: str | None = typer.Option(
        None, help="Model families, comma-separated (model.families); registered: "
        f"{', '.join(trainable_families())}."),
    out: OutOpt = None,
    seed: SeedOpt = None,
    epochs: float | None = typer.Option(None, help="Training epochs (train.epochs)."),
    max_steps: int | None = typer.Option(None, help="Stop after N optimiser steps "
                                         "(train.max_steps)."),
    lr: float | None = typer.Option(None, help="Learning rate (train.lr)."),
    batch_size: int | None = typer.Option(None, help="Batch size (train.batch_size)."),
    resume: bool = typer.Option(False, "--resume", help="Resume from the last checkpoint "
                                "(train.resume)."),
    no_track: NoTrackOpt = False,
    set_: SetOpt = None,
) -> None:
    """Train and evaluate model(s) on a data file; writes a run directory with a report."""
    flags: dict[str, Any] = {
        **data_flags(data=data, input_col=input_col, target_col=target_col, modality=modality,
                     task=task, split=split, out=out, seed=seed, no_track=no_track),
        "split.n_folds": folds, "split.fold": fold, "model.families": model,
        "train.epochs": epochs, "train.max_steps": max_steps, "train.lr": lr,
        "train.batch_size": batch_size, "train.resume": True if resume else None,
    }
    cfg = load_config(config, flags=flags, overrides=set_ or [])
    from scifm.recipes.train import train as run_train  # heavy: after the config

    result = run_train(cfg, command="scifm train")
    print_train_summary(result)
