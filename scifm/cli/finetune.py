"""``scifm finetune``: flags (or a YAML spec) -> config -> :func:`scifm.recipes.finetune`."""

from __future__ import annotations

from typing import Any

import typer

from scifm.cli import options as opt
from scifm.cli.app import app, friendly_errors
from scifm.cli.output import print_train_summary
from scifm.config.load import load_config

__all__ = ["finetune"]


@app.command()
@friendly_errors
def finetune(
    config: opt.Config = None,
    data: opt.Data = None,
    input_col: opt.InputCol = None,
    target_col: opt.TargetCol = None,
    modality: opt.Modality = None,
    task: str | None = typer.Option(None, help=opt.task_help(opt.TASKS)),
    split: opt.Split = None,
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
    """Fine-tune a transformer: one prediction per input, or one label per word / residue
    (--task token_classification); writes a run directory with a report.
    """
    flags: dict[str, Any] = {
        **opt.data_flags(data=data, input_col=input_col, target_col=target_col,
                         modality=modality, task=task, split=split, out=out, seed=seed,
                         no_track=no_track, overwrite=overwrite),
        **opt.trainer_flags(epochs=epochs, max_steps=max_steps, lr=lr, batch_size=batch_size,
                            resume=resume),
    }
    cfg = load_config(config, flags=flags, overrides=set_ or [])
    from scifm.recipes.finetune import finetune as run_finetune  # heavy: after the config

    result = run_finetune(cfg, command="scifm finetune")
    print_train_summary(result)
