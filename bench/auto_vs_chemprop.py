"""``scifm auto`` vs ``chemprop train``, side by side in one script (issue 11; not a test).

For every dataset x seed, on the fixed scaffold split (``../shared/data/splits``; Tox21: built here
the same way, balanced Bemis-Murcko 80/10/10, see :func:`balanced_scaffold_split`):

1. ``chemprop train`` with its defaults (the command of
   ``../shared/benchmarks/chemprop_reference.md``) as a whole process; its wall time is
   measured and its test predictions scored;
2. ``scifm auto`` as a whole process (``python -m scifm auto``), given a time budget of
   ``--budget-fraction`` x Chemprop's wall time just measured (so its whole run, start-up
   included, should end below Chemprop's); its wall time and test metric are recorded with the
   winner and the families that completed a trial.

Both get the same thread count (``OMP_NUM_THREADS``, ``--threads``). Rows are appended to
``bench/results/auto_vs_chemprop.jsonl``; ``--table`` prints the mean ± std table from it.

Usage::

    python bench/auto_vs_chemprop.py --datasets freesolv esol_delaney --seeds 0 1 2
    python bench/auto_vs_chemprop.py --datasets tox21 --seeds 0
    python bench/auto_vs_chemprop.py --table
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_bench import MOLECULENET, RESULTS, SHARED  # noqa: E402

OUT = RESULTS / "auto_vs_chemprop.jsonl"
TOX21_TASKS = ["NR-AR", "NR-AR-LBD", "NR-AhR", "NR-Aromatase", "NR-ER", "NR-ER-LBD",
               "NR-PPAR-gamma", "SR-ARE", "SR-ATAD5", "SR-HSE", "SR-MMP", "SR-p53"]
SETS = {**MOLECULENET, "tox21": ("smiles", TOX21_TASKS, "roc_auc")}


def balanced_scaffold_split(smiles: list[str], seed: int) -> list[str]:
    """``train`` / ``val`` / ``test`` per row, as ``../shared/data/splits/README.md`` describes
    (scaffold sets, big sets first, each shuffled with ``random.Random(seed)``, greedy filling)."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    groups: dict[str, list[int]] = {}
    for i, s in enumerate(smiles):
        mol = Chem.MolFromSmiles(s)
        key = MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)
        groups.setdefault(key, []).append(i)
    n = len(smiles)
    n_train, n_val, n_test = 0.8 * n, 0.1 * n, 0.1 * n
    sets = list(groups.values())
    big = [g for g in sets if len(g) > n_val / 2 or len(g) > n_test / 2]
    small = [g for g in sets if g not in big]
    rng = random.Random(seed)
    rng.shuffle(big)
    rng.shuffle(small)
    out = [""] * n
    counts = {"train": 0, "val": 0}
    for g in big + small:
        if counts["train"] + len(g) <= n_train:
            part = "train"
        elif counts["val"] + len(g) <= n_val:
            part = "val"
        else:
            part = "test"
        counts[part] = counts.get(part, 0) + len(g)
        for i in g:
            out[i] = part
    return out


def split_frame(name: str, seed: int, tmp: Path) -> pd.DataFrame:
    """The dataset with its ``split`` column (Tox21: unparsable SMILES dropped, split made)."""
    if name != "tox21":
        return pd.read_csv(SHARED / "splits" / f"{name}_scaffold_seed{seed}.csv.gz")
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    df = pd.read_csv(SHARED / "molecules" / "moleculenet" / "tox21.csv.gz")
    ok = [Chem.MolFromSmiles(s) is not None for s in df["smiles"]]
    df = df[ok].reset_index(drop=True)
    df["split"] = balanced_scaffold_split(df["smiles"].tolist(), seed)
    return df


def score(metric: str, y: np.ndarray, pred: np.ndarray) -> float:
    """ROC-AUC averaged over tasks on labelled rows, or RMSE (the reference file's code)."""
    from sklearn.metrics import mean_squared_error, roc_auc_score

    if metric == "rmse":
        return float(np.sqrt(mean_squared_error(y[:, 0], pred[:, 0])))
    aucs = []
    for j in range(y.shape[1]):
        rows = ~np.isnan(y[:, j])
        if len(np.unique(y[rows, j])) == 2:
            aucs.append(roc_auc_score(y[rows, j], pred[rows, j]))
    return float(np.mean(aucs))


def run_chemprop(df: pd.DataFrame, col: str, targets: list[str], metric: str, work: Path,
                 env: dict[str, str]) -> dict[str, float]:
    for part in ("train", "val", "test"):
        df.loc[df["split"] == part, [col, *targets]].to_csv(work / f"{part}.csv", index=False)
    kind = "regression" if metric == "rmse" else "classification"
    cmd = ["chemprop", "train", "-i", "train.csv", "val.csv", "test.csv", "-s", col,
           "-t", kind, "-o", "cp"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - t0
    preds = pd.read_csv(next((work / "cp").rglob("test_predictions.csv")))
    test = df[df["split"] == "test"]
    value = score(metric, test[targets].to_numpy(float), preds[targets].to_numpy(float))
    return {"chemprop": value, "chemprop_wall_s": round(wall, 1)}


def run_auto(data: Path, col: str, targets: list[str], metric: str, budget: float, seed: int,
             work: Path, env: dict[str, str]) -> dict[str, object]:
    out = work / "auto"
    cmd = [sys.executable, "-m", "scifm", "-q", "auto", "--data", str(data), "--input-col", col,
           *[a for t in targets for a in ("--target-col", t)], "--split", "column:split",
           "--time-budget", str(round(budget, 1)), "--seed", str(seed), "--out", str(out),
           "--no-track", "--set", "data.duplicates=keep"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"scifm auto failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    metrics = json.loads((out / "metrics.json").read_text())
    board = pd.read_csv(out / "leaderboard.csv")
    done = sorted(board.loc[board["state"] == "COMPLETE", "family"].unique())
    test = metrics["test"][metric]
    return {"scifm": test["value"], "scifm_ci95": test["ci95"],
            "scifm_wall_s": round(wall, 1), "winner": metrics["model"], "families_done": done,
            "timing": metrics.get("timing"), "budget_s": round(budget, 1)}


def one(name: str, seed: int, args: argparse.Namespace) -> dict[str, object]:
    col, targets, metric = SETS[name]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        df = split_frame(name, seed, work)
        data = work / "data.csv"
        df[[col, *targets, "split"]].to_csv(data, index=False)
        row: dict[str, object] = {"dataset": name, "seed": seed, "metric": metric,
                                  "threads": args.threads, "time": time.ctime()}
        row.update(run_chemprop(df, col, targets, metric, work, env))
        budget = args.budget_fraction * float(row["chemprop_wall_s"])  # type: ignore[arg-type]
        row.update(run_auto(data, col, targets, metric, budget, seed, work, env))
    return row


def table(path: Path = OUT) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    frame = pd.DataFrame(rows).drop_duplicates(["dataset", "seed"], keep="last")
    print("| dataset | metric | seeds | scifm auto | chemprop train | scifm wall s "
          "| chemprop wall s | wall ratio | winners |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for name, g in frame.groupby("dataset", sort=False):
        ratio = (g["scifm_wall_s"] / g["chemprop_wall_s"]).mean()
        print(f"| {name} | {g['metric'].iloc[0]} | {len(g)} | "
              f"{g['scifm'].mean():.3f} ± {g['scifm'].std(ddof=1) if len(g) > 1 else 0:.3f} | "
              f"{g['chemprop'].mean():.3f} ± {g['chemprop'].std(ddof=1) if len(g) > 1 else 0:.3f}"
              f" | {g['scifm_wall_s'].mean():.0f} | {g['chemprop_wall_s'].mean():.0f} | "
              f"{ratio:.2f} | {', '.join(g['winner'])} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="*", default=[*MOLECULENET, "tox21"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--budget-fraction", type=float, default=0.9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--table", action="store_true", help="print the table of the results file")
    ap.add_argument("--results", type=Path, default=OUT,
                    help="the results file --table reads (default: %(default)s)")
    args = ap.parse_args()
    if args.table:
        table(args.results)
        return
    if not (SHARED / "splits").is_dir():
        raise SystemExit(f"skipped: no shared data at {SHARED}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        for seed in args.seeds:
            row = one(name, seed, args)
            with OUT.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{name:13s} seed {seed}: scifm {row['scifm']:.3f} ({row['scifm_wall_s']} s, "
                  f"{row['winner']}) vs chemprop {row['chemprop']:.3f} "
                  f"({row['chemprop_wall_s']} s)", flush=True)


if __name__ == "__main__":
    main()
