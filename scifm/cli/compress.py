"""``scifm compress RUN_DIR --out RUN_DIR2``: smaller / faster variants, measured, one kept."""

from __future__ import annotations

from pathlib import Path

import typer

from scifm.cli.app import app, friendly_errors
from scifm.cli.output import console

__all__ = ["compress"]


@app.command()
@friendly_errors
def compress(
    run_dir: Path = typer.Argument(..., help="A run directory written by `scifm train` / "
                                   "`auto` / `finetune` (its training data file must still be "
                                   "there: variants are scored on its test rows)."),
    out: Path = typer.Option(..., "--out", "-o", help="The compressed run directory: a normal "
                             "run that predict / evaluate / screen / serve use unchanged."),
    variants: str | None = typer.Option(None, help="Comma-separated makers (default: every one "
                                        "that applies): onnx, bf16, prune, distill "
                                        "(transformers); onnx-trees, distill-fp (feature "
                                        "models)."),
    max_drop: str | None = typer.Option(None, help="Largest allowed drop of the primary metric, "
                                        "in its units (0.01 = one point of ROC-AUC) or as a "
                                        "percentage of the original value (2%). Default: one "
                                        "point (classification) or 1% (RMSE)."),
    recovery_steps: int = typer.Option(200, min=0, help="Fine-tuning steps after pruning."),
    distill_epochs: float = typer.Option(3.0, min=0.0, help="Epochs of student training."),
    student: str = typer.Option("small", help="Student size of transformer distillation "
                                "(small: half the teacher's layers; tiny)."),
    corpus: Path | None = typer.Option(None, help="Unlabelled inputs the teacher labels for "
                                       "distillation (one per line, or a table with the run's "
                                       "input column)."),
    keep_variants: bool = typer.Option(False, help="Keep every variant's model folder in "
                                       "OUT/variants/ (default: only the chosen one, as "
                                       "OUT/model)."),
    n_bootstrap: int = typer.Option(1000, min=0, help="Bootstrap resamples of the CIs."),
    seed: int = typer.Option(0, help="Seed of fine-tuning, distillation and the bootstrap."),
) -> None:
    """Compress a trained model (ONNX Runtime fp32 / int8, bf16, pruning, distillation; ONNX
    trees and a fingerprint student for feature models), measure every variant on the run's
    test rows (size, latency, throughput, metric change with CI) and keep the fastest within
    --max-drop as a new run directory."""
    from scifm.compression.base import CompressOptions
    from scifm.recipes.compress import compress as run_compress

    options = CompressOptions(recovery_steps=recovery_steps, distill_epochs=distill_epochs,
                              student=student, corpus=corpus, seed=seed)
    chosen = [v.strip() for v in variants.split(",") if v.strip()] if variants else None
    done = run_compress(run_dir, out, variants=chosen, max_drop=max_drop, options=options,
                        n_bootstrap=n_bootstrap, keep_variants=keep_variants)
    console.print(done.table, markup=False)
    console.print(f"chosen: {done.chosen} ({done.result['note']})", markup=False)
    console.print(f"compressed run written to {done.out}")
