"""Training throughput of scifm's Trainer set-up vs a plain Hugging Face Trainer script.

Not a test; the lead runs it and copies the ratios into BENCHMARKS.md. Both sides train the same
model (BERT ``--size`` preset, same initial weights) on the same data (SMILES from
``../shared/data/molecules/pretrain``, generated ones if absent) for the same number of steps
with the same batch size; only the Trainer set-up differs:

* ``plain``: what Hugging Face's example scripts do by default: fp32, default
  ``TrainingArguments`` (random sampler, no dataloader workers); fine-tuning pads every input to
  ``max_length`` (``run_glue.py``'s ``pad_to_max_length=True``), MLM pads each batch to its longest
  item (``run_mlm.py --line_by_line``).
* ``scifm``: the arguments scifm's recipes pass (``scifm.training.args.speed_args``): bf16
  autocast where the CPU/GPU supports it, dynamic padding (pad to the longest in the batch),
  length-grouped batches for fine-tuning (the streamed MLM corpus is not grouped), dataloader
  workers when more than 4 cores are available.

Two jobs: fine-tuning (sequence regression) and masked-LM pretraining. Reported per side:
samples/s, real tokens/s (non-padding) and model FLOPs utilisation (MFU): achieved FLOP/s =
6 x parameters x *computed* tokens/s (padding is computed too, forward + backward = 6 FLOPs per
parameter per token; embedding tables are lookups and do not count, the MLM decoder does;
attention's quadratic term ignored) divided by the machine's peak.
Two ceilings: the measured one (large square matmuls in torch on the same device, fp32 and bf16:
what the hardware actually sustains) and the nominal CPU peak = physical cores x max clock x
FLOPs/cycle, with the assumption stated in the output
(fp32: 32 FLOP/cycle/core for AVX2 or AVX-512 executed as 2x256 bit, 64 with ``--fma512``;
bf16: 2x fp32 when AVX512_BF16 / AMX is present). One JSON line per job goes to
``bench/results/throughput.jsonl``.

Usage::

    python bench/throughput.py --steps 200            # the real run
    python bench/throughput.py --steps 5 --size tiny  # smoke test (seconds)
    MINILM=$(python tests/checkpoints.py minilm)  # the folder, after every file's SHA-256 check
    python bench/throughput.py --steps 60 --init "$MINILM"      # the real MiniLM, SciCite text
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import platform
import random
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertForMaskedLM,
    BertForSequenceClassification,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
)

from scifm.config.schema import ModelConfig, TrainConfig
from scifm.featurizers.tokenizers import build_tokenizer
from scifm.models.backbones import build_backbone_config
from scifm.training.args import speed_args
from scifm.training.device import accelerator, bf16_supported

logger = logging.getLogger("bench.throughput")
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CORPUS = SHARED / "molecules" / "pretrain" / "pretrain_smiles_chembl_muv.txt.gz"
RESULTS = Path(__file__).resolve().parent / "results" / "throughput.jsonl"


def load_smiles(n: int, seed: int = 0) -> list[str]:
    """The first ``n`` SMILES of the shared corpus, or generated chains/rings if it is absent."""
    if CORPUS.is_file():
        out = []
        with gzip.open(CORPUS, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(line.split()[0])
                if len(out) >= n:
                    return out
        return out
    rng = random.Random(seed)
    parts = ["C", "CC", "O", "N", "c1ccccc1", "C(=O)O", "Cl", "CN", "C1CCCCC1", "F"]
    return ["".join(rng.choice(parts) for _ in range(rng.randint(3, 20))) for _ in range(n)]


@dataclass
class CountingCollator:
    """Wraps a collator and counts real (attention) and computed (padded) tokens."""

    inner: Any
    real: int = 0
    computed: int = 0

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.inner(features)
        self.real += int(batch["attention_mask"].sum())
        self.computed += int(batch["input_ids"].numel())
        return batch


class _Rows(torch.utils.data.Dataset):
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.rows[i]


def _rows(tok: PreTrainedTokenizerBase, smiles: list[str], max_length: int, pad: bool,
          mlm: bool) -> list[dict[str, Any]]:
    enc = tok(smiles, truncation=True, max_length=max_length,
              padding="max_length" if pad else False, return_token_type_ids=False)
    rows = []
    for ids, mask, smi in zip(enc["input_ids"], enc["attention_mask"], smiles, strict=True):
        row: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if not mlm:
            row["labels"] = float(len(smi)) / 50.0  # a regression target
        rows.append(row)
    return rows


def _args(out: Path, side: str, steps: int, batch: int, bf16: bool,
          job: str) -> TrainingArguments:
    common: dict[str, Any] = {"output_dir": str(out), "max_steps": steps,
                              "per_device_train_batch_size": batch, "report_to": "none",
                              "save_strategy": "no", "logging_strategy": "no", "seed": 0,
                              "disable_tqdm": True}
    if side == "plain":
        return TrainingArguments(**common, use_cpu=accelerator() == "cpu")
    # scifm's own settings, as its recipes pass them: fine-tuning groups by length, the
    # streamed MLM corpus cannot (batches are still padded only to their longest item).
    return TrainingArguments(**common, **speed_args(TrainConfig(), bf16,
                                                    group_by_length=job == "finetune"))


def load_texts(n: int) -> list[str]:
    """The first ``n`` SciCite training sentences (``--init`` runs), or [] if absent."""
    path = SHARED / "text" / "scibert_sci-cite" / "train.txt.gz"
    if not path.is_file():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line, _ in zip(fh, range(n), strict=False)]


def flop_parameters(model: torch.nn.Module, mlm: bool) -> int:
    """Parameters that do matrix products per token: all but the embedding tables (lookups),
    plus the MLM decoder (tied to the word embeddings, but a real ``hidden x vocab`` product)."""
    emb = model.get_input_embeddings()
    embeddings = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)
                     for p in m.parameters())
    return sum(p.numel() for p in model.parameters()) - embeddings + (
        emb.weight.numel() if mlm else 0)


def run_side(job: str, side: str, smiles: list[str], tok: PreTrainedTokenizerBase,
             size: str, steps: int, batch: int, max_length: int, bf16: bool,
             out: Path, init: Path | None = None) -> dict[str, Any]:
    """Train ``steps`` steps with one set-up; returns throughput numbers."""
    mlm = job == "mlm"
    torch.manual_seed(0)
    if init is not None:  # a real checkpoint (its MLM head is new when it has none)
        model = (AutoModelForMaskedLM.from_pretrained(init) if mlm else
                 AutoModelForSequenceClassification.from_pretrained(init, num_labels=1))
    else:
        cfg = build_backbone_config(size, len(tok), ModelConfig(max_length=max_length),
                                    pad_token_id=tok.pad_token_id, num_labels=1)
        model = BertForMaskedLM(cfg) if mlm else BertForSequenceClassification(cfg)
    inner = (DataCollatorForLanguageModeling(tok, mlm_probability=0.15, seed=0) if mlm
             else DataCollatorWithPadding(tok))
    collator = CountingCollator(inner)
    trainer = Trainer(model=model, args=_args(out, side, steps, batch, bf16, job),
                      train_dataset=_Rows(_rows(tok, smiles, max_length,
                                                      side == "plain" and not mlm, mlm)),
                      data_collator=collator)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    n_flop = flop_parameters(model, mlm)
    return {"seconds": round(seconds, 3), "samples_per_s": steps * batch / seconds,
            "real_tokens_per_s": collator.real / seconds,
            "computed_tokens_per_s": collator.computed / seconds,
            "achieved_flops": 6.0 * n_flop * collator.computed / seconds,
            "n_parameters": n_params, "n_flop_parameters": n_flop,
            "bf16": bf16 if side == "scifm" else False}


def cpu_peak(fma512: bool) -> dict[str, Any]:
    """Peak FLOP/s estimate from ``lscpu`` (cores x max clock x FLOPs/cycle) with assumptions."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    info = dict(re.findall(r"^([^:]+):\s*(.*)$", text, flags=re.M))
    flags = set(info.get("Flags", "").split())
    cores = int(info.get("Core(s) per socket", "0") or 0) * int(info.get("Socket(s)", "1") or 1)
    cores = cores or (os.cpu_count() or 1)
    mhz = float(info.get("CPU max MHz", "0") or 0)
    if not mhz:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
            mhz = max(float(m) for m in re.findall(r"cpu MHz\s*:\s*([\d.]+)", cpuinfo))
        except (OSError, ValueError):
            mhz = 2000.0
    fp32 = 64 if fma512 and "avx512f" in flags else 32 if ("avx2" in flags or
                                                           "avx512f" in flags) else 16
    bf16_native = bool({"avx512_bf16", "amx_bf16"} & flags)
    return {"cores": cores, "mhz": mhz, "fp32_flops_per_cycle": fp32, "bf16_native": bf16_native,
            "peak_fp32": cores * mhz * 1e6 * fp32,
            "peak_bf16": cores * mhz * 1e6 * fp32 * (2 if bf16_native else 1),
            "assumption": f"{cores} cores x {mhz:.0f} MHz x {fp32} fp32 FLOP/cycle (2 FMA x "
                          f"{fp32 // 4} lanes); bf16 = {'2x' if bf16_native else '1x'} fp32"}


def matmul_peak(dtype: torch.dtype, n: int = 2048, seconds: float = 3.0) -> float:
    """Attained FLOP/s of large square matmuls on this device (torch's own kernels): the
    measured ceiling, since a VM's nominal clock understates the boost clock."""
    device = accelerator()
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.matmul(a, b)  # warm-up
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        torch.matmul(a, b)
        count += 1
    if device == "cuda":
        torch.cuda.synchronize()
    return 2.0 * n ** 3 * count / (time.perf_counter() - t0)


def measured_peaks(bf16: bool) -> dict[str, float]:
    return {"matmul_fp32": matmul_peak(torch.float32),
            "matmul_bf16": matmul_peak(torch.bfloat16) if bf16 else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--n", type=int, default=2000, help="SMILES in the data set")
    ap.add_argument("--size", default="small", choices=["tiny", "small", "base"])
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--jobs", nargs="+", default=["finetune", "mlm"],
                    choices=["finetune", "mlm"])
    ap.add_argument("--fma512", action="store_true",
                    help="count 64 fp32 FLOP/cycle/core (full-width AVX-512 FMA units)")
    ap.add_argument("--init", type=Path, default=None,
                    help="a local HF checkpoint instead of a fresh --size model; trains on "
                         "SciCite sentences (e.g. the offline all-MiniLM-L6-v2)")
    ap.add_argument("--peak-only", action="store_true",
                    help="only measure the matmul ceiling (one 'peak' line in --out)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    a = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if a.init is not None:
        smiles = load_texts(a.n) or load_smiles(a.n)
        tok = AutoTokenizer.from_pretrained(a.init)
        a.size = a.init.parent.name if a.init.name == "model" else a.init.name
    else:
        smiles = load_smiles(a.n)
        tok = build_tokenizer("smiles", smiles, ModelConfig(max_length=a.max_length))
    bf16 = bf16_supported()
    peak = {**cpu_peak(a.fma512), **measured_peaks(bf16)}
    if a.peak_only:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"job": "peak", "device": accelerator(), "peak": peak}) + "\n")
        logger.info("matmul fp32 %.0f GFLOP/s, bf16 %.0f GFLOP/s; nominal %s",
                    peak["matmul_fp32"] / 1e9, peak["matmul_bf16"] / 1e9, peak["assumption"])
        return
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for job in a.jobs:
        res = {side: run_side(job, side, smiles, tok, a.size, a.steps, a.batch_size,
                              a.max_length, bf16, a.out.parent / f"tmp-{job}-{side}", a.init)
               for side in ("plain", "scifm")}
        for r in res.values():
            r["mfu"] = r["achieved_flops"] / (peak["peak_bf16"] if r["bf16"] else
                                             peak["peak_fp32"])
            r["mfu_measured"] = r["achieved_flops"] / (peak["matmul_bf16"] if r["bf16"] else
                                                      peak["matmul_fp32"])
        record = {"job": job, "size": a.size, "steps": a.steps, "batch_size": a.batch_size,
                  "max_length": a.max_length, "n_smiles": len(smiles), "device": accelerator(),
                  "cpu": platform.processor() or platform.machine(), "peak": peak, **res,
                  "ratio_samples_per_s": res["scifm"]["samples_per_s"]
                  / res["plain"]["samples_per_s"],
                  "ratio_real_tokens_per_s": res["scifm"]["real_tokens_per_s"]
                  / res["plain"]["real_tokens_per_s"]}
        with open(a.out, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
        logger.info("%s: scifm/plain = %.2fx samples/s (%.1f vs %.1f); MFU %.1f%% vs %.1f%%",
                    job, record["ratio_samples_per_s"], res["scifm"]["samples_per_s"],
                    res["plain"]["samples_per_s"], 100 * res["scifm"]["mfu"],
                    100 * res["plain"]["mfu"])


if __name__ == "__main__":
    main()
