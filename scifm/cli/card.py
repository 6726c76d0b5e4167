"""``scifm card RUN_DIR``: (re)write the run's model card ``model/README.md``."""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console

__all__ = ["card"]


@app.command()
@friendly_errors
def card(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train` (or "
                                   "tune / auto / finetune)."),
) -> None:
    """Write the Hugging Face model card RUN_DIR/model/README.md from the run's files (metrics,
    data provenance, leakage audit, uncertainty, fairness audit, privacy); run it again after
    `scifm audit`."""
    from scifm.recipes.registry import write_model_card

    path = write_model_card(run_dir)
    console.print(f"wrote the model card {path}")
