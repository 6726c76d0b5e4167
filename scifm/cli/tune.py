"""``scifm tune``: the data flags of ``train`` + a search budget -> :func:`scifm.recipes.tune.tune`.

``--folds`` here is the number of cross-validation folds on train+val (``automl.tune.folds``);
the k-fold *test-split* variant of ``train`` stays reachable as ``--set split.n_folds=K``.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

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
from scifm.config.load import load_config
from scifm.models.registry import tunable_families

console = Console()


@app.command()
@friendly_errors
def tune(
    config: ConfigOpt = None,
    data: DataOpt = None,
    input_col: InputColOpt = None,
    target_col: TargetColOpt = None,
    modality: ModalityOpt = None,
    task: TaskOpt = None,
    split: SplitOpt = None,
    family: str | None = typer.Option(
        None, help=f"Family to tune (automl.tune.family): {'|'.join(tunable_families())}."),
    n_trials: int | None = typer.Option(None, help="Trials to run (automl.tune.n_trials)."),
    time_budget: float | None = typer.Option(
        None, help="Stop starting trials after SECONDS (automl.tune.time_budget)."),
    folds: int | None = typer.Option(None, help="Cross-validation folds on train+val "
                                     "(automl.tune.folds, default 5)."),
    storage: str | None = typer.Option(None, help="Optuna storage URL, default "
                                       "sqlite:///OUT/optuna.db (automl.tune.storage)."),
    study_name: str | None = typer.Option(None, help="Study name; same storage + name resumes "
                                          "(automl.tune.study_name)."),
    workers: int | None = typer.Option(
        None, help="Processes sharing the study on this machine (automl.tune.workers); "
        "with --storage postgresql://... run the same command on other machines to add more."),
    out: OutOpt = None,
    seed: SeedOpt = None,
    no_track: NoTrackOpt = False,
    set_: SetOpt = None,
) -> None:
    """Tune one model family by cross-validation, refit the best, evaluate on test."""
    flags: dict[str, Any] = {
        **data_flags(data=data, input_col=input_col, target_col=target_col, modality=modality,
                     task=task, split=split, out=out, seed=seed, no_track=no_track),
        "automl.tune.family": family, "automl.tune.n_trials": n_trials,
        "automl.tune.time_budget": time_budget, "automl.tune.folds": folds,
        "automl.tune.storage": storage, "automl.tune.study_name": study_name,
        "automl.tune.workers": workers,
    }
    # --time-budget without --n-trials: the time is the only budget
    untrialled = ["automl.tune.n_trials=null"] if time_budget and n_trials is None else []
    cfg = load_config(config, flags=flags, overrides=[*untrialled, *(set_ or [])])
    from scifm.recipes.tune import tune as run_tune  # heavy: after the config

    result = run_tune(cfg, command="scifm tune")
    test = result.metrics.get("test", {})
    name = result.metrics.get("cv", {}).get("metric", "")
    value = test.get(name, {}).get("value") if isinstance(test.get(name), dict) else None
    console.print(f"best {result.family} of {result.n_trials} trials: cv {name} "
                  f"{result.cv_mean:.4f} ± {result.cv_std:.4f}; test {name} "
                  f"{'n/a' if value is None else f'{value:.4f}'}")
    console.print(f"leaderboard: {result.leaderboard}")
    console.print(f"run directory: {result.run_dir}")
