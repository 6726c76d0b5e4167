"""Benchmark scifm on the fixed splits in ../shared (not a test; results go to BENCHMARKS.md).

MoleculeNet: the six scaffold splits x 3 seeds (``../shared/data/splits``), exactly the rows and
split the Chemprop reference used (``data.duplicates=keep``: no row is merged or removed, so the
test sets are identical). Also one text set (SciCite, SciBERT's train/dev/test) and one DNA set
(GUE prom_core_tata, DNABERT-2's train/dev/test). Each run appends one JSON line to
``bench/results/results.jsonl``; ``bench/write_benchmarks.py`` turns them into BENCHMARKS.md.

Usage::

    python bench/run_bench.py --suite moleculenet --families lightgbm transformer
    python bench/run_bench.py --suite text dna --families lightgbm transformer
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from scifm.config.load import load_config
from scifm.recipes.train import train

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"

MOLECULENET = {
    # name: (input column, target columns, primary metric)
    "bbbp": ("smiles", ["p_np"], "roc_auc"),
    "bace": ("mol", ["Class"], "roc_auc"),
    "clintox": ("smiles", ["FDA_APPROVED", "CT_TOX"], "roc_auc"),
    "esol_delaney": ("smiles", ["measured log solubility in mols per litre"], "rmse"),
    "freesolv": ("smiles", ["freesolv"], "rmse"),
    "lipo": ("smiles", ["lipo"], "rmse"),
}

TRANSFORMER_SETTINGS = [
    "model.size=small", "model.max_length=128", "train.epochs=10", "train.patience=3",
    "train.lr=5e-4", "train.batch_size=32",
]


def combined_split_file(folder: Path, files: dict[str, str], fmt: str, out: Path) -> Path:
    """Concatenate train/dev/test files into one CSV with a ``split`` column."""
    frames = []
    for split, name in files.items():
        path = folder / name
        if fmt == "jsonl":
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                frame = pd.DataFrame([json.loads(line) for line in fh if line.strip()])
            frame = frame.drop(columns=[c for c in ("metadata",) if c in frame])
        else:
            frame = pd.read_csv(path)
        frame["split"] = split
        frames.append(frame)
    pd.concat(frames, ignore_index=True).to_csv(out, index=False)
    return out


def _value(v: object) -> float | None:
    """A metric as a float (``{"value": x}`` objects or bare numbers), None when absent."""
    if isinstance(v, dict):
        v = v.get("value")
    return None if v is None else float(v)


def run_one(dataset: str, seed: int, family: str, data: Path, input_col: str,
            targets: list[str], modality: str, metric: str, extra: list[str],
            workdir: Path) -> dict:
    out = workdir / f"{dataset}_{family}_seed{seed}"
    flags = {"data.path": str(data), "data.input_col": input_col, "data.target_cols": targets,
             "data.modality": modality, "data.duplicates": "keep", "split.method": "predefined",
             "split.column": "split", "model.families": family, "out": str(out), "seed": seed,
             "tracking.enabled": False}
    overrides = (TRANSFORMER_SETTINGS if family == "transformer" else []) + list(extra)
    cfg = load_config(flags=flags, overrides=overrides)
    t0 = time.perf_counter()
    result = train(cfg, command="bench")
    wall = time.perf_counter() - t0
    test = result.metrics["test"][metric]
    row = {"dataset": dataset, "seed": seed, "family": family, "metric": metric,
           "value": test["value"], "ci95": test["ci95"], "wall_s": round(wall, 1),
           "val": _value(result.metrics.get("val", {}).get(metric)),
           "fit_s": result.metrics.get("fit_seconds"), "n_test": result.metrics["test"]["n"],
           "overrides": overrides, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
           "machine": platform.processor() or platform.machine(), "time": time.ctime()}
    shutil.rmtree(out, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", nargs="+", default=["moleculenet"],
                    choices=["moleculenet", "text", "dna"])
    ap.add_argument("--datasets", nargs="*", default=list(MOLECULENET))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--families", nargs="+", default=["lightgbm", "transformer"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not SHARED.is_dir():
        raise SystemExit(f"skipped: shared benchmark data not found at {SHARED}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    sink = RESULTS / "results.jsonl"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        jobs = []
        if "moleculenet" in args.suite:
            for ds in args.datasets:
                col, targets, metric = MOLECULENET[ds]
                for seed in args.seeds:
                    path = SHARED / "splits" / f"{ds}_scaffold_seed{seed}.csv.gz"
                    jobs.append((ds, seed, path, col, targets, "smiles", metric, []))
        if "text" in args.suite:
            path = combined_split_file(SHARED / "text" / "scibert_sci-cite",
                                       {"train": "train.txt.gz", "val": "dev.txt.gz",
                                        "test": "test.txt.gz"}, "jsonl", work / "scicite.csv")
            jobs.append(("scicite", 0, path, "text", ["label"], "text", "f1_macro",
                         ["train.max_steps=400"]))
        if "dna" in args.suite:
            path = combined_split_file(SHARED / "dna" / "gue" / "prom_core_tata",
                                       {"train": "train.csv.gz", "val": "dev.csv.gz",
                                        "test": "test.csv.gz"}, "csv", work / "tata.csv")
            jobs.append(("prom_core_tata", 0, path, "sequence", ["label"], "dna", "mcc",
                         ["model.dna_kmer=3", "train.max_steps=400"]))
        for ds, seed, path, col, targets, modality, metric, extra in jobs:
            for family in args.families:
                row = run_one(ds, seed, family, path, col, targets, modality, metric, extra,
                              work)
                with sink.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{ds:15s} seed {seed} {family:12s} {metric} {row['value']:.3f} "
                      f"[{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]  {row['wall_s']:.0f} s",
                      flush=True)


if __name__ == "__main__":
    main()
