"""Recipe: pretrain — a corpus -> masked-language-model pretraining -> a reusable checkpoint.

One streamed pass over the corpus counts and validates it (``rejected.csv``,
``data_report.json``), keeps a bounded sample to train a tokenizer and the held-out items to
evaluate on; then ``transformers.Trainer`` trains a BERT masked-LM on the training items, streamed
and masked dynamically, for ``pretrain.max_steps`` steps, evaluating on the held-out items every
``pretrain.eval_steps``. The run directory::

    RUN_DIR/
      config.yaml, log.txt, data_report.json, rejected.csv
      model/          HF folder (AutoModelForMaskedLM loads it) + tokenizer + scifm.json + README.md
      metrics.json    {"model": "mlm", "test": {"mlm_accuracy"|"perplexity"|"mlm_loss": {"value"}},
                       "n_parameters", "n_steps", "data": {...}}  ("test" = the held-out items)
      history.json    {"mlm": [{"step", "train_loss", "val_loss", "val_mlm_accuracy"}, ...]}

Fine-tune from it with ``scifm train --set model.init=RUN_DIR/model``. Under ``torchrun`` /
``accelerate launch`` every process reads the corpus and trains (DDP through Trainer); only
rank 0 writes the run directory.
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset
from transformers import (
    AutoTokenizer,
    ProgressCallback,
    Trainer,
    TrainingArguments,
)
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from scifm.config.load import save_config
from scifm.config.schema import ExperimentConfig
from scifm.data.corpus import CorpusReader, CorpusScan, MlmStreamDataset, scan_corpus
from scifm.errors import ConfigError, DataError
from scifm.featurizers.tokenizers import build_tokenizer, checkpoint_dna_kmer, prepare_inputs
from scifm.models.backbones import checkpoint_max_length, load_mlm_backbone
from scifm.models.base import MODEL_META
from scifm.recipes.common import attach_run_log
from scifm.rundir import RunDir
from scifm.tracking.mlflow import log_run
from scifm.training.args import speed_args, trainer_history
from scifm.training.callbacks import StepLogProgress
from scifm.training.device import resolve_bf16
from scifm.training.distributed import backend, barrier, is_main_process, world_size
from scifm.training.masking import MlmCollator, argmax_logits, mlm_accuracy, premask
from scifm.utils.io import atomic_write_json, atomic_write_text
from scifm.utils.seed import seed_everything

logger = logging.getLogger(__name__)

FAMILY = "mlm"
"""``family`` in a pretrained ``model/scifm.json`` (a checkpoint, not a predictor)."""


@dataclass
class PretrainResult:
    """Outcome of :func:`pretrain`."""

    run_dir: Path
    metrics: dict[str, Any]
    mlflow_run_id: str | None = None

    @property
    def model_dir(self) -> Path:
        return RunDir(self.run_dir).model


class _ListDataset(Dataset):
    def __init__(self, items: list[dict[str, list[int]]]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.items[i]


def pretrain(cfg: ExperimentConfig, command: str = "") -> PretrainResult:
    """Pretrain a masked-language model on ``cfg.data.path``; returns the run directory."""
    run = RunDir(Path(cfg.out))
    run.root.mkdir(parents=True, exist_ok=True)
    detach_log = attach_run_log(run.log) if is_main_process() else (lambda: None)
    hf_logging.disable_progress_bar()
    try:
        return _pretrain(cfg, run, command)
    finally:
        hf_logging.enable_progress_bar()
        detach_log()


def _pretrain(cfg: ExperimentConfig, run: RunDir, command: str) -> PretrainResult:
    pc, mc, tc, dc = cfg.pretrain, cfg.model, cfg.train, cfg.data
    if dc.path is None:
        raise ConfigError("no corpus: pass --data FILE (or data.path in the config)")
    main = is_main_process()  # several processes: rank 0 alone writes the run directory
    if main:
        save_config(cfg, run.config)
        logger.info("run directory: %s", run.root)
    seed_everything(cfg.seed)

    # 1. One streamed pass: validate and count, quarantine invalid items, keep bounded samples.
    corpus = CorpusReader(dc.path, dc.modality, dc, fmt=dc.format, input_col=dc.input_col)
    scan = scan_corpus(corpus, pc.holdout_fraction, run.rejected if main else None,
                       pc.tokenizer_sample, pc.max_eval_items)
    if main:
        atomic_write_json(run.data_report, {"source": str(dc.path), **scan.report()})
    if scan.n_train == 0 or not scan.holdout:
        raise DataError(f"{Path(dc.path).name}: {scan.n_train} training and {scan.n_holdout} "
                        f"held-out items (of {scan.n_valid} valid); need both (see "
                        f"{run.rejected.name}, pretrain.holdout_fraction)")

    # 2. Tokenizer (trained on the sample, the checkpoint's own, or the resumed one) and model.
    ckpt_dir = run.root / "checkpoints"
    last = get_last_checkpoint(str(ckpt_dir)) if tc.resume and ckpt_dir.is_dir() else None
    if last is None and ckpt_dir.is_dir() and main:
        shutil.rmtree(ckpt_dir)  # never mix a new run's checkpoints with an earlier run's
    dna_kmer = (checkpoint_dna_kmer(Path(mc.init)) if mc.init else None) or mc.dna_kmer
    if last is not None:
        logger.info("resuming from %s", last)
        tokenizer = AutoTokenizer.from_pretrained(last)
    else:
        sample = prepare_inputs(dc.modality, scan.tokenizer_sample, dna_kmer)
        tokenizer = build_tokenizer(dc.modality, sample, mc.model_copy(update={"dna_kmer":
                                                                             dna_kmer}))
    scan.tokenizer_sample = []  # no longer needed
    model = load_mlm_backbone(mc, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    max_length = checkpoint_max_length(model.config, mc.max_length)
    tokenizer.model_max_length = max_length

    # 3. Data: training items streamed and masked anew at every step; held-out items masked once.
    train_ds = MlmStreamDataset(corpus, tokenizer, dc.modality, max_length, pc.holdout_fraction,
                                split="train", dna_kmer=dna_kmer,
                                shuffle_buffer=pc.shuffle_buffer, seed=cfg.seed)
    holdout_ids = tokenizer(prepare_inputs(dc.modality, scan.holdout, dna_kmer), truncation=True,
                            max_length=max_length, return_token_type_ids=False,
                            return_attention_mask=False)["input_ids"]
    span = pc.mask_span or (dna_kmer if dc.modality == "dna" else 1)
    eval_ds = _ListDataset(premask([{"input_ids": ids} for ids in holdout_ids], tokenizer,
                                   pc.mask_prob, seed=cfg.seed + 1, span=span))

    # 4. Train: Trainer owns the loop, checkpoints every eval_steps (resumable).
    bf16 = resolve_bf16(tc.bf16)
    args = TrainingArguments(
        output_dir=str(ckpt_dir), max_steps=pc.max_steps, learning_rate=tc.lr,
        per_device_train_batch_size=tc.batch_size, per_device_eval_batch_size=tc.batch_size,
        weight_decay=tc.weight_decay, eval_strategy="steps", eval_steps=pc.eval_steps,
        save_strategy="steps", save_steps=pc.eval_steps, save_total_limit=2,
        logging_strategy="steps", logging_steps=pc.eval_steps, seed=cfg.seed,
        data_seed=cfg.seed, report_to="none", label_names=["labels"],
        # several processes: each reads the stream and keeps its own slice of every batch
        # (accelerate's IterableDatasetShard); dispatching from rank 0 cannot concatenate
        # batches that the collator padded to different lengths
        accelerator_config={"dispatch_batches": False},
        **speed_args(tc, bf16),  # streamed: no length grouping; the collator pads per batch
    )
    trainer = Trainer(
        model=model, args=args, data_collator=MlmCollator(tokenizer, pc.mask_prob, cfg.seed, span),
        train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
        compute_metrics=mlm_accuracy, preprocess_logits_for_metrics=argmax_logits,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StepLogProgress)
    trainer.train(resume_from_checkpoint=last)
    final = trainer.evaluate()
    if backend() is not None:
        logger.info("pretrained by %d processes (%s)", world_size(), backend())

    # 5. Write the checkpoint, metrics and model card; track (rank 0; Trainer saves once).
    trainer.save_model(str(run.model))
    n_steps = int(trainer.state.global_step)
    metrics = _metrics(final, model.num_parameters(), n_steps, scan)
    barrier()  # every process is done with the checkpoints and the model folder is complete
    if not main:
        return PretrainResult(run.root, metrics)
    (run.model / "training_args.bin").unlink(missing_ok=True)  # a pickle; config.yaml has it all
    atomic_write_json(run.model / MODEL_META, {
        "family": FAMILY, "modality": dc.modality, "dna_kmer": dna_kmer, "max_length": max_length,
        "mask_prob": pc.mask_prob, "mask_span": span, "n_steps": n_steps,
        "n_parameters": metrics["n_parameters"],
        "init": str(mc.init) if mc.init else None, "data": dc.model_dump(mode="json"),
    })
    atomic_write_text(run.model / "README.md", model_card(cfg, metrics, max_length, dna_kmer))
    atomic_write_json(run.metrics, metrics)
    history = trainer_history(trainer.state.log_history, by="step")
    atomic_write_json(run.history, {FAMILY: history})
    if not tc.keep_checkpoints:
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    logger.info("held-out: mlm_accuracy %.4f, perplexity %.4g after %d steps; model in %s",
                metrics["test"]["mlm_accuracy"]["value"], metrics["test"]["perplexity"]["value"],
                n_steps, run.model)
    run_id = None
    if cfg.tracking.enabled:
        run_id = log_run(
            run_dir=run.root, uri=cfg.tracking.uri, experiment=cfg.tracking.experiment,
            run_name=run.root.name, params=cfg.model_dump(mode="json"),
            histories={FAMILY: [{**row, "epoch": row["step"]} for row in history]},
            final_metrics={"test": metrics["test"]},
            artifacts=[run.metrics, run.config, run.data_report, run.model])
    return PretrainResult(run.root, metrics, run_id)


def _metrics(final: dict[str, float], n_parameters: int, n_steps: int,
             scan: CorpusScan) -> dict[str, Any]:
    """``metrics.json``: held-out MLM loss, accuracy and perplexity as ``{"value": x}``."""
    loss = float(final.get("eval_loss", float("nan")))
    perplexity = math.exp(loss) if loss < 700 else float("inf")
    return {
        "model": FAMILY,
        "test": {"mlm_accuracy": {"value": float(final.get("eval_mlm_accuracy", float("nan")))},
                 "perplexity": {"value": perplexity}, "mlm_loss": {"value": loss},
                 "n_masked_tokens": {"value": int(final.get("eval_n_masked", 0))}},
        "n_parameters": int(n_parameters), "n_trainable_parameters": int(n_parameters),
        "n_steps": n_steps, "data": scan.report(),
    }


def model_card(cfg: ExperimentConfig, metrics: dict[str, Any], max_length: int,
               dna_kmer: int) -> str:
    """A short ``README.md`` for the checkpoint: data, training, held-out metrics, usage."""
    test, data = metrics["test"], metrics["data"]
    start = f"continued from `{cfg.model.init}`" if cfg.model.init else \
        f"fresh BERT, size preset `{cfg.model.size}`"
    kmer = f" (DNA as overlapping {dna_kmer}-mers)" if cfg.data.modality == "dna" and \
        dna_kmer > 1 else ""
    return "\n".join([
        "---", "library_name: transformers", "pipeline_tag: fill-mask", "tags: [scifm, "
        f"{cfg.data.modality}]", "---", "",
        f"# Masked-language model on {Path(str(cfg.data.path)).name}", "",
        f"Pretrained by `scifm pretrain` on {cfg.data.modality} inputs{kmer}; {start}; "
        f"{metrics['n_parameters']:,} parameters.", "",
        "## Data", "",
        f"- {data['n_rows_in']:,} items read, {data['n_valid']:,} valid, "
        f"{data['n_rejected']:,} rejected (see `rejected.csv` in the run directory)",
        f"- {data['n_train']:,} training and {data['n_holdout']:,} held-out items (held out by "
        f"a hash of the item; {data['n_holdout_evaluated']:,} evaluated)", "",
        "## Training", "",
        f"- {metrics['n_steps']} steps, batch size {cfg.train.batch_size}, learning rate "
        f"{cfg.train.lr}, {cfg.pretrain.mask_prob:.0%} of tokens masked, max {max_length} "
        f"tokens per input, seed {cfg.seed}", "",
        "## Held-out metrics", "",
        f"- masked-token accuracy: {test['mlm_accuracy']['value']:.4f}",
        f"- perplexity: {test['perplexity']['value']:.4g} (MLM loss "
        f"{test['mlm_loss']['value']:.4f})", "",
        "## Use", "",
        "```python", "from transformers import AutoModelForMaskedLM, AutoTokenizer",
        "model = AutoModelForMaskedLM.from_pretrained('model')",
        "tokenizer = AutoTokenizer.from_pretrained('model')", "```", "",
        "Fine-tune: `scifm train --data DATA --set model.init=RUN_DIR/model ...`", "",
    ])
