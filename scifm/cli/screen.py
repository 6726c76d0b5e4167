"""``scifm screen``: rank a library of any size with a trained run; keep the best K per target.

Parse, call :func:`scifm.recipes.screen.screen`, print a short summary (rows, rejected, rate,
top hit). Every check of the options is the recipe's (one-line errors).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console

if TYPE_CHECKING:
    from scifm.screening.summary import ScreenSummary


@app.command()
@friendly_errors
def screen(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train` / "
                                   "`auto` / `compress` (the full model)."),
    library: Path = typer.Option(..., "--library", help="Inputs to screen: CSV / TSV / "
                                 "Parquet / JSONL / FASTA / SDF, or .smi / .txt with one input "
                                 "per line (.gz too); streamed, any size."),
    top: int = typer.Option(100, "--top", help="Hits to keep per target (K)."),
    out: Path = typer.Option(..., "--out", "-o", help="The hits: Parquet (or CSV for a .csv "
                             "name)."),
    target: list[str] = typer.Option([], "--target", help="Target to rank by (repeatable; "
                                     "multiclass: a class)  [dim]\\[default: every target][/dim]"),
    direction: str | None = typer.Option(None, "--direction", help="max | min  [dim]\\[default: "
                                         "max for classification (probability of the positive "
                                         "class); required for regression][/dim]"),
    input_col: str | None = typer.Option(None, help="Input column (default: as in training)."),
    id_col: str | None = typer.Option(None, help="Column copied to the outputs as `id` (.smi: "
                                      "the words after the SMILES are `id`)."),
    fmt: str = typer.Option("auto", "--format", help="auto (from the suffix) | csv | tsv | "
                            "parquet | jsonl | fasta | sdf | smi | lines."),
    chunksize: int = typer.Option(5_000, help="Rows per chunk (memory stays flat)."),
    workers: int = typer.Option(0, help="Worker processes or Ray actors (0: all cores for "
                                "LightGBM, 1 for transformers)."),
    dedupe: bool = typer.Option(True, "--dedupe/--no-dedupe", help="Score each canonical form "
                                "once; later copies go to the rejects file as duplicates."),
    filters: str | None = typer.Option(None, "--filters", help="Molecule flags on the hits: "
                                       "pains,brenk,ro5 or none  [dim]\\[default: all three for "
                                       "SMILES runs][/dim]"),
    exclude_flagged: bool = typer.Option(False, help="Keep no flagged molecule among the hits."),
    all_scores: Path | None = typer.Option(None, "--all-scores", help="Also write every scored "
                                           "row to this Parquet file."),
    rejects: Path | None = typer.Option(None, "--rejects", help="Invalid and duplicate rows "
                                        "with the reason  [dim]\\[default: OUT_STEM.rejects.csv"
                                        "][/dim]"),
    restart: bool = typer.Option(False, help="Discard an interrupted screen's state "
                                 "(OUT_STEM.screen/) and start over."),
    fast: Path | None = typer.Option(None, "--fast", help="Cascade: this (fast) run scores the "
                                     "library, RUN_DIR re-scores the best fraction."),
    rescore_top: float = typer.Option(0.05, help="Cascade: fraction of the library the full "
                                      "model re-scores (at least K rows)."),
    recall_sample: int = typer.Option(2_000, help="Cascade: random rows scored by both models "
                                      "to measure the cascade's recall."),
    engine: str = typer.Option("local", help="local (worker processes) | ray (a Ray Data "
                               "actor pool; RAY_ADDRESS names a cluster)."),
    seed: int = typer.Option(0, help="Seed of the recall sample."),
) -> None:
    """Screen a library: stream it, score it, keep the best K per target with uncertainty,
    nearest-training-neighbour similarity and molecule flags; resumable."""
    from scifm.recipes.screen import ScreenOptions
    from scifm.recipes.screen import screen as run_screen

    opts = ScreenOptions(top=top, targets=target or None, direction=direction,  # type: ignore
                         input_col=input_col, id_col=id_col, fmt=fmt, chunksize=chunksize,
                         workers=workers, dedupe=dedupe, filters=filters,
                         exclude_flagged=exclude_flagged, all_scores=all_scores,
                         rejects=rejects, restart=restart, fast=fast, rescore_top=rescore_top,
                         recall_sample=recall_sample, engine=engine, seed=seed)
    print_summary(run_screen(run_dir, library, out, opts))


def print_summary(s: ScreenSummary) -> None:
    """Rows, rejected, rate, the top hit of each target, the cascade's recall, the files."""
    console.print(f"screened {s.n_input:,} rows: {s.n_scored:,} scored, {s.n_rejected:,} "
                  f"rejected, {s.n_duplicates:,} duplicates ({s.molecules_per_s:,.0f} rows/s, "
                  f"{s.seconds:.1f} s" + (f", {s.n_resumed:,} resumed" if s.n_resumed else "")
                  + ")", markup=False)
    for name, info in s.targets.items():
        hit = info["top_hit"]
        best = "no hit" if hit is None else f"top hit {hit['input']} ({info['score']} = " \
            f"{hit['score']:.4g}, row {hit['row_id']})"
        console.print(f"{name} ({info['direction']}): {info['n_hits']} hits; {best}",
                      markup=False)
    if s.cascade:
        recalls = ", ".join(f"{t} {_fmt(r['recall'])} (of {r['n_reference']})"
                            for t, r in s.cascade["recall"].items())
        console.print(f"cascade: {s.cascade['n_rescored']:,} rows re-scored; recall on "
                      f"{s.cascade['recall_sample']:,} sampled rows: {recalls}", markup=False)
    console.print(f"wrote {s.files['hits']}, {s.files['rejects']}, {s.files['summary']}"
                  + (f", {s.files['all_scores']}" if "all_scores" in s.files else ""),
                  markup=False)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"
