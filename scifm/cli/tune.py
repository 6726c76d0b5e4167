"""``scifm tune``: the data flags of ``train`` + a search budget -> :func:`scifm.recipes.tune.tune`.

``--folds`` here is the number of cross-validation folds on train+val (``automl.tune.folds``);
the k-fold *test-split* variant of ``train`` stays reachable as ``--set split.n_folds=K``.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

from scifm.cli import options as opt
from scifm.cli.app import app, friendly_errors
from scifm.cli.output import print_warnings
from scifm.config.load import load_config

console = Console()


@app.command()
@friendly_errors
def tune(
    config: opt.Config = None,
    data: opt.Data = None,
    input_col: opt.InputCol = None,
    target_col: opt.TargetCol = None,
    modality: opt.Modality = None,
    task: opt.Task = None,
    split: opt.Split = None,
    family: opt.TuneFamily = None,
    n_trials: opt.NTrials = None,
    time_budget: opt.TimeBudget = None,
    folds: opt.CvFolds = None,
    storage: opt.Storage = None,
    study_name: opt.TuneStudyName = None,
    workers: opt.Workers = None,
    out: opt.Out = None,
    overwrite: opt.Overwrite = False,
    seed: opt.Seed = None,
    no_track: opt.NoTrack = False,
    set_: opt.Set = None,
) -> None:
    """Tune one model family by cross-validation, refit the best, evaluate on test."""
    flags: dict[str, Any] = {
        **opt.data_flags(data=data, input_col=input_col, target_col=target_col,
                         modality=modality, task=task, split=split, out=out, seed=seed,
                         no_track=no_track, overwrite=overwrite),
        "automl.tune.family": family,
        **opt.search_flags(n_trials=n_trials, time_budget=time_budget, folds=folds,
                           storage=storage, study_name=study_name, workers=workers),
    }
    cfg = load_config(config, flags=flags,
                      overrides=opt.search_overrides(time_budget, n_trials, set_))
    from scifm.recipes.tune import tune as run_tune  # heavy: after the config

    result = run_tune(cfg, command="scifm tune")
    test = result.metrics.get("test", {})
    name = result.metrics.get("cv", {}).get("metric", "")
    value = test.get(name, {}).get("value") if isinstance(test.get(name), dict) else None
    console.print(f"best {result.family} of {result.n_trials} trials: cv {name} "
                  f"{result.cv_mean:.4f} ± {result.cv_std:.4f}; test {name} "
                  f"{'n/a' if value is None else f'{value:.4f}'}")
    print_warnings(result.metrics.get("warnings", []))
    console.print(f"leaderboard: {result.leaderboard}")
    console.print(f"run directory: {result.run_dir}")
