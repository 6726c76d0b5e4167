"""Uncertainty quality on the fixed scaffold splits (issue 12; not a test).

For every dataset x seed (``../shared/data/splits``): ``scifm train --model FAMILY`` (``auto``:
``scifm auto --time-budget 180``) with the split column, whose uncertainty layer is calibrated
on the validation rows and measured on test (``metrics.json["uncertainty"]``): coverage of the
90% intervals / sets, mean width, ECE before and after calibration, Spearman and AUROC (worst
10%) of the uncertainty against the errors.

``--chemprop`` (regression sets) adds Chemprop v2 side by side, same split, same script: ``chemprop
train -t regression-mve`` (mean-variance estimation) and ``chemprop predict --uncertainty-method
mve --calibration-method zscaling --cal-path val.csv`` (its variance calibration on the same
validation rows); its 90% interval is ``mean +- 1.645 sd``.

Usage::

    python bench/uncertainty.py --datasets esol_delaney lipo --seeds 0 --chemprop
    python bench/uncertainty.py --seeds 0 1 2 --families lightgbm
    python bench/uncertainty.py --datasets esol_delaney lipo --seeds 0 --families auto mpnn
    python bench/uncertainty.py --seeds 0 --families transformer --set uncertainty.mc_dropout=20
    python bench/uncertainty.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from auto_vs_chemprop import SETS, split_frame  # noqa: E402
from run_bench import RESULTS, SHARED, TRANSFORMER_SETTINGS  # noqa: E402

OUT = RESULTS / "uncertainty.jsonl"
AUTO_BUDGET = 180
"""``--families auto``: ``scifm auto --time-budget`` seconds (the winner gets the layer), unless
``--auto-budget``."""
Z90 = 1.6448536269514722


def run_scifm(data: Path, col: str, targets: list[str], family: str, seed: int, work: Path,
              env: dict[str, str], args: argparse.Namespace) -> dict[str, object]:
    out = work / f"scifm_{family}"
    extra = [a for s in TRANSFORMER_SETTINGS for a in ("--set", s)] if family == "transformer" \
        else []
    extra += [a for s in args.set for a in ("--set", s)]
    how = (["auto", "--time-budget", str(args.auto_budget)] if family == "auto"
           else ["train", "--model", family])
    cmd = [sys.executable, "-m", "scifm", "-q", how[0], "--data", str(data), "--input-col", col,
           *[a for t in targets for a in ("--target-col", t)], "--split", "column:split",
           *how[1:], "--seed", str(seed), "--out", str(out), "--no-track",
           "--set", "data.duplicates=keep", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"scifm train failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    u = metrics["uncertainty"]
    row: dict[str, object] = {"wall_s": round(time.perf_counter() - t0, 1),
                              "model": metrics.get("model"),
                              "calibrated_on": u.get("calibrated_on")}
    keys = ("coverage", "mean_width", "ece_before", "ece_after", "set_coverage", "spearman",
            "auroc_worst10")
    per = [m for m in u["targets"].values() if "n" in m and "skipped" not in m]
    for k in keys:
        vals = [m[k]["value"] for m in per if k in m]
        if vals:
            row[k] = float(np.nanmean(vals))
    for k in ("method", "calibrator", "difficulty"):
        row[k] = sorted({str(m[k]) for m in per if k in m})
    row["mean_set_size"] = float(np.mean([m["mean_set_size"] for m in per
                                          if "mean_set_size" in m])) if any(
        "mean_set_size" in m for m in per) else None
    dom = u.get("domain") or {}
    row.update(share_in_domain=dom.get("share_in_domain"), error_in=dom.get("error_in_domain"),
               error_out=dom.get("error_out_of_domain"))
    return row


def run_chemprop(df: pd.DataFrame, col: str, target: str, work: Path,
                 env: dict[str, str]) -> dict[str, object]:
    for part in ("train", "val", "test"):
        df.loc[df["split"] == part, [col, target]].to_csv(work / f"{part}.csv", index=False)
    t0 = time.perf_counter()
    subprocess.run(["chemprop", "train", "-i", "train.csv", "val.csv", "test.csv", "-s", col,
                    "-t", "regression-mve", "-o", "cp"], cwd=work, env=env, check=True,
                   capture_output=True)
    model = next((work / "cp").rglob("best*.pt"))
    subprocess.run(["chemprop", "predict", "-i", "test.csv", "-s", col, "--model-paths",
                    str(model), "--uncertainty-method", "mve", "--calibration-method",
                    "zscaling", "--cal-path", "val.csv", "-o", "cp_test.csv"], cwd=work,
                   env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    pred = pd.read_csv(work / "cp_test.csv")
    unc_col = [c for c in pred.columns if c not in (col, target)]
    test = df[df["split"] == "test"]
    y = test[target].to_numpy(float)
    mean = pred[target].to_numpy(float) if target in pred else pred[unc_col[0]].to_numpy(float)
    var = pred[unc_col[-1]].to_numpy(float)
    half = Z90 * np.sqrt(np.clip(var, 0, None))
    err = np.abs(y - mean)
    from scipy.stats import spearmanr

    return {"cp_coverage": float(np.mean(err <= half)), "cp_mean_width": float(np.mean(2 * half)),
            "cp_rmse": float(np.sqrt(np.mean(err ** 2))),
            "cp_spearman": float(spearmanr(half, err).statistic), "cp_wall_s": round(wall, 1),
            "cp_columns": list(pred.columns)}


def one(name: str, seed: int, family: str, args: argparse.Namespace) -> dict[str, object]:
    col, targets, metric = SETS[name]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        df = split_frame(name, seed, work)
        data = work / "data.csv"
        df[[col, *targets, "split"]].to_csv(data, index=False)
        label = f"{family} ({', '.join(args.set)})" if args.set else family
        row: dict[str, object] = {"dataset": name, "seed": seed, "family": label,
                                  "metric": metric, "threads": args.threads, "time": time.ctime()}
        row.update(run_scifm(data, col, targets, family, seed, work, env, args))
        if args.chemprop and metric == "rmse":
            row.update(run_chemprop(df, col, targets[0], work, env))
    return row


def _mean(g: pd.DataFrame, k: str) -> str:
    if k not in g or g[k].isna().all():
        return ""
    v = g[k].astype(float)
    return f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else "")


def table() -> None:
    rows = [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows).drop_duplicates(["dataset", "seed", "family"], keep="last")
    print("| dataset | family | seeds | coverage (90%) | mean width | ECE before → after "
          "| set coverage | set size | Spearman(unc, err) | AUROC worst 10% | in domain |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    for (name, fam), g in frame.groupby(["dataset", "family"], sort=False):
        ece = (f"{_mean(g, 'ece_before')} → {_mean(g, 'ece_after')}"
               if "ece_before" in g and g["ece_before"].notna().any() else "")
        print(f"| {name} | {fam} | {len(g)} | {_mean(g, 'coverage')} | "
              f"{_mean(g, 'mean_width')} | {ece} | {_mean(g, 'set_coverage')} | "
              f"{_mean(g, 'mean_set_size')} | {_mean(g, 'spearman')} | "
              f"{_mean(g, 'auroc_worst10')} | {_mean(g, 'share_in_domain')} |")
    cp = frame[frame.get("cp_coverage", pd.Series(dtype=float)).notna()] \
        if "cp_coverage" in frame else frame.iloc[:0]
    if len(cp):
        print("\n| dataset | seed | scifm coverage | scifm width | Chemprop MVE+zscaling coverage "
              "| Chemprop width | width ratio (scifm / Chemprop) |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for _, r in cp.iterrows():
            print(f"| {r['dataset']} | {r['seed']} | {r['coverage']:.3f} | "
                  f"{r['mean_width']:.3f} | {r['cp_coverage']:.3f} | {r['cp_mean_width']:.3f} | "
                  f"{r['mean_width'] / r['cp_mean_width']:.2f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="*", default=list(SETS)[:6])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--families", nargs="+", default=["lightgbm"])
    ap.add_argument("--chemprop", action="store_true", help="Chemprop MVE on regression sets")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--auto-budget", type=int, default=AUTO_BUDGET,
                    help="--families auto: scifm auto --time-budget")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a scifm setting for every run (e.g. uncertainty.mc_dropout=20); the "
                         "family is labelled with it")
    ap.add_argument("--table", action="store_true", help="print the table of the results file")
    args = ap.parse_args()
    if args.table:
        table()
        return
    if not (SHARED / "splits").is_dir():
        raise SystemExit(f"skipped: no shared data at {SHARED}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        for seed in args.seeds:
            for family in args.families:
                row = one(name, seed, family, args)
                with OUT.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(json.dumps({k: row[k] for k in row if k not in ("time", "cp_columns")}),
                      flush=True)


if __name__ == "__main__":
    main()
