"""``scifm register RUN_DIR --name NAME``: a run's model -> a version in the MLflow registry."""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console

__all__ = ["register"]


@app.command()
@friendly_errors
def register(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train` (or "
                                   "tune / auto / finetune)."),
    name: str = typer.Option(..., "--name", help="Registered model name (letters, digits, "
                             "'.', '_', '-'); each call adds a version."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking / registry URI  [dim]\\[default: "
        "$MLFLOW_TRACKING_URI, else sqlite:///<run parent>/mlflow.db][/dim]"),
) -> None:
    """Register the run's model folder (with its model card) in the MLflow model registry;
    `scifm predict models:/NAME/VERSION` then predicts with it."""
    from scifm.recipes.registry import register as run_register

    ref = run_register(run_dir, name, tracking_uri)
    console.print(f"registered {ref.uri} in {ref.tracking_uri}")
    console.print(f"predict with: scifm predict {ref.uri} --tracking-uri {ref.tracking_uri} "
                  "--data FILE --out predictions.csv", soft_wrap=True)
