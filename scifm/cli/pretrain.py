"""``scifm pretrain``: corpus flags (or a YAML spec) -> config -> :func:`scifm.recipes.pretrain`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from scifm.cli import options as opt
from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console
from scifm.config.load import load_config
from scifm.config.training import PRETRAIN_DEFAULT_STEPS


@app.command()
@friendly_errors
def pretrain(
    config: opt.Config = None,
    data: Path | None = typer.Option(None, "--data", help="Corpus: text (one item per line, "
                                     ".gz too), CSV/TSV/Parquet/JSONL column or FASTA "
                                     "(data.path)."),
    input_col: str | None = typer.Option(None, help="Column of a table corpus "
                                         "(data.input_col)."),
    modality: opt.Modality = None,
    out: opt.Out = None,
    overwrite: opt.Overwrite = False,
    max_steps: int | None = typer.Option(None, help="Optimiser steps (train.max_steps)."
                                         f"{opt.default(PRETRAIN_DEFAULT_STEPS)}"),
    seed: opt.Seed = None,
    resume: opt.Resume = False,
    no_track: opt.NoTrack = False,
    set_: list[str] | None = typer.Option(None, "--set", metavar="<k=v>",
                                          help="Dotted override KEY=VALUE, e.g. --set "
                                          "pretrain.mask_prob=0.2 (repeatable)."),
) -> None:
    """Masked-language-model pretraining on a corpus; writes a reusable checkpoint to OUT/model."""
    flags: dict[str, Any] = {
        "data.path": str(data) if data else None, "data.input_col": input_col,
        "data.modality": modality, "out": str(out) if out else None, "seed": seed,
        "overwrite": True if overwrite else None,
        "train.max_steps": max_steps, "train.resume": True if resume else None,
        "tracking.enabled": False if no_track else None,
    }
    cfg = load_config(config, flags=flags, overrides=set_ or [])
    from scifm.recipes.pretrain import pretrain as run_pretrain  # heavy: after the config

    result = run_pretrain(cfg, command="scifm pretrain")
    test = result.metrics["test"]
    console.print(
        f"held-out mlm_accuracy {test['mlm_accuracy']['value']:.4f}, perplexity "
        f"{test['perplexity']['value']:.4g}; checkpoint: {result.model_dir}", highlight=False)
