"""Recipe: pretrain — a corpus -> masked-language-model pretraining -> a reusable checkpoint.

One streamed pass over the corpus counts and validates it (``rejected.csv``,
``data_report.json``), keeps a bounded sample to train a tokenizer and the held-out items to
evaluate on; then ``transformers.Trainer`` trains a BERT masked-LM on the training items, streamed
and masked dynamically, for ``train.max_steps`` steps (default 1,000), evaluating on the
held-out items every ``pretrain.eval_steps``. The run directory::

    RUN_DIR/
      config.yaml, log.txt, data_report.json, rejected.csv
      model/          HF folder (AutoModelForMaskedLM loads it) + tokenizer + scifm.json + README.md
      metrics.json    {"model": "mlm", "test": {"mlm_accuracy"|"perplexity"|"mlm_loss": {"value"}},
                       "n_parameters", "n_steps", "data": {...}}  ("test" = the held-out items)
      history.json    {"mlm": [{"step", "train_loss", "val_loss", "val_mlm_accuracy"}, ...]}

Fine-tune from it with ``scifm train --set model.init=RUN_DIR/model``. Under ``torchrun`` /
``accelerate launch`` every process reads the corpus and trains (DDP through Trainer); only
rank 0 writes the run directory.

The run is written in ``OUT.partial/`` and moved to ``OUT`` only when it succeeded; interrupted,
it keeps its checkpoints (every ``pretrain.eval_steps``) in ``OUT.partial/checkpoints`` and the
same command with ``--resume`` continues from the last one (also from ``OUT/checkpoints`` of a
finished run with ``train.keep_checkpoints``, copied, so ``OUT`` stays as it was until the
longer run succeeded).
"""

from __future__ import annotations

import logging
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformers import (
    AutoTokenizer,
    PreTrainedTokenizerBase,
    ProgressCallback,
    Trainer,
)
from transformers.trainer_utils import get_last_checkpoint
from transformers.utils import logging as hf_logging

from scifm.config.applicability import check_applicable
from scifm.config.registry import MODALITIES
from scifm.config.schema import ExperimentConfig
from scifm.config.training import pretrain_max_steps
from scifm.data.corpus import CorpusReader, CorpusScan, MlmStreamDataset, scan_corpus
from scifm.errors import ConfigError, DataError
from scifm.featurizers.tokenizers import build_tokenizer, checkpoint_dna_kmer, prepare_inputs
from scifm.models.backbones import Backbone, checkpoint_max_length
from scifm.models.base import MODEL_META
from scifm.models.manifest import write_manifest
from scifm.rundir import RunContext, RunDir, RunResult
from scifm.training.args import trainer_history, training_arguments
from scifm.training.callbacks import StepLogProgress
from scifm.training.data import ListDataset
from scifm.training.device import resolve_bf16
from scifm.training.distributed import backend, barrier, world_size
from scifm.training.masking import MlmCollator, argmax_logits, mlm_accuracy, premask
from scifm.utils.io import atomic_write_json, atomic_write_text

logger = logging.getLogger(__name__)

FAMILY = "mlm"
"""``family`` in a pretrained ``model/scifm.json`` (a checkpoint, not a predictor)."""


@dataclass
class PretrainResult(RunResult):
    """Outcome of :func:`pretrain` (``model_dir``: the checkpoint, a path in ``run_dir``)."""

    metrics: dict[str, Any]
    mlflow_run_id: str | None = None


def pretrain(cfg: ExperimentConfig, command: str = "") -> PretrainResult:
    """Pretrain a masked-language model on ``cfg.data.path``; returns the run directory."""
    pc, mc, tc, dc = cfg.pretrain, cfg.model, cfg.train, cfg.data
    if dc.path is None:
        raise ConfigError("no corpus: pass --data FILE (or data.path in the config)")
    check_applicable(cfg, recipe="pretrain")
    hf_logging.disable_progress_bar()
    with RunContext.open(cfg, command) as ctx:
        run, main = ctx.run, ctx.is_main
        try:
            # 1. One streamed pass: validate and count, quarantine invalid items, keep bounded
            #    samples (tokenizer training, held-out items).
            corpus = CorpusReader(dc.path, dc.modality, dc, fmt=dc.format,
                                  input_col=dc.input_col)
            scan = _scan(cfg, corpus, run, main)

            # 2. Tokenizer (trained on the sample, the checkpoint's own, or the resumed one)
            #    and model.
            ckpt_dir = run.root / "checkpoints"
            last = get_last_checkpoint(str(ckpt_dir)) if tc.resume and ckpt_dir.is_dir() \
                else None
            if last is None and ckpt_dir.is_dir() and main:
                shutil.rmtree(ckpt_dir)  # never mix a new run's checkpoints with an earlier one's
            dna_kmer = (checkpoint_dna_kmer(Path(mc.init)) if mc.init else None) or mc.dna_kmer
            tokenizer = _tokenizer(cfg, last, scan, dna_kmer)
            scan.tokenizer_sample = []  # no longer needed
            model = Backbone.mlm().load(mc, vocab_size=len(tokenizer),
                                        pad_token_id=tokenizer.pad_token_id)
            max_length = checkpoint_max_length(model.config, mc.max_length)
            tokenizer.model_max_length = max_length

            # 3.-4. Data (training items streamed and masked anew at every step; held-out
            #       items masked once); the Trainer owns the loop, checkpoints every eval_steps.
            span = pc.mask_span or MODALITIES.get(dc.modality).mask_span(dna_kmer)
            trainer = _trainer(cfg, model, tokenizer, corpus, scan, ckpt_dir, max_length,
                               dna_kmer, span)
            trainer.train(resume_from_checkpoint=last)
            final = trainer.evaluate()
            if backend() is not None:
                logger.info("pretrained by %d processes (%s)", world_size(), backend())

            # 5. The checkpoint, metrics and model card (main process; Trainer saves once).
            trainer.save_model(str(run.model))
            n_steps = int(trainer.state.global_step)
            metrics = _metrics(final, model.num_parameters(), n_steps, scan)
            barrier()  # every process is done with the checkpoints; the model folder is whole
            if not main:
                return PretrainResult(ctx.out, metrics)
            history = _save(cfg, run, trainer, metrics, dna_kmer, max_length, span)
            run_id = ctx.track(
                histories={FAMILY: [{**row, "epoch": row["step"]} for row in history]},
                final_metrics={"test": metrics["test"]},
                artifacts=[run.metrics, run.config, run.data_report, run.model])
            return PretrainResult(ctx.out, metrics, run_id)
        finally:
            hf_logging.enable_progress_bar()


def _scan(cfg: ExperimentConfig, corpus: CorpusReader, run: RunDir, main: bool) -> CorpusScan:
    """Validate and count the corpus in one pass (``rejected.csv``, ``data_report.json``).

    Raises
    ------
    DataError
        No training or no held-out items.
    """
    pc, dc = cfg.pretrain, cfg.data
    scan = scan_corpus(corpus, pc.holdout_fraction, run.rejected if main else None,
                       pc.tokenizer_sample, pc.max_eval_items)
    if main:
        atomic_write_json(run.data_report, {"source": str(dc.path), **scan.report()})
    if scan.n_train == 0 or not scan.holdout:
        raise DataError(f"{Path(dc.path).name}: {scan.n_train} training and {scan.n_holdout} "
                        f"held-out items (of {scan.n_valid} valid); need both (see "
                        f"{run.rejected.name}, pretrain.holdout_fraction)")
    return scan


def _tokenizer(cfg: ExperimentConfig, last: str | None, scan: CorpusScan,
               dna_kmer: int) -> PreTrainedTokenizerBase:
    """The resumed checkpoint's tokenizer, or one built on the corpus sample (or model.init's)."""
    if last is not None:
        logger.info("resuming from %s", last)
        return AutoTokenizer.from_pretrained(last)
    sample = prepare_inputs(cfg.data.modality, scan.tokenizer_sample, dna_kmer)
    return build_tokenizer(cfg.data.modality, sample,
                           cfg.model.model_copy(update={"dna_kmer": dna_kmer}))


def _trainer(cfg: ExperimentConfig, model: Any, tokenizer: PreTrainedTokenizerBase,
             corpus: CorpusReader, scan: CorpusScan, ckpt_dir: Path, max_length: int,
             dna_kmer: int, span: int) -> Trainer:
    """The MLM Trainer: streamed, dynamically masked training items; held-out items masked
    once (seeded), scored by masked-token accuracy."""
    pc, tc, dc = cfg.pretrain, cfg.train, cfg.data
    train_ds = MlmStreamDataset(corpus, tokenizer, dc.modality, max_length, pc.holdout_fraction,
                                split="train", dna_kmer=dna_kmer,
                                shuffle_buffer=pc.shuffle_buffer, seed=cfg.seed)
    holdout_ids = tokenizer(prepare_inputs(dc.modality, scan.holdout, dna_kmer), truncation=True,
                            max_length=max_length, return_token_type_ids=False,
                            return_attention_mask=False)["input_ids"]
    eval_ds = ListDataset(premask([{"input_ids": ids} for ids in holdout_ids], tokenizer,
                                   pc.mask_prob, seed=cfg.seed + 1, span=span))
    args = training_arguments(
        ckpt_dir, tc, cfg.seed, resolve_bf16(tc.bf16), eval_steps=pc.eval_steps,
        max_steps=pretrain_max_steps(tc),
        group_by_length=False,  # streamed: no length grouping; the collator pads per batch
        # several processes: each reads the stream and keeps its own slice of every batch
        # (accelerate's IterableDatasetShard); dispatching from rank 0 cannot concatenate
        # batches that the collator padded to different lengths
        accelerator_config={"dispatch_batches": False},
    )
    trainer = Trainer(
        model=model, args=args, data_collator=MlmCollator(tokenizer, pc.mask_prob, cfg.seed, span),
        train_dataset=train_ds, eval_dataset=eval_ds, processing_class=tokenizer,
        compute_metrics=mlm_accuracy, preprocess_logits_for_metrics=argmax_logits,
    )
    trainer.remove_callback(ProgressCallback)
    trainer.add_callback(StepLogProgress)
    return trainer


def _save(cfg: ExperimentConfig, run: RunDir, trainer: Trainer, metrics: dict[str, Any],
          dna_kmer: int, max_length: int, span: int) -> list[dict[str, Any]]:
    """Write ``scifm.json``, the model card, metrics and history; returns the history."""
    mc, dc = cfg.model, cfg.data
    (run.model / "training_args.bin").unlink(missing_ok=True)  # a pickle; config.yaml has it all
    atomic_write_json(run.model / MODEL_META, {
        "family": FAMILY, "modality": dc.modality, "dna_kmer": dna_kmer, "max_length": max_length,
        "mask_prob": cfg.pretrain.mask_prob, "mask_span": span, "n_steps": metrics["n_steps"],
        "n_parameters": metrics["n_parameters"],
        "init": str(mc.init) if mc.init else None, "data": dc.model_dump(mode="json"),
    })
    atomic_write_text(run.model / "README.md", model_card(cfg, metrics, max_length, dna_kmer))
    write_manifest(run.model)  # the last write into model/: SHA-256 of every file, checked at load
    atomic_write_json(run.metrics, metrics)
    history = trainer_history(trainer.state.log_history, by="step")
    atomic_write_json(run.history, {FAMILY: history})
    if not cfg.train.keep_checkpoints:
        shutil.rmtree(run.root / "checkpoints", ignore_errors=True)
    logger.info("held-out: mlm_accuracy %.4f, perplexity %.4g after %d steps; model in %s",
                metrics["test"]["mlm_accuracy"]["value"], metrics["test"]["perplexity"]["value"],
                metrics["n_steps"], RunDir(Path(cfg.out)).model)
    return history


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
    spec = MODALITIES.get(cfg.data.modality)
    kmer = f" ({spec.label} as overlapping {dna_kmer}-mers)" if spec.kmer_tokens and \
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
