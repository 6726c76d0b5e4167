"""``scifm explain``: which atoms / residues / words drive a trained model's predictions."""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console, print_warnings


@app.command()
@friendly_errors
def explain(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train`."),
    data: Path = typer.Option(..., "--data", help="File whose inputs are explained (labels "
                              "not needed)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: explain.json, "
                             "attributions.csv, explain.html (an earlier explanation there is "
                             "replaced, anything else refused)."),
    input_col: str | None = typer.Option(None, help="Input column (default: as in training)."),
    target: str | None = typer.Option(None, help="Target explained (default: the first)."),
    max_rows: int = typer.Option(500, min=1, help="Rows explained (the first ones; bounds the "
                                 "time)."),
    max_examples: int = typer.Option(50, min=0, help="Inputs drawn in explain.html."),
    fraction: float = typer.Option(0.2, help="Share of units deleted by the faithfulness test."),
    n_random: int = typer.Option(5, min=1, help="Random deletions averaged per input."),
    seed: int = typer.Option(0, help="Seed of the random deletions and the bootstrap."),
    method: str = typer.Option("occlusion", help="Attributions: occlusion (one unit masked at "
                               "a time), sampling (random masks hiding --fraction of the "
                               "units, RISE), gradients (Integrated Gradients, transformers; "
                               "needs captum) or shap (TreeSHAP of the ECFP bits of a LightGBM "
                               "model, shared among the atoms of each bit's environments)."),
    n_samples: int = typer.Option(128, min=2, help="Masks per input for --method sampling."),
) -> None:
    """Attributions of atoms, residues or words through the model's predictions (occlusion), a
    deletion test of their faithfulness (top-k% vs random, with CIs) and a self-contained page."""
    from scifm.recipes.explain import explain as run_explain

    summary = run_explain(run_dir, data, out, input_col=input_col, target=target,
                          max_rows=max_rows, max_examples=max_examples, fraction=fraction,
                          n_random=n_random, seed=seed, method=method, n_samples=n_samples)
    faith = summary["faithfulness"]
    ratio = faith["ratio"]
    console.print(f"explained {summary['n_explained']} inputs ({summary['n_invalid']} invalid) "
                  f"of {summary['data']}: {summary['explained']}")
    console.print(f"faithfulness: top-{100 * faith['fraction']:.0f}% deletion / random = "
                  f"{ratio['value']:.2f} [{ratio['ci95'][0]:.2f}, {ratio['ci95'][1]:.2f}]")
    print_warnings(summary["warnings"])
    console.print(f"written to {out}/explain.html")
