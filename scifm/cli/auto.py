"""``scifm auto``: the data flags of ``train`` + a budget -> :func:`scifm.recipes.auto.auto`.

``--time-budget`` is the whole search (all families); refits and the ensemble come after it.
``--n-trials`` is per family. ``--folds`` is the number of cross-validation folds on train+val.
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
from scifm.cli.output import metrics_table
from scifm.config.load import load_config
from scifm.models.registry import auto_families

console = Console()


@app.command()
@friendly_errors
def auto(
    config: ConfigOpt = None,
    data: DataOpt = None,
    input_col: InputColOpt = None,
    target_col: TargetColOpt = None,
    modality: ModalityOpt = None,
    task: TaskOpt = None,
    split: SplitOpt = None,
    families: str | None = typer.Option(
        None, help="Comma-separated families to search (automl.auto.families; default: "
        f"{','.join(auto_families())})."),
    time_budget: float | None = typer.Option(
        None, help="Seconds for the whole search, shared out over the families "
        "(automl.tune.time_budget)."),
    n_trials: int | None = typer.Option(None, help="Trials per family (automl.tune.n_trials)."),
    folds: int | None = typer.Option(None, help="Cross-validation folds on train+val "
                                     "(automl.tune.folds, default 5)."),
    storage: str | None = typer.Option(
        None, help="Optuna storage for the studies, default sqlite:///OUT/optuna.db; "
        "journal:///PATH or postgresql://... (automl.tune.storage)."),
    study_name: str | None = typer.Option(
        None, help="Prefix of the per-family study names, default scifm-auto "
        "(automl.tune.study_name)."),
    workers: int | None = typer.Option(
        None, help="Processes sharing each family's study (automl.tune.workers)."),
    out: OutOpt = None,
    seed: SeedOpt = None,
    no_track: NoTrackOpt = False,
    set_: SetOpt = None,
) -> None:
    """Search every suitable model family, refit the best of each, ensemble, evaluate on test."""
    flags: dict[str, Any] = {
        **data_flags(data=data, input_col=input_col, target_col=target_col, modality=modality,
                     task=task, split=split, out=out, seed=seed, no_track=no_track),
        "automl.auto.families": families, "automl.tune.n_trials": n_trials,
        "automl.tune.time_budget": time_budget, "automl.tune.folds": folds,
        "automl.tune.storage": storage, "automl.tune.study_name": study_name,
        "automl.tune.workers": workers,
    }
    # --time-budget without --n-trials: the time is the only budget
    untrialled = ["automl.tune.n_trials=null"] if time_budget and n_trials is None else []
    cfg = load_config(config, flags=flags, overrides=[*untrialled, *(set_ or [])])
    from scifm.recipes.auto import auto as run_auto  # heavy: after the config

    result = run_auto(cfg, command="scifm auto")
    families_metrics = result.metrics.get("families", {})
    names = (["rmse", "mae", "r2", "spearman"] if "rmse" in result.metrics.get("test", {})
             else ["roc_auc", "pr_auc", "accuracy", "f1_macro", "mcc"])
    console.print(metrics_table(families_metrics, names))
    sel = result.metrics.get("selection", {})
    console.print(f"selected: [bold]{result.winner}[/] ({sel.get('kind')}, by {sel.get('by')})")
    console.print(f"leaderboard: {result.leaderboard}")
    console.print(f"run directory: {result.run_dir}")
    console.print(f"report: [bold]{result.run_dir / 'report.html'}[/]")
