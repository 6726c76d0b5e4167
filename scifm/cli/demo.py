"""``scifm demo``: the main job on FreeSolv, shipped inside scifm (offline, nothing downloaded).

The data and their provenance: :mod:`scifm.data.demo`, ``scifm/data/bundled/PROVENANCE.md``.
"""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli import options as opt
from scifm.cli.app import app, friendly_errors
from scifm.cli.output import print_train_summary


@app.command()
@friendly_errors
def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="Run directory."),
    overwrite: opt.Overwrite = False,
    seed: int = typer.Option(0, help="Random seed."),
    set_: opt.Set = None,
) -> None:
    """FreeSolv hydration free energies: clean, scaffold split, LightGBM + transformer, report."""
    from scifm.data.demo import demo_config
    from scifm.recipes.train import train

    overrides = [*(["overwrite=true"] if overwrite else []), *(set_ or [])]
    result = train(demo_config(out, overrides=overrides, seed=seed), command="scifm demo")
    print_train_summary(result)
