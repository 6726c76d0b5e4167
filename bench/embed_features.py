"""Do a pretrained encoder's embeddings help the feature-based families? (issue 11, item 4)

Not a test. Two stages, each a plain ``scifm`` command line (printed before it runs, so the
numbers can be reproduced by hand); outputs go under ``--work`` (default ``/tmp/embbench``), never
into the repository::

    python bench/embed_features.py pretrain --max-steps 500      # MLM on the 115k-SMILES corpus
    python bench/embed_features.py compare                        # ESOL + FreeSolv, four arms

``compare`` runs, per data set (fixed scaffold split ``splits/<set>_scaffold_seed0.csv.gz``,
``--split column:split``), four arms on the same split:

* ``auto`` / ``auto+embed``: ``scifm auto --families lightgbm --n-trials N`` without / with
  ``--embed MLM/model`` (the embed arm also searches ``embed:P`` and ``embed:P+ecfp+rdkit2d``);
* ``train:ecfp`` / ``train:embed+ecfp``: ``scifm train --model lightgbm`` with
  ``model.features=ecfp`` / ``embed:P+ecfp``; ``train:ecfp+rdkit2d`` /
  ``train:embed+ecfp+rdkit2d`` the same with the SMILES default feature set.

The ``auto`` arms differ in their searched feature sets, so their trials differ from trial 1 on
(another random path): compare their winners' feature sets, not only their RMSE. Each arm's test
RMSE and its bootstrap 95% CI (``metrics.json``) are printed as a table and
appended to ``WORK/embed_features.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORPUS = SHARED / "molecules" / "pretrain" / "pretrain_smiles_chembl_muv.txt.gz"
SETS = {"esol_delaney": "measured log solubility in mols per litre", "freesolv": "freesolv"}
"""Data set -> target column of its split file."""
COMMON = ["--no-track", "--overwrite", "--set", "model.n_jobs=1"]


def run(cmd: list[str]) -> float:
    """Run one ``scifm`` command line (printed first); its wall seconds."""
    print("$ " + shlex.join(cmd), flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def pretrain(work: Path, max_steps: int, size: str) -> None:
    """``scifm pretrain`` on the shared corpus into ``WORK/mlm``."""
    seconds = run(["scifm", "pretrain", "--data", str(CORPUS), "--modality", "smiles",
                   "--out", str(work / "mlm"), "--max-steps", str(max_steps), *COMMON[:2],
                   "--set", f"model.size={size}", "--set", "model.max_length=128",
                   "--set", "train.lr=1e-3", "--set", "train.batch_size=64"])
    print(f"pretrained in {seconds:.0f} s: {work / 'mlm' / 'model'}")


def arms(data: Path, target: str, encoder: Path, n_trials: int, folds: int
         ) -> dict[str, list[str]]:
    """The four command lines of one data set (without ``--out``)."""
    base = ["--data", str(data), "--target-col", target, "--split", "column:split", *COMMON]
    search = ["scifm", "auto", *base, "--families", "lightgbm", "--n-trials", str(n_trials),
              "--folds", str(folds)]
    train = ["scifm", "train", *base, "--model", "lightgbm"]
    return {"auto": search, "auto+embed": [*search, "--embed", str(encoder)],
            "train:ecfp": [*train, "--set", "model.features=ecfp"],
            "train:embed+ecfp": [*train, "--set", f"model.features=embed:{encoder}+ecfp"],
            "train:ecfp+rdkit2d": [*train, "--set", "model.features=ecfp+rdkit2d"],
            "train:embed+ecfp+rdkit2d": [*train, "--set",
                                         f"model.features=embed:{encoder}+ecfp+rdkit2d"]}


def test_rmse(out: Path) -> tuple[float, float, float]:
    """Test RMSE and its 95% CI from a run's ``metrics.json``."""
    rmse = json.loads((out / "metrics.json").read_text())["test"]["rmse"]
    return float(rmse["value"]), *map(float, rmse["ci95"])


def compare(work: Path, n_trials: int, folds: int, only: list[str] | None) -> None:
    """Every arm on every data set; a table of test RMSE with CIs."""
    encoder = (work / "mlm" / "model").resolve()
    for name, target in SETS.items():
        data = SHARED / "splits" / f"{name}_scaffold_seed0.csv.gz"
        for arm, cmd in arms(data, target, encoder, n_trials, folds).items():
            if only and arm not in only:
                continue
            out = work / "runs" / f"{name}-{arm.replace(':', '-').replace('+', '-')}"
            seconds = run([*cmd, "--out", str(out)])
            value, lo, hi = test_rmse(out)
            row = {"dataset": name, "arm": arm, "test_rmse": value, "ci95": [lo, hi],
                   "seconds": round(seconds, 1), "command": shlex.join([*cmd, "--out", str(out)])}
            if arm.startswith("auto"):
                row["winner_features"] = _winner_features(out)
            with (work / "embed_features.jsonl").open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")
            print(f"{name:13s} {arm:17s} RMSE {value:.3f} [{lo:.3f}, {hi:.3f}] "
                  f"({seconds:.0f} s) {row.get('winner_features', '')}", flush=True)


def _winner_features(out: Path) -> str:
    """Feature set of the refitted (best by CV) lightgbm trial of an ``auto`` run."""
    import pandas as pd

    board = pd.read_csv(out / "leaderboard.csv")
    best = board[(board["family"] == "lightgbm") & board["best_of_family"]]
    feats = json.loads(best["params"].iloc[0]).get("features", "") if len(best) else ""
    return "embed:…" + feats.split("/model", 1)[1] if feats.startswith("embed:") else feats


def main(argv: list[str] | None = None) -> None:
    """Parse the stage and its options; run it."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("stage", choices=["pretrain", "compare"])
    p.add_argument("--work", type=Path, default=Path("/tmp/embbench"))
    p.add_argument("--max-steps", type=int, default=500)
    p.add_argument("--size", default="tiny", choices=["tiny", "small", "base"])
    p.add_argument("--n-trials", type=int, default=10)
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--arms", nargs="*", help="only these arms (auto, auto+embed, train:ecfp, "
                   "train:embed+ecfp, train:ecfp+rdkit2d, train:embed+ecfp+rdkit2d)")
    a = p.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    if a.stage == "pretrain":
        pretrain(a.work, a.max_steps, a.size)
    else:
        compare(a.work, a.n_trials, a.folds, a.arms)


if __name__ == "__main__":
    sys.exit(main())
