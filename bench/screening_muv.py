"""Screening MUV: ``scifm screen`` with an ``auto`` BBBP run vs ``chemprop predict`` (issue 13
item 4; not a test), side by side in one script, plus ``scifm screen``'s peak RSS from 10⁵ to
10⁶ (10⁷) molecules.

Inputs:

1. the ``scifm auto`` run (its best model) on the BBBP scaffold split, seed 0::

       scifm auto --data ../shared/data/splits/bbbp_scaffold_seed0.csv.gz --target-col p_np \\
           --split column:split --time-budget 300 --no-track --out runs/bbbp_auto

2. a Chemprop model trained on the same split: ``--train-chemprop`` trains it here with
   Chemprop's defaults (the command of ``../shared/benchmarks/chemprop_reference.md``;
   ``--chemprop-epochs`` shortens it for a trial), or ``--chemprop-model .../best.pt`` reuses one.
   Chemprop 2.3.1 is in the venv (the ``mpnn`` extra); a separate virtualenv works the same
   way with ``--chemprop-bin``.

What is measured, each as a whole process (start-up included) polled by psutil every 0.1 s:
wall time, molecules/s, peak RSS of the process tree (the sum over its processes alive at the
same time: scifm's chunk workers count) and of its largest process. Both tools get the same
molecules (the first ``--n`` MUV SMILES; more than 93,087 repeat the corpus) and the same
threads (``--threads``, ``OMP_NUM_THREADS``). ``scifm screen`` reads a ``.smi`` file,
keeps the top 100 and writes its summary (rejects, duplicates, its own peak RSS); with
``--fast RUN2`` it runs as a cascade (its recall recorded) and the fast run alone
(``--modes`` picks among ``cascade``, ``fast`` and ``full``; ``--engine ray`` runs every screen
on Ray Data, a local cluster started by each). ``--flat-sizes`` then screens
streams of that many molecules (MUV repeated: duplicates are predicted, then counted) and
records the peak RSS of each: it should stay flat.

Rows go to ``bench/results/screening_muv.jsonl``; a table is printed.

Usage::

    python bench/screening_muv.py --run runs/bbbp_auto --train-chemprop --chemprop-epochs 2 \\
        --n 10000 --flat-sizes 20000 40000             # a quick trial
    python bench/screening_muv.py --run runs/bbbp_auto --train-chemprop \\
        --flat-sizes 100000 1000000 10000000           # the benchmark
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import psutil

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
MUV = SHARED / "molecules" / "moleculenet" / "muv.csv.gz"
BBBP_SPLIT = SHARED / "splits" / "bbbp_scaffold_seed0.csv.gz"


def measure(cmd: list[str], threads: int, log: Path) -> dict:
    """Run ``cmd``; wall seconds and peak RSS (MiB) of its process tree and largest process."""
    env = {**os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS",
                                                        "OPENBLAS_NUM_THREADS")}}
    peak_tree = peak_one = 0
    t0 = time.perf_counter()
    with log.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        root = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                tree = [root, *root.children(recursive=True)]
                rss = [p.memory_info().rss for p in tree if p.is_running()]
            except psutil.Error:
                rss = []
            peak_tree, peak_one = max(peak_tree, sum(rss)), max([peak_one, *rss])
            time.sleep(0.1)
    wall = time.perf_counter() - t0
    if proc.returncode:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
        raise SystemExit(f"{tail}\nfailed ({proc.returncode}): {' '.join(cmd)}")
    return {"wall_s": round(wall, 2), "peak_rss_tree_mb": round(peak_tree / 2**20),
            "peak_rss_largest_mb": round(peak_one / 2**20)}


def write_library(smiles: list[str], n: int, path: Path) -> Path:
    """``n`` SMILES (the corpus repeated as needed) to a ``.smi`` file or a one-column CSV."""
    with path.open("w") as fh:
        if path.suffix == ".csv":
            fh.write("smiles\n")
        done = 0
        while done < n:
            block = smiles[:n - done]
            fh.write("\n".join(block) + "\n")
            done += len(block)
    return path


def train_chemprop(work: Path, chemprop: str, epochs: int | None, threads: int) -> Path:
    """Chemprop with its defaults on the BBBP scaffold split (seed 0); its ``best.pt``."""
    split = pd.read_csv(BBBP_SPLIT)
    files = []
    for part in ("train", "val", "test"):
        files.append(work / f"{part}.csv")
        split.loc[split["split"] == part, ["smiles", "p_np"]].to_csv(files[-1], index=False)
    out = work / "cp_bbbp"
    cmd = [chemprop, "train", "-i", *map(str, files), "-s", "smiles", "-t", "classification",
           "-o", str(out)]
    if epochs:  # a short trial: Chemprop wants more epochs than its 2 warm-up epochs
        cmd += ["--epochs", str(epochs), "--warmup-epochs", str(min(2, epochs - 1))]
    timing = measure(cmd, threads, work / "chemprop_train.log")
    print(f"chemprop train: {timing['wall_s']} s", file=sys.stderr)
    found = sorted(out.rglob("best*.pt"))
    if not found:
        raise SystemExit(f"chemprop train wrote no best.pt under {out}")
    return found[0]


def screen_cmd(args: argparse.Namespace, library: Path, out: Path, how: str) -> list[str]:
    """``how``: ``cascade`` (``--fast`` scores, ``--run`` re-scores), ``full`` (``--run``
    alone) or ``fast`` (the ``--fast`` run alone)."""
    run = args.fast if how == "fast" else args.run
    cmd = [sys.executable, "-m", "scifm.cli", "-q", "screen", str(run), "--library",
           str(library), "--top", "100", "--out", str(out), "--workers", str(args.workers),
           "--engine", args.engine]
    if how == "cascade":
        cmd += ["--fast", str(args.fast), "--rescore-top", str(args.rescore_top),
                "--recall-sample", str(args.recall_sample)]
    return cmd + ([] if args.dedupe else ["--no-dedupe"])


def run_screen(args: argparse.Namespace, library: Path, n: int, work: Path, job: str,
               how: str) -> dict:
    out = work / f"hits_{how}_{n}.parquet"
    cmd = screen_cmd(args, library, out, how)
    engine = "" if args.engine == "local" else f", {args.engine}"
    row = {"job": job, "tool": f"scifm screen ({how}{engine})", "n": n,
           **measure(cmd, args.threads, work / f"screen_{how}_{n}.log")}
    summary = json.loads(out.with_name(f"{out.stem}.summary.json").read_text())
    row.update({"mol_per_s": round(n / row["wall_s"], 1), "n_scored": summary["n_scored"],
                "n_rejected": summary["n_rejected"], "n_duplicates": summary["n_duplicates"],
                "peak_rss_main_mb": summary["peak_rss_mb"]["main"]})
    if summary.get("cascade"):
        row["cascade_recall"] = summary["cascade"]["recall"]
        row["rescore_top"] = args.rescore_top
    return row


def compare(args: argparse.Namespace, smiles: list[str], work: Path) -> list[dict]:
    """``chemprop predict`` then each ``--modes`` screen, on the same ``--n`` molecules."""
    model = args.chemprop_model or train_chemprop(work, args.chemprop_bin,
                                                  args.chemprop_epochs, args.threads)
    csv = write_library(smiles, args.n, work / "muv.csv")
    preds = work / "chemprop_preds.csv"
    cp = measure([args.chemprop_bin, "predict", "-i", str(csv), "-s", "smiles",
                  "--model-paths", str(model), "-o", str(preds)], args.threads,
                 work / "chemprop_predict.log")
    rows = [{"job": "muv", "tool": "chemprop predict", "n": args.n, **cp,
             "mol_per_s": round(args.n / cp["wall_s"], 1)}]
    smi = write_library(smiles, args.n, work / "muv.smi")
    return rows + [run_screen(args, smi, args.n, work, "muv", how) for how in args.modes]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="the scifm auto BBBP run")
    ap.add_argument("--fast", type=Path, help="a fast run: screen as a cascade")
    ap.add_argument("--rescore-top", type=float, default=0.05)
    ap.add_argument("--chemprop-model", type=Path, help="a Chemprop best.pt (BBBP seed 0)")
    ap.add_argument("--train-chemprop", action="store_true")
    ap.add_argument("--chemprop-epochs", type=int, help="default: Chemprop's (50)")
    ap.add_argument("--chemprop-bin", default=shutil.which("chemprop") or "chemprop")
    ap.add_argument("--n", type=int, default=93_087, help="MUV molecules for the comparison")
    ap.add_argument("--flat-sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--workers", type=int, default=0, help="scifm screen --workers")
    ap.add_argument("--engine", default="local", help="scifm screen --engine (local | ray)")
    ap.add_argument("--no-dedupe", dest="dedupe", action="store_false")
    ap.add_argument("--modes", nargs="*", default=None,
                    help="screens of the --n molecules: cascade, fast, full (default: cascade "
                         "and fast with --fast, else full); none given: no comparison, only "
                         "the --flat-sizes runs")
    ap.add_argument("--flat-mode", default=None, help="the screen of --flat-sizes (default: "
                    "the first of --modes)")
    ap.add_argument("--recall-sample", type=int, default=2000)
    args = ap.parse_args()
    if args.modes is None:
        args.modes = ["cascade", "fast"] if args.fast else ["full"]
    args.flat_mode = args.flat_mode or (args.modes or ["full"])[0]
    if any(m in ("cascade", "fast") for m in [*args.modes, args.flat_mode]) and not args.fast:
        raise SystemExit("the cascade and fast screens need --fast RUN2")
    if not MUV.is_file():
        raise SystemExit(f"skipped: shared benchmark data not found at {SHARED}")
    if args.modes and not (args.chemprop_model or args.train_chemprop):
        raise SystemExit("give --chemprop-model PATH/best.pt or --train-chemprop")
    smiles = pd.read_csv(MUV, usecols=["smiles"])["smiles"].tolist()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.modes:  # --modes with no value: the --flat-sizes runs only
            rows += compare(args, smiles, work)
        for n in args.flat_sizes:
            big = write_library(smiles, n, work / f"stream_{n}.smi")
            rows.append(run_screen(args, big, n, work, "flat_rss", args.flat_mode))
            big.unlink()
    stamp = {"threads": args.threads, "run": str(args.run), "time": time.ctime()}
    RESULTS.mkdir(parents=True, exist_ok=True)
    with (RESULTS / "screening_muv.jsonl").open("a") as fh:
        for row in rows:
            fh.write(json.dumps({**row, **stamp}) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
