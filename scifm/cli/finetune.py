"""``scifm finetune``: flags (or a YAML spec) -> config -> :func:`scifm.recipes.finetune`."""

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
    data_flags,
)
from scifm.cli.output import print_train_summary
from scifm.config.load import load_config

__all__ = ["finetune"]


@app.command()
@friendly_errors
def finetune(
    config: ConfigOpt = None,
    data: DataOpt = None,
    input_col: InputColOpt = None,
    target_col: TargetColOpt = None,
    modality: ModalityOpt = None,
    task: str | None = typer.Option(
        None, help="auto|regression|binary|multiclass|token_classification (data.task)."),
    split: SplitOpt = None,
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
    """Fine-tune a transformer (one prediction per input, or one label per word / residue with
    --task token_classification); writes a run directory with a report."""
    flags: dict[str, Any] = {
        **data_flags(data=data, input_col=input_col, target_col=target_col, modality=modality,
                     task=task, split=split, out=out, seed=seed, no_track=no_track),
        "train.epochs": epochs, "train.max_steps": max_steps, "train.lr": lr,
        "train.batch_size": batch_size, "train.resume": True if resume else None,
    }
    cfg = load_config(config, flags=flags, overrides=set_ or [])
    from scifm.recipes.finetune import finetune as run_finetune  # heavy: after the config

    result = run_finetune(cfg, command="scifm finetune")
    print_train_summary(result)  # type: ignore[arg-type]
