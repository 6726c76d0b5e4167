"""``scifm auto``: the data flags of ``train`` + a budget -> :func:`scifm.recipes.auto.auto`.

``--time-budget`` is the whole run (data, search, refits, ensembles, report), counted from the
start of the process, and its exit (:data:`EXIT_SECONDS`).
``--n-trials`` is per family. ``--folds`` is the number of cross-validation folds on train+val.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from scifm.cli import options as opt
from scifm.cli.app import app, friendly_errors
from scifm.cli.output import family_warnings, metrics_table, print_trust, print_warnings
from scifm.config.load import load_config

EXIT_SECONDS = 2.5
"""Seconds of the time budget kept for the process's exit after the run's clock stops: on 2
cores the interpreter takes 2.5–3 s to free a run and unload torch (measured at the end of a
FreeSolv run), which the user waits for too."""

console = Console()


@app.command()
@friendly_errors
def auto(
    config: opt.Config = None,
    data: opt.Data = None,
    input_col: opt.InputCol = None,
    target_col: opt.TargetCol = None,
    modality: opt.Modality = None,
    task: opt.Task = None,
    split: opt.Split = None,
    families: opt.AutoFamilies = None,
    embed: opt.Embed = None,
    time_budget: opt.TimeBudget = None,
    n_trials: opt.NTrials = None,
    folds: opt.CvFolds = None,
    storage: opt.Storage = None,
    study_name: opt.AutoStudyName = None,
    workers: opt.Workers = None,
    out: opt.Out = None,
    overwrite: opt.Overwrite = False,
    seed: opt.Seed = None,
    no_track: opt.NoTrack = False,
    set_: opt.Set = None,
) -> None:
    """Search every suitable model family, refit the best of each, ensemble, evaluate on test."""
    flags: dict[str, Any] = {
        **opt.data_flags(data=data, input_col=input_col, target_col=target_col,
                         modality=modality, task=task, split=split, out=out, seed=seed,
                         no_track=no_track, overwrite=overwrite),
        "automl.auto.families": families,
        "automl.auto.embed": str(embed) if embed else None,
        **opt.search_flags(n_trials=n_trials, time_budget=time_budget, folds=folds,
                           storage=storage, study_name=study_name, workers=workers),
    }
    cfg = load_config(config, flags=flags,
                      overrides=opt.search_overrides(time_budget, n_trials, set_))
    from scifm.cli import started
    from scifm.recipes.auto import auto as run_auto  # heavy: after the config

    result = run_auto(cfg, command="scifm auto", started=started(), exit_seconds=EXIT_SECONDS)
    families_metrics = result.metrics.get("families", {})
    names = (["rmse", "mae", "r2", "spearman"] if "rmse" in result.metrics.get("test", {})
             else ["roc_auc", "pr_auc", "accuracy", "f1_macro", "mcc"])
    console.print(metrics_table(families_metrics, names))
    print_warnings(family_warnings(families_metrics))
    sel = result.metrics.get("selection", {})
    console.print(f"selected: [bold]{result.winner}[/] ({sel.get('kind')}, by {sel.get('by')})")
    print_trust(result.metrics)
    console.print(f"leaderboard: {result.leaderboard}")
    console.print(f"run directory: {result.run_dir}")
    console.print(f"report: [bold]{result.report}[/]")
