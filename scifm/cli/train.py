"""``scifm train``: flags (or a YAML spec) -> config -> :func:`scifm.recipes.train.train`."""

from __future__ import annotations

from typing import Any

import typer

from scifm.cli import options as opt
from scifm.cli.app import app, friendly_errors
from scifm.cli.output import print_train_summary
from scifm.config.load import load_config

__all__ = ["train"]


@app.command()
@friendly_errors
def train(
    config: opt.Config = None,
    data: opt.Data = None,
    input_col: opt.InputCol = None,
    target_col: opt.TargetCol = None,
    modality: opt.Modality = None,
    task: opt.Task = None,
    split: opt.Split = None,
    folds: int | None = typer.Option(
        None, help="k-fold variant: number of folds, test = one of them (split.n_folds)."
        f"{opt.default(opt.DEFAULTS.split.n_folds)}"),
    fold: int | None = typer.Option(
        None, help="Which fold is the test set (split.fold)."
        f"{opt.default(opt.DEFAULTS.split.fold)}"),
    model: opt.Model = None,
    out: opt.Out = None,
    overwrite: opt.Overwrite = False,
    seed: opt.Seed = None,
    epochs: opt.Epochs = None,
    max_steps: opt.MaxSteps = None,
    lr: opt.Lr = None,
    batch_size: opt.BatchSize = None,
    resume: opt.Resume = False,
    no_track: opt.NoTrack = False,
    set_: opt.Set = None,
) -> None:
    """Train and evaluate model(s) on a data file; writes a run directory with a report."""
    flags: dict[str, Any] = {
        **opt.data_flags(data=data, input_col=input_col, target_col=target_col,
                         modality=modality, task=task, split=split, out=out, seed=seed,
                         no_track=no_track, overwrite=overwrite),
        "split.n_folds": folds, "split.fold": fold, "model.families": model,
        **opt.trainer_flags(epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size,
                            resume=resume),
    }
    cfg = load_config(config, flags=flags, overrides=set_ or [])
    from scifm.recipes.train import train as run_train  # heavy: after the config

    result = run_train(cfg, command="scifm train")
    print_train_summary(result)
