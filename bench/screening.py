"""Screening throughput: ``scifm predict`` on the 93,087 MUV SMILES (as Chemprop's reference).

Trains (or reuses) a LightGBM run on the lipo scaffold split (seed 0), then times the whole
``scifm predict`` process on the MUV SMILES and reads its peak RSS. Chemprop's number for the same
job (lipo seed-0 model, whole CLI process) is in ../shared/benchmarks/chemprop_reference.md.

Usage::

    python bench/screening.py [--features ecfp+rdkit2d] [--workers 0]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--features", default="auto")
    ap.add_argument("--workers", type=int, default=0)
    args = ap.parse_args()
    if not SHARED.is_dir():
        raise SystemExit(f"skipped: shared benchmark data not found at {SHARED}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        run = work / "lipo"
        subprocess.run(["scifm", "-q", "train", "--data",
                        str(SHARED / "splits" / "lipo_scaffold_seed0.csv.gz"), "--target-col",
                        "lipo", "--split", "column:split", "--model", "lightgbm", "--no-track",
                        "--set", f"model.features={args.features}", "--out", str(run)],
                       check=True, capture_output=True)
        smiles = pd.read_csv(SHARED / "molecules" / "moleculenet" / "muv.csv.gz",
                             usecols=["smiles"])
        screen = work / "muv_smiles.csv"
        smiles.to_csv(screen, index=False)
        t0 = time.perf_counter()
        subprocess.run(["scifm", "-q", "predict", str(run), "--data", str(screen), "--out",
                        str(work / "preds.csv"), "--workers", str(args.workers)], check=True)
        wall = time.perf_counter() - t0
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        n = len(pd.read_csv(work / "preds.csv", usecols=["row_id"]))
    row = {"job": "screen_muv", "features": args.features, "workers": args.workers,
           "n": n, "wall_s": round(wall, 1), "mol_per_s": round(n / wall),
           "peak_rss_mb_largest_process": round(peak_mb), "time": time.ctime()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "screening.jsonl").open("a") as fh:
        fh.write(json.dumps(row) + "\n")
    json.dump(row, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
