"""Benchmark ``scifm auto`` against Chemprop on the fixed scaffold splits (not a test).

For every dataset x seed the whole ``scifm auto`` run (read, featurise, search, refit, ensemble,
evaluate, report) gets no more wall time than Chemprop's measured training run on the same split
(``../shared/benchmarks/chemprop_reference.json``): the search budget is ``--budget-fraction`` of
Chemprop's wall time, the rest is left for featurisation and refits, and the measured wall time
is reported beside Chemprop's. Rows are appended to ``bench/results/auto.jsonl``.

Usage::

    OMP_NUM_THREADS=1 python bench/run_auto.py [--datasets bbbp bace] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import MOLECULENET, RESULTS, SHARED, combined_split_file  # noqa: E402

from scifm.config.load import load_config  # noqa: E402
from scifm.recipes.auto import auto  # noqa: E402

REF = SHARED.parent / "benchmarks" / "chemprop_reference.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="*", default=list(MOLECULENET))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--budget-fraction", type=float, default=0.35)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--other", nargs="*", default=[], choices=["text", "dna"],
                    help="also SciCite (text) / GUE prom_core_tata (DNA) with --other-budget")
    ap.add_argument("--other-budget", type=float, default=300.0)
    ap.add_argument("--text-families", default="linear,lightgbm",
                    help="families searched on text (TF-IDF LightGBM is slow on 2 cores)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not REF.is_file():
        raise SystemExit(f"skipped: Chemprop reference not found at {REF}")
    ref = json.loads(REF.read_text())
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for ds in args.datasets:
            col, targets, metric = MOLECULENET[ds]
            for seed in args.seeds:
                cp_wall = float(ref[ds]["chemprop_train_wall_s"][str(seed)])
                out = Path(tmp) / f"{ds}_{seed}"
                flags = {"data.path": str(SHARED / "splits" / f"{ds}_scaffold_seed{seed}.csv.gz"),
                         "data.input_col": col, "data.target_cols": targets,
                         "data.duplicates": "keep", "split.method": "predefined",
                         "out": str(out), "seed": seed, "tracking.enabled": False,
                         "automl.tune.time_budget": round(args.budget_fraction * cp_wall, 1),
                         "automl.tune.n_trials": None, "model.n_jobs": args.threads}
                t0 = time.perf_counter()
                result = auto(load_config(flags=flags), command="bench")
                wall = time.perf_counter() - t0
                test = result.metrics["test"][metric]
                row = {"dataset": ds, "seed": seed, "family": "auto", "metric": metric,
                       "value": test["value"], "ci95": test["ci95"], "wall_s": round(wall, 1),
                       "chemprop_wall_s": cp_wall, "chemprop": ref[ds]["chemprop"][str(seed)],
                       "selected": result.winner,
                       "budget_s": flags["automl.tune.time_budget"], "threads": args.threads,
                       "time": time.ctime()}
                with (RESULTS / "auto.jsonl").open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{ds:13s} seed {seed} auto {metric} {test['value']:.3f} "
                      f"(chemprop {row['chemprop']:.3f}) wall {wall:.0f} s "
                      f"(chemprop {cp_wall:.0f} s) -> {row['selected']}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
        for kind in args.other:
            run_other(kind, args, Path(tmp))


def run_other(kind: str, args: argparse.Namespace, tmp: Path) -> None:
    """SciCite (text; linear + LightGBM on TF-IDF) or prom_core_tata (DNA; all families)."""
    if kind == "text":
        data = combined_split_file(SHARED / "text" / "scibert_sci-cite",
                                   {"train": "train.txt.gz", "val": "dev.txt.gz",
                                    "test": "test.txt.gz"}, "jsonl", tmp / "scicite.csv")
        name, col, metric = "scicite", "text", "f1_macro"
        families = args.text_families.split(",")
    else:
        data = combined_split_file(SHARED / "dna" / "gue" / "prom_core_tata",
                                   {"train": "train.csv.gz", "val": "dev.csv.gz",
                                    "test": "test.csv.gz"}, "csv", tmp / "tata.csv")
        name, col, metric, families = "prom_core_tata", "sequence", "mcc", []
    flags = {"data.path": str(data), "data.input_col": col, "data.target_cols": ["label"],
             "data.modality": kind, "data.duplicates": "keep", "split.method": "predefined",
             "out": str(tmp / name), "seed": 0, "tracking.enabled": False,
             "automl.tune.time_budget": args.other_budget, "automl.tune.n_trials": None,
             "model.n_jobs": args.threads}
    if families:
        flags["automl.auto.families"] = families
    t0 = time.perf_counter()
    result = auto(load_config(flags=flags), command="bench")
    wall = time.perf_counter() - t0
    test = result.metrics["test"][metric]
    row = {"dataset": name, "seed": 0, "family": "auto", "metric": metric,
           "value": test["value"], "ci95": test["ci95"], "wall_s": round(wall, 1),
           "selected": result.winner, "budget_s": args.other_budget, "threads": args.threads,
           "time": time.ctime()}
    with (RESULTS / "auto.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    print(f"{name:13s} auto {metric} {test['value']:.3f} wall {wall:.0f} s -> {result.winner}",
          flush=True)


if __name__ == "__main__":
    main()
