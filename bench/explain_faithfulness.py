"""Faithfulness of ``scifm explain`` (issue 12): the deletion test of each attribution method.

Two modes, both calling the explain recipe in process and printing one markdown row per method —
mean |change of the explained output| when the top-20% attributed units are masked versus as
many random units (5 draws), with BCa 95% intervals. The issue's target is a ratio >= 2.

**Train mode** (default): trains LightGBM with its default features on the predefined scaffold
split (``../shared/data/splits/bbbp_scaffold_seed0.csv.gz``, column ``split``) and explains the
test rows by each method — ``occlusion`` (one atom at a time, masked as a dummy atom ``*``,
re-featurised and re-predicted) and ``sampling`` (RISE: 128 random masks hiding 20% of the
atoms). ``OMP_NUM_THREADS=1 python bench/explain_faithfulness.py`` (about a minute on 2 cores:
occlusion only); ``--with-sampling`` adds the sampling row (about 2.5 more minutes);
``--features ecfp --methods shap,occlusion`` trains on ECFP only and adds TreeSHAP. Skips with a
message when the split file is absent.

**Run mode**: measures an existing run directory on the rows of a data file, e.g. the SMILES
BERT of the compression benchmark on the BBBP test rows::

    python bench/explain_faithfulness.py --run bench/results/compression_runs/bbbp_smiles_bert \\
        --data ../shared/data/splits/bbbp_scaffold_seed0.csv.gz --split test \\
        --methods gradients,occlusion --label "BBBP scaffold seed 0, test"

The rows where ``--split-col`` (default ``split``) equals ``--split`` are kept (all rows without
``--split``), then the first ``--max-rows``. The run is copied to a temporary folder first (its
model and metadata, not its ``report.html``), so measuring it leaves the run unchanged.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from scifm.config.load import load_config
from scifm.data.io import read_table
from scifm.recipes.explain import explain
from scifm.recipes.train import train

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ROOT.parent / "shared" / "data" / "splits" / "bbbp_scaffold_seed0.csv.gz"
SEED = 0
HEADER = ("| data | model | attributions | n | top-20% | random-20% | ratio [95% CI] | time |\n"
          "|---|---|---|---|---|---|---|---|")


def _ci(entry: dict) -> str:
    lo, hi = entry["ci95"]
    return f"{entry['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def _row(data: str, model: str, method: str, faith: dict, seconds: float) -> str:
    """One markdown row of the table (:data:`HEADER`)."""
    return (f"| {data} | {model} | {method} | {faith['n_inputs']} | {_ci(faith['top'])} | "
            f"{_ci(faith['random'])} | {_ci(faith['ratio'])} | {seconds:.0f} s |")


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", default=None,
                    help="train mode: LightGBM feature set (default: the family's default)")
    ap.add_argument("--methods", default=None,
                    help="comma-separated attribution methods (train mode default: occlusion; "
                         "run mode default: gradients,occlusion)")
    ap.add_argument("--with-sampling", action="store_true",
                    help="train mode: occlusion and sampling")
    ap.add_argument("--n-samples", type=int, default=128,
                    help="masks per input of the sampling method (scifm explain --n-samples)")
    ap.add_argument("--run", type=Path, default=None, help="run mode: a trained run directory")
    ap.add_argument("--data", type=Path, default=None, help="run mode: the data file")
    ap.add_argument("--split-col", default="split", help="run mode: column naming the split")
    ap.add_argument("--split", default=None, help="run mode: keep the rows of this split")
    ap.add_argument("--max-rows", type=int, default=None,
                    help="run mode: explain at most the first N kept rows (default: all)")
    ap.add_argument("--label", default=None, help="run mode: the data column of the table")
    ap.add_argument("--keep", type=Path, default=None,
                    help="run mode: also write each method's explanation to KEEP/<method>")
    return ap


def train_mode(args: argparse.Namespace) -> int:
    """Train LightGBM on the BBBP scaffold split, explain its test rows, print the table."""
    if not SPLIT.is_file():
        print(f"skipped: {SPLIT} not found (the shared BBBP scaffold splits)")
        return 0
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        cfg = load_config(flags={
            "data.path": str(SPLIT), "data.input_col": "smiles", "data.target_cols": ["p_np"],
            "model.families": "lightgbm", "split.method": "column:split",
            "model.features": args.features or "auto",
            "out": str(tmp / "run"), "seed": SEED, "tracking.enabled": False})
        run = train(cfg).run_dir
        test = pd.read_csv(SPLIT)
        test = test[test["split"] == "test"][["smiles"]]
        test.to_csv(tmp / "test.csv", index=False)
        print(f"trained in {time.perf_counter() - t0:.0f} s\n")
        print(HEADER)
        methods = (args.methods or ("occlusion,sampling" if args.with_sampling
                                    else "occlusion")).split(",")
        for method in methods:
            t1 = time.perf_counter()
            summary = explain(run, tmp / "test.csv", tmp / method, max_rows=len(test),
                              seed=SEED, method=method, n_samples=args.n_samples)
            model = f"LightGBM ({args.features or 'default'} features)"
            print(_row("BBBP scaffold seed 0, test", model, method, summary["faithfulness"],
                       time.perf_counter() - t1))
    top = summary["global"]["positive"][:5]
    print(f"\nTop radius-1 environments raising P(p_np = 1) ({method}): "
          + ", ".join(f"`{e['context']}` ({e['mean']:+.3f}, n={e['count']})" for e in top))
    return 0


def _rows_file(args: argparse.Namespace, path: Path) -> int:
    """Write the kept rows of ``--data`` to ``path`` (CSV); returns how many."""
    frame = read_table(args.data)
    if args.split is not None:
        if args.split_col not in frame.columns:
            raise SystemExit(f"error: {args.data} has no column {args.split_col!r}")
        frame = frame[frame[args.split_col].astype(str) == args.split]
    if args.max_rows is not None:
        frame = frame.iloc[:args.max_rows]
    if frame.empty:
        raise SystemExit(f"error: no row of {args.data} is kept (--split {args.split})")
    frame.reset_index(drop=True).to_csv(path, index=False)
    return len(frame)


def _model_name(run: Path) -> str:
    """``family, modality (run folder name)`` from the run's ``model/scifm.json``."""
    meta = json.loads((run / "model" / "scifm.json").read_text(encoding="utf-8"))
    return f"{meta['family']} on {meta['modality']} (`{run.name}`)"


def run_mode(args: argparse.Namespace) -> int:
    """Explain the kept rows of ``--data`` with the existing run ``--run``; print the table."""
    if not (args.run / "model").is_dir() or args.data is None or not args.data.is_file():
        raise SystemExit(f"error: --run {args.run} must be a run directory and --data a file")
    methods = (args.methods or "gradients,occlusion").split(",")
    label = args.label or f"{args.data.name}" + (f", {args.split}" if args.split else "")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = tmp / args.run.name
        shutil.copytree(args.run, run, ignore=shutil.ignore_patterns("report.html"))
        n = _rows_file(args, tmp / "rows.csv")
        print(f"{n} rows of {args.data} (split {args.split or 'all'}), run {args.run}\n")
        print(HEADER)
        for method in methods:
            t1 = time.perf_counter()
            out = (args.keep / method) if args.keep else tmp / method
            summary = explain(run, tmp / "rows.csv", out, max_rows=n, seed=SEED,
                              method=method, n_samples=args.n_samples)
            print(_row(label, _model_name(args.run), method, summary["faithfulness"],
                       time.perf_counter() - t1), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Train mode (default) or run mode (``--run``); 0 on success or skip."""
    args = _parser().parse_args(argv)
    return run_mode(args) if args.run is not None else train_mode(args)


if __name__ == "__main__":
    sys.exit(main())
