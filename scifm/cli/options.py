"""The options several subcommands share, and their mapping to config keys, written once.

Each alias is a typed, documented ``typer`` option; a subcommand lists the ones it takes
(``data: opt.Data = None``) and turns what was given into dotted config keys with
:func:`data_flags`, :func:`trainer_flags` and :func:`search_flags` (``None`` = not given, left to
the config file and the defaults).

``--help`` shows the effective defaults and every choice: both are read from the config schema
(:data:`DEFAULTS`, the ``Literal`` types of its fields) and the registries (families,
modalities, a modality's default split and input column), never copied here as values that can
drift. An option's own default stays ``None`` (not given), so ``--help`` shows the schema's
default with :func:`default` instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.markup import escape

from scifm.config.registry import MODALITIES
from scifm.config.schema import ExperimentConfig, TaskKind
from scifm.config.split import SplitMethod
from scifm.models.registry import auto_families, trainable_families, tunable_families

DEFAULTS = ExperimentConfig()
"""The schema's defaults (what a run uses for a key that no file, flag or ``--set`` gives)."""
TASKS: tuple[str, ...] = get_args(TaskKind)
"""Every ``data.task``."""
SEQUENCE_TASKS = tuple(t for t in TASKS if t != "token_classification")
"""The tasks of ``train``, ``tune`` and ``auto`` (one prediction per input)."""


def default(value: object) -> str:
    """`` [default: VALUE]`` for a help text (dim, as Typer shows its own defaults); a list is
    shown as ``a, b, c`` (with spaces, so that a narrow terminal wraps it instead of cutting it
    short), ``None`` as ``none``."""
    if isinstance(value, (list, tuple)):
        value = one_of(map(str, value))
    elif isinstance(value, float):
        value = f"{value:g}"
    shown = "none" if value is None else str(value)
    return f"  [dim]\\[default: {escape(shown)}][/dim]"


def one_of(names: Iterable[str]) -> str:
    """The choices of an option, all of them: ``a, b, c``."""
    return ", ".join(names)


def by_modality(attr: str) -> str:
    """A per-modality default, ``by modality (smiles: scaffold, protein: similarity, ...)``
    (read from the modality plug-ins)."""
    def value(spec: Any) -> str:
        v = getattr(spec, attr)
        return ",".join(v) if isinstance(v, (list, tuple)) else str(v)
    return f"by modality ({', '.join(f'{spec.name}: {value(spec)}' for spec in MODALITIES)})"


def task_help(tasks: Iterable[str]) -> str:
    """``--task``: its choices and default."""
    return f"Task (data.task): {one_of(tasks)}.{default(DEFAULTS.data.task)}"


# -- every command that reads a data file (train, finetune, tune, auto) --
Config = Annotated[Path | None, typer.Option(
    "--config", "-c", help="YAML experiment spec (defaults <- file <- flags <- --set).")]
Data = Annotated[Path | None, typer.Option("--data", help="Input file (data.path).")]
InputCol = Annotated[str | None, typer.Option(
    help=f"Input column (data.input_col).{default(by_modality('input_cols'))}")]
TargetCol = Annotated[list[str] | None, typer.Option(
    "--target-col", metavar="<col>", help="Target column, exactly as named in the file (commas "
    "included); repeat the flag for several targets (data.target_cols).")]
Modality = Annotated[str | None, typer.Option(
    help=f"Input modality (data.modality): {one_of(MODALITIES.names())}."
    f"{default(DEFAULTS.data.modality)}")]
Task = Annotated[str | None, typer.Option(help=task_help(SEQUENCE_TASKS))]
Split = Annotated[str | None, typer.Option(
    help=f"Split method (split.method): {one_of(get_args(SplitMethod))} or column:NAME "
    f"(= predefined on column NAME), as in YAML.{default(by_modality('default_split'))}")]
Out = Annotated[Path | None, typer.Option(
    "--out", "-o", help="Run directory (out); written as OUT.partial and moved into place when "
    f"the run succeeded.{default(DEFAULTS.out)}")]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an earlier scifm run in --out once this run succeeded; without "
    "it a non-empty --out is refused (overwrite).")]
Seed = Annotated[int | None, typer.Option(help=f"Random seed (seed).{default(DEFAULTS.seed)}")]
NoTrack = Annotated[bool, typer.Option(
    "--no-track", help="Skip MLflow (tracking.enabled=false); tracked by default.")]
Set = Annotated[list[str] | None, typer.Option(
    "--set", metavar="<k=v>", help="Dotted override KEY=VALUE, e.g. --set train.lr=3e-5 "
    "(repeatable).")]
Model = Annotated[str | None, typer.Option(
    help=f"Model families, comma-separated (model.families): {one_of(trainable_families())}."
    f"{default(DEFAULTS.model.families)}")]

# -- the transformers.Trainer loop (train, finetune; pretrain takes Resume) --
Epochs = Annotated[float | None, typer.Option(
    help=f"Training epochs (train.epochs).{default(DEFAULTS.train.epochs)}")]
MaxSteps = Annotated[int | None, typer.Option(
    help="Stop after N optimiser steps (train.max_steps; overrides --epochs)."
    f"{default('none' if DEFAULTS.train.max_steps < 1 else DEFAULTS.train.max_steps)}")]
Lr = Annotated[float | None, typer.Option(
    help=f"Learning rate (train.lr).{default(DEFAULTS.train.lr)}")]
BatchSize = Annotated[int | None, typer.Option(
    help=f"Batch size (train.batch_size).{default(DEFAULTS.train.batch_size)}")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue from the last checkpoint of an interrupted run (kept in "
    "OUT.partial) or of OUT (train.keep_checkpoints); OUT is replaced when it succeeds "
    "(train.resume).")]

# -- the cross-validated searches (tune, auto) --
_TUNE = DEFAULTS.automl.tune
NTrials = Annotated[int | None, typer.Option(
    help=f"Trials per family searched (automl.tune.n_trials).{default(_TUNE.n_trials)}")]
TimeBudget = Annotated[float | None, typer.Option(
    help="Seconds for the whole search, shared out over the families it searches; no trial "
    "starts after it; alone, it is the only budget (automl.tune.time_budget)."
    f"{default(_TUNE.time_budget)}")]
CvFolds = Annotated[int | None, typer.Option(
    "--folds", help="Cross-validation folds on train+val (automl.tune.folds)."
    f"{default(_TUNE.folds)}")]
Storage = Annotated[str | None, typer.Option(
    help="Optuna storage of the studies: sqlite:///PATH, journal:///PATH or "
    f"postgresql://... (automl.tune.storage).{default('sqlite:///OUT/optuna.db')}")]
Workers = Annotated[int | None, typer.Option(
    help="Processes sharing each study on this machine (automl.tune.workers); with --storage "
    "postgresql://... run the same command on other machines to add more."
    f"{default(_TUNE.workers)}")]
TuneFamily = Annotated[str | None, typer.Option(
    help=f"Family to tune (automl.tune.family): {one_of(tunable_families())}."
    f"{default(_TUNE.family)}")]
AutoFamilies = Annotated[str | None, typer.Option(
    help=f"Comma-separated families to search (automl.auto.families): "
    f"{one_of(tunable_families())}.{default(auto_families())}")]

Embed = Annotated[Path | None, typer.Option(
    "--embed", metavar="<path>", help="A pretrained encoder folder (a scifm pretrain run's "
    "model/ or a local Hugging Face checkpoint): its mean-pooled embeddings, alone and joined "
    "with the modality's default features, join the searched feature sets "
    f"(automl.auto.embed).{default(DEFAULTS.automl.auto.embed)}")]


_STUDY = "Study name (automl.tune.study_name); the same storage + name resumes."
TuneStudyName = Annotated[str | None, typer.Option(help=f"{_STUDY}{default('scifm-FAMILY')}")]
AutoStudyName = Annotated[str | None, typer.Option(
    help=f"Prefix of the per-family studies (automl.tune.study_name); the same storage + name "
    f"resumes.{default('scifm-auto')}")]


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
