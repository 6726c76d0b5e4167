"""The options several subcommands share, and their mapping to config keys, written once.

Each alias is a typed, documented ``typer`` option; a subcommand lists the ones it takes
(``data: opt.Data = None``) and turns what was given into dotted config keys with
:func:`data_flags`, :func:`trainer_flags` and :func:`search_flags` (``None`` = not given, left to
the config file and the defaults).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from scifm.config.registry import MODALITIES

# -- every command that reads a data file (train, finetune, tune, auto) --
Config = Annotated[Path | None, typer.Option("--config", "-c", help="YAML experiment spec.")]
Data = Annotated[Path | None, typer.Option("--data", help="Input file (data.path).")]
InputCol = Annotated[str | None, typer.Option(help="Input column (data.input_col).")]
TargetCol = Annotated[list[str] | None, typer.Option(
    "--target-col", help="Target column, exactly as named in the file (commas included); "
    "repeat the flag for several targets (data.target_cols).")]
Modality = Annotated[str | None, typer.Option(
    help=f"{'|'.join(MODALITIES.names())} (data.modality; default smiles).")]
Task = Annotated[str | None, typer.Option(help="auto|regression|binary|multiclass (data.task).")]
Split = Annotated[str | None, typer.Option(
    help="random, stratified, scaffold, similarity, predefined or column:NAME (= predefined "
    "on column NAME), as in YAML (split.method).")]
Out = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Run directory (out); written as OUT.partial and moved into place when "
    "the run succeeded.")]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an earlier scifm run in --out once this run succeeded; without "
    "it a non-empty --out is refused (overwrite).")]
Seed = Annotated[int | None, typer.Option(help="Random seed (seed).")]
NoTrack = Annotated[bool, typer.Option("--no-track", help="Skip MLflow (tracking.enabled).")]
Set = Annotated[list[str] | None, typer.Option(
    "--set", help="Dotted override KEY=VALUE, e.g. --set train.lr=3e-5 (repeatable).")]

# -- the transformers.Trainer loop (train, finetune; pretrain takes Resume) --
Epochs = Annotated[float | None, typer.Option(help="Training epochs (train.epochs).")]
MaxSteps = Annotated[int | None, typer.Option(
    help="Stop after N optimiser steps (train.max_steps).")]
Lr = Annotated[float | None, typer.Option(help="Learning rate (train.lr).")]
BatchSize = Annotated[int | None, typer.Option(help="Batch size (train.batch_size).")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue from the last checkpoint of an interrupted run (kept in "
    "OUT.partial) or of OUT (train.keep_checkpoints); OUT is replaced when it succeeds "
    "(train.resume).")]

# -- the cross-validated searches (tune, auto) --
NTrials = Annotated[int | None, typer.Option(
    help="Trials per family searched (automl.tune.n_trials).")]
TimeBudget = Annotated[float | None, typer.Option(
    help="Seconds for the whole search, shared out over the families it searches; no trial "
    "starts after it (automl.tune.time_budget).")]
CvFolds = Annotated[int | None, typer.Option(
    "--folds", help="Cross-validation folds on train+val (automl.tune.folds, default 5).")]
Storage = Annotated[str | None, typer.Option(
    help="Optuna storage of the studies, default sqlite:///OUT/optuna.db; journal:///PATH or "
    "postgresql://... (automl.tune.storage).")]
StudyName = Annotated[str | None, typer.Option(
    help="Study name (auto: the prefix of its per-family studies, default scifm-auto); the same "
    "storage + name resumes (automl.tune.study_name).")]
Workers = Annotated[int | None, typer.Option(
    help="Processes sharing each study on this machine (automl.tune.workers); with --storage "
    "postgresql://... run the same command on other machines to add more.")]


def data_flags(*, data: Path | None, input_col: str | None, target_col: list[str] | None,
               modality: str | None, task: str | None, split: str | None, out: Path | None,
               seed: int | None, no_track: bool, overwrite: bool = False) -> dict[str, Any]:
    """Dotted config keys of the data-file options (``None`` = not given, left to the config).

    ``--split`` takes every form the YAML ``split`` key takes (a method or ``column:NAME``; the
    loader expands both the same way); each ``--target-col`` is one column, taken verbatim.
    """
    return {
        "data.path": str(data) if data else None, "data.input_col": input_col,
        "data.target_cols": list(target_col) if target_col else None, "data.modality": modality,
        "data.task": task, "out": str(out) if out else None, "seed": seed,
        "tracking.enabled": False if no_track else None, "split.method": split,
        "overwrite": True if overwrite else None,
    }


def trainer_flags(*, epochs: float | None, max_steps: int | None, lr: float | None,
                  batch_size: int | None, resume: bool) -> dict[str, Any]:
    """Dotted config keys of the Trainer options (``train.*``)."""
    return {"train.epochs": epochs, "train.max_steps": max_steps, "train.lr": lr,
            "train.batch_size": batch_size, "train.resume": True if resume else None}


def search_flags(*, n_trials: int | None, time_budget: float | None, folds: int | None,
                 storage: str | None, study_name: str | None,
                 workers: int | None) -> dict[str, Any]:
    """Dotted config keys of the search options (``automl.tune.*``)."""
    return {"automl.tune.n_trials": n_trials, "automl.tune.time_budget": time_budget,
            "automl.tune.folds": folds, "automl.tune.storage": storage,
            "automl.tune.study_name": study_name, "automl.tune.workers": workers}


def search_overrides(time_budget: float | None, n_trials: int | None,
                     set_: list[str] | None) -> list[str]:
    """The ``--set`` overrides of a search: ``--time-budget`` without ``--n-trials`` makes the
    time the only budget (``automl.tune.n_trials=null``), then the user's own."""
    untrialled = ["automl.tune.n_trials=null"] if time_budget and n_trials is None else []
    return [*untrialled, *(set_ or [])]
