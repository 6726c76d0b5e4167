"""Does a deadline hold inside the linear family's fit, and what does a cut fit cost? (issue 11)

The ``linear`` family's logistic regression on TF-IDF (ChemProt: 4,169 rows x ~83k n-gram
columns) is fitted as ``scifm auto`` fits it under a deadline (:mod:`scifm.models.linear_rounds`):

* ``plain``: one ``fit`` without a deadline (what ``scifm train`` does; the reference);
* ``keep-best S``: a deadline of S seconds that keeps the model reached (a refit / holdout fit);
* ``trial S``: a plain deadline of S seconds (a search trial: ``TimeUp`` when it passes).

Printed per row: wall seconds, lbfgs iterations, dev micro- and macro-F1. Results are appended to
``bench/results/linear_rounds.jsonl``. Run alone on the machine from the project root:
``OMP_NUM_THREADS=2 python bench/linear_rounds.py --sets chemprot --shares 10 30 60``.
Skips with a message when ``../shared`` is absent.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scifm.featurizers.text import TfidfFeaturizer  # noqa: E402
from scifm.models.joint import grow  # noqa: E402
from scifm.models.sklearn_families import make_estimator  # noqa: E402
from scifm.utils.deadline import TimeUp, fit_deadline  # noqa: E402

TEXT = ROOT.parent / "shared" / "data" / "text"
SETS = {"scicite": "scibert_sci-cite", "chemprot": "scibert_chemprot"}
RESULTS = ROOT / "bench" / "results" / "linear_rounds.jsonl"


def _read(folder: Path, part: str) -> tuple[list[str], list[str]]:
    with gzip.open(folder / f"{part}.txt.gz", "rt") as fh:
        rows = [json.loads(line) for line in fh]
    return [r["text"] for r in rows], [str(r["label"]) for r in rows]


def _row(name: str, share: float | None, keep: bool, X, y, Xd, yd) -> dict:
    est = make_estimator("linear", "multiclass", {"C": 1.0}, n_jobs=1)
    t0 = time.perf_counter()
    out = {"set": name, "mode": "plain" if share is None else ("keep-best" if keep else "trial"),
           "share_s": share}
    try:
        with fit_deadline(None if share is None else time.time() + share, keep_best=keep):
            grow(est, X, y)
    except TimeUp as e:
        out.update(wall_s=round(time.perf_counter() - t0, 1), result=f"TimeUp ({e})")
        return out
    pred = est.predict(Xd)
    out.update(wall_s=round(time.perf_counter() - t0, 1),
               iterations=int(np.max(est.steps[-1][1].n_iter_)),
               dev_micro_f1=round(f1_score(yd, pred, average="micro"), 4),
               dev_macro_f1=round(f1_score(yd, pred, average="macro"), 4))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="+", default=["chemprot"], choices=sorted(SETS))
    ap.add_argument("--shares", nargs="+", type=float, default=[10.0, 30.0, 60.0])
    args = ap.parse_args()
    if not TEXT.is_dir():
        print(f"skipped: {TEXT} not found (../shared absent)")
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    for name in args.sets:
        texts, labels = _read(TEXT / SETS[name], "train")
        dev_texts, dev_labels = _read(TEXT / SETS[name], "dev")
        classes = sorted(set(labels))
        y = np.searchsorted(classes, labels)
        keep = np.isin(dev_labels, classes)
        yd = np.searchsorted(classes, np.asarray(dev_labels)[keep])
        feat = TfidfFeaturizer().fit(texts)
        X, Xd = feat(texts), feat([t for t, k in zip(dev_texts, keep, strict=True) if k])
        print(f"{name}: {X.shape[0]} train rows x {X.shape[1]} TF-IDF columns", flush=True)
        runs = [(None, False)] + [(s, True) for s in args.shares] + [(s, False)
                                                                     for s in args.shares]
        for share, kept in runs:
            row = _row(name, share, kept, X, y, Xd, yd)
            print(pd.Series(row).to_dict(), flush=True)
            with RESULTS.open("a") as fh:
                fh.write(json.dumps({**row, "time": time.strftime("%Y-%m-%d %H:%M")}) + "\n")


if __name__ == "__main__":
    main()
