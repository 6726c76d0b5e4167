"""``scifm predict`` and ``scifm evaluate``: use a trained run directory on new data."""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console, print_evaluate_summary


@app.command()
@friendly_errors
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train`, or "
                                   "models:/NAME/VERSION (a model `scifm register` registered)."),
    data: Path = typer.Option(..., "--data", help="File to predict (any supported format)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output CSV, one row per input row "
                             "(never the --data file)."),
    input_col: str | None = typer.Option(None, help="Input column (default: as in training)."),
    id_col: str | None = typer.Option(None, help="Column copied to the output as `id`."),
    chunksize: int = typer.Option(5_000, help="Rows per chunk (memory stays flat)."),
    workers: int = typer.Option(0, help="Worker processes (0: all cores for LightGBM, 1 for "
                                "transformers)."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="Registry of a models:/ RUN_DIR  [dim]\\[default: "
        "$MLFLOW_TRACKING_URI, else sqlite:///mlflow.db][/dim]"),
) -> None:
    """Predict new data in chunks; invalid rows get status=invalid and a reason (and, when the
    model has an uncertainty layer, intervals / sets, similarity to the training set)."""
    from scifm.recipes.predict import predict as run_predict
    from scifm.recipes.registry import resolve_run_dir

    run_dir = resolve_run_dir(run_dir, tracking_uri)  # models:/NAME/VERSION -> fetched
    summary = run_predict(run_dir, data, out, input_col=input_col, id_col=id_col,
                          chunksize=chunksize, workers=workers)
    console.print(f"wrote {summary.n_rows} rows ({summary.n_invalid} invalid) to {summary.out}")


@app.command()
@friendly_errors
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train`."),
    data: Path = typer.Option(..., "--data", help="Labelled file with the training targets."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder "
                                    "(default RUN_DIR/evaluations/<name>); an earlier "
                                    "evaluation there is replaced, anything else refused."),
    input_col: str | None = typer.Option(None, help="Input column (default: as in training)."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
) -> None:
    """Metrics with confidence intervals and a report for new labelled data."""
    from scifm.recipes.evaluate import evaluate as run_evaluate

    metrics = run_evaluate(run_dir, data, out=out, input_col=input_col, seed=seed)
    print_evaluate_summary(metrics)
