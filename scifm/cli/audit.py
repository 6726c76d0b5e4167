"""``scifm audit``: is the model equally good for every group? (fairness, Fairlearn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console, print_warnings


def _cell(value: Any) -> str:
    return "n/a" if value is None or value != value else (
        f"{value:.3f}" if isinstance(value, float) else str(value))


def _print_audit(result: dict[str, Any]) -> None:
    """Per-group table, the differences with their verdicts, the mitigation's table."""
    fairness = result["fairness"]
    keys = [k for k in fairness["groups"][0] if k != "group"]
    table = Table(title=f"{result['target']} by {result['group_col']} ({result['n_rows']} rows)")
    for name in ("group", *keys):
        table.add_column(name, justify="left" if name == "group" else "right")
    for g in fairness["groups"]:
        table.add_row(str(g["group"]), *(_cell(g[k]) for k in keys))
    console.print(table)
    for name, means in (result.get("group_labels") or {}).items():
        console.print(f"{name} = {means}", highlight=False)
    for name, d in fairness["differences"].items():
        console.print(f"[bold]{name}[/bold] {d['verdict']}: {d['text']}", highlight=False)
    mitigation = result.get("mitigation")
    if mitigation:
        mt = Table(title=f"mitigation: {mitigation['constraint']} (on the audited rows)")
        for name in mitigation["table"]["header"]:
            mt.add_column(name, justify="left" if name == "metric" else "right")
        for row in mitigation["table"]["rows"]:
            mt.add_row(*(_cell(v) for v in row))
        console.print(mt)
        if mitigation.get("run_dir"):
            console.print(f"mitigated run: {mitigation['run_dir']}", highlight=False)
    print_warnings(list(fairness.get("warnings") or []), result.get("notes") or ())


@app.command()
@friendly_errors
def audit(
    run_dir: Path | None = typer.Argument(None, help="A run directory written by `scifm "
                                          "train` (optional with --predictions)."),
    group_col: str = typer.Option(..., "--group-col", help="Column of the groups, or "
                                  "derived:scaffold, derived:bins:COLUMN[:K] (quantile bins)."),
    data: Path | None = typer.Option(None, "--data", help="Labelled file the run predicts."),
    predictions: Path | None = typer.Option(None, "--predictions", help="A predictions file "
                                            "(true_<target>, prob_/pred_<target>, the group "
                                            "column) instead of --data."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default "
                                    "RUN_DIR/audit)."),
    target: str | None = typer.Option(None, help="Target to audit (when there are several)."),
    positive: str | None = typer.Option(None, help="Positive class of a predictions file's "
                                        "labels (default 1 / true / yes)."),
    input_col: str | None = typer.Option(None, help="Input column (default: as in training)."),
    mitigate: str | None = typer.Option(None, help="equalized_odds or "
                                        "true_positive_rate_parity: per-group thresholds "
                                        "(Fairlearn ThresholdOptimizer)."),
    mitigated_out: Path | None = typer.Option(None, help="The mitigated run directory "
                                              "(default RUN_DIR-<constraint>)."),
    tolerance: float | None = typer.Option(None, help="Largest difference called fair "
                                           "(default 0.1 of a rate; regression: 0.2 of the "
                                           "overall error)."),
    n_bootstrap: int = typer.Option(1000, help="Bootstrap resamples of the intervals."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
) -> None:
    """Per-group metrics and the differences between groups, with CIs and verdicts."""
    from scifm.recipes.audit import audit as run_audit

    result = run_audit(run_dir, group_col, data, predictions=predictions, out=out,
                       target=target, positive=positive, input_col=input_col,
                       mitigate=mitigate, mitigated_out=mitigated_out, tolerance=tolerance,
                       n_bootstrap=n_bootstrap, seed=seed)
    _print_audit(result)
