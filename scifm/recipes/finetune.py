"""Recipe: finetune — data -> split -> tokenizer -> backbone -> PEFT -> Trainer -> evaluate -> save
-> report.

The transformer story in one file, for one prediction per input (``data.task`` regression,
binary, multiclass or auto) and for one label per word or residue (``data.task:
token_classification``)::

    # a property of molecules, from a pretrained checkpoint with LoRA
    scifm finetune --data bbbp.csv --input-col smiles --target-col p_np \\
        --set model.init=runs/mlm/model --set peft.method=lora --out runs/bbbp
    # NER on CoNLL files (token ... tag per line), predefined train/dev/test files
    scifm finetune --data train.txt.gz --set data.val_path=dev.txt.gz \\
        --set data.test_path=test.txt.gz --modality text --task token_classification \\
        --out runs/ncbi
    # per-residue labels: a CSV with the sequence, a label string and an optional 0/1 mask
    scifm finetune --data ss.csv.gz --modality protein --task token_classification \\
        --target-col ss3 --set data.mask_col=resolved_mask --split column:set --out runs/ss3

The steps (:mod:`scifm.training.finetune`) are those of ``scifm train --model transformer``;
what differs per kind of task (labels, head, loss, validation metric) comes from a head
(:mod:`scifm.training.heads`). The run directory is that of ``scifm train`` (sequence tasks) or::

    RUN_DIR/
      config.yaml, log.txt, data_report.json, rejected.csv, splits.json (row ids per split)
      model/                HF folder (AutoModelForTokenClassification) + tokenizer + scifm.json
      metrics.json          {"model": "token", "kind": "ner"|"residue", "val": {...},
                             "test": {"entity_f1"|"q3": {"value", "ci95"}, ...}, ...}
      predictions_test.csv  id, input, true, pred (space-joined tags for NER, strings for
                            residues; '-' = unscored residue)
      history.json, report.html

Under ``torchrun`` / ``accelerate launch`` every process runs this recipe and trains (the Trainer
shards the data); only the main process writes the run directory and logs to MLflow.

The run is written in ``OUT.partial/`` and moved to ``OUT`` only when it succeeded
(:class:`~scifm.rundir.RunContext`). Interrupted (Ctrl-C, a crash, a lost machine), it leaves
``OUT`` as it was and its checkpoints in ``OUT.partial/checkpoints``: the same command with
``--resume`` continues from the last one. A non-empty ``OUT`` is refused unless ``--overwrite``
(or ``--resume``) is given.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from scifm.config.applicability import check_applicable
from scifm.config.load import config_to_yaml
from scifm.config.schema import ExperimentConfig
from scifm.data.prepare import load_clean, split_and_audit
from scifm.data.tokens import (
    TokenData,
    load_token_data,
    rejected_frame,
    token_data_report,
    token_splits,
)
from scifm.evaluation.report import write_report
from scifm.evaluation.sanity import token_collapse_warnings
from scifm.evaluation.scoring import build_report_data, rows
from scifm.evaluation.token_metrics import evaluate_tokens, token_scores
from scifm.evaluation.token_report import render_token_report
from scifm.evaluation.token_tables import token_prediction_frame
from scifm.models.base import update_model_meta
from scifm.models.fitting import save_and_score
from scifm.models.token import TokenPredictor
from scifm.rundir import RunContext, TrainResult
from scifm.training.distributed import barrier
from scifm.training.finetune import FineTuned, fine_tune, run_settings
from scifm.training.heads import SequenceHead, TokenHead
from scifm.training.tokenizer import run_dna_kmer
from scifm.trust.fitting import attach_uncertainty
from scifm.utils.io import atomic_write_json, atomic_write_text, atomic_write_with

logger = logging.getLogger(__name__)


def finetune(cfg: ExperimentConfig, command: str = "") -> TrainResult:
    """Fine-tune a transformer as configured; returns the run directory and metrics."""
    check_applicable(cfg, recipe="finetune")
    with RunContext.open(cfg, command) as ctx:
        if cfg.data.task == "token_classification":
            return finetune_tokens(ctx)
        return finetune_sequences(ctx)


def fit_head(ctx: RunContext, head: SequenceHead | TokenHead, x_train: Any, y_train: Any,
             x_val: Any, y_val: Any) -> tuple[FineTuned, float]:
    """Steps 3-7, the same for every head; returns the best model and the fitting time in
    seconds. Checkpoints go to ``OUT.partial/checkpoints`` (the staging folder) and are removed
    once the fit succeeded (unless ``train.keep_checkpoints``); an interrupted run leaves them
    there and ``--resume`` continues from them."""
    cfg = ctx.cfg
    out = ctx.run.root / "checkpoints"
    t0 = time.perf_counter()
    # 3. Tokenizer -> 4. backbone -> 5. PEFT -> 6. Trainer -> 7. the best epoch on validation:
    #    scifm.training.finetune.fine_tune, the steps `scifm train --model transformer` runs too.
    done = fine_tune(head, cfg.data.modality, x_train, y_train, x_val, y_val,
                     model_cfg=cfg.model, train_cfg=cfg.train, peft_cfg=cfg.peft, seed=cfg.seed,
                     out=out, dp=cfg.privacy.dp)
    fit_seconds = time.perf_counter() - t0
    barrier()  # every process is done with the checkpoints before the main one removes them
    if ctx.is_main and not cfg.train.keep_checkpoints:  # resume state is kept until success
        shutil.rmtree(out, ignore_errors=True)
    return done, fit_seconds


def finetune_sequences(ctx: RunContext) -> TrainResult:
    """One prediction per input: the data, split, metrics and report of ``scifm train``."""
    cfg, run, main = ctx.cfg, ctx.run, ctx.is_main
    # 1. Data: read, validate, canonicalise, deduplicate. Nothing is dropped silently.
    cleaned = load_clean(cfg, run, write=main)
    ds = cleaned.dataset
    # 2. Split the way the field demands, and audit the split for leakage.
    splits, leakage = split_and_audit(cfg, ds, run, write=main)
    tr, va = splits["train"], splits["val"]
    head = SequenceHead.fit(ds.task, cfg.data.modality, run_dna_kmer(cfg.model), ds.y[tr])
    logger.info("fine-tuning a transformer on %d rows (val %d)", len(tr), len(va))
    done, fit_seconds = fit_head(ctx, head, rows(ds, tr), ds.y[tr],
                                 rows(ds, va) if len(va) else None,
                                 ds.y[va] if len(va) else None)
    predictor = done.predictor(head, run_settings(cfg.model, cfg.train, cfg.peft, cfg.seed))
    if not main:
        return TrainResult(ctx.out, predictor.family, {})
    # 8. Save, evaluate on val and test, report, track.
    result = save_and_score(predictor.family, predictor, cfg, ds, splits, run, fit_seconds)
    metrics = {**result.metrics, "model": predictor.family,
               "uncertainty": attach_uncertainty(cfg, ds, splits, run, predictor)}
    atomic_write_json(run.metrics, metrics)
    histories = {predictor.family: done.history}
    atomic_write_json(run.history, histories)
    write_report(run.report, build_report_data(cfg, cleaned, splits, leakage,
                                               {predictor.family: result}, metrics, ctx.command))
    logger.info("report: %s", ctx.final(run.report))
    run_id = ctx.track(histories=histories,
                       final_metrics={"test": metrics["test"], "val": metrics.get("val", {})},
                       artifacts=[run.report, run.metrics, run.config, run.splits, run.model])
    return TrainResult(ctx.out, predictor.family, metrics, {predictor.family: result}, run_id)


def finetune_tokens(ctx: RunContext) -> TrainResult:
    """One label per word / residue: token data, split over rows, entity F1 / Q3."""
    cfg, run, main = ctx.cfg, ctx.run, ctx.is_main
    # 1. Data: sentences or proteins are the rows; nothing is dropped silently.
    data = load_token_data(cfg.data, cfg.split)
    # 2. Split over rows (files, a split column, or at random), never over tokens.
    splits = token_splits(data, cfg.split, cfg.seed)
    if main:
        atomic_write_with(run.rejected, lambda p: rejected_frame(data).to_csv(p, index=False))
        atomic_write_json(run.data_report, token_data_report(data, str(cfg.data.path), splits))
        atomic_write_json(run.splits, {"method": "files" if data.split else "random",
                                       "seed": cfg.seed, "unit": "row",
                                       "ids": {k: [data.ids[i] for i in v]
                                               for k, v in splits.items()}})
    (x_tr, y_tr), (x_va, y_va) = _pick(data, splits["train"]), _pick(data, splits["val"])
    head = TokenHead.fit(data.kind, cfg.data.modality, y_tr, y_va or None)
    logger.info("fitting %s token classifier on %d rows (val %d)", data.kind, len(x_tr),
                len(x_va))
    done, fit_seconds = fit_head(ctx, head, x_tr, y_tr, x_va or None, y_va or None)
    predictor = done.predictor(head, run_settings(cfg.model, cfg.train, cfg.peft, cfg.seed))
    if not main:
        return TrainResult(ctx.out, predictor.family, {})
    # 8. Save, evaluate on val and test (bootstrap over sentences / proteins), report, track.
    predictor.save(run.model)
    update_model_meta(run.model, data=cfg.data.recorded())
    metrics, y_test = _token_metrics(cfg, predictor, done, fit_seconds, data, splits)
    return _token_outputs(ctx, predictor, metrics, data, splits["test"], y_test)


def _pick(data: TokenData, idx: np.ndarray) -> tuple[list[list[str]], list[list[str | None]]]:
    return [data.words[i] for i in idx], [data.tags[i] for i in idx]


def _token_metrics(cfg: ExperimentConfig, predictor: TokenPredictor, done: FineTuned,
                   fit_seconds: float, data: TokenData, splits: dict[str, np.ndarray],
                   ) -> tuple[dict[str, Any], list[list[str]]]:
    """``metrics.json`` (training counts, val point values, test values with bootstrap CIs) and
    the test predictions."""
    metrics: dict[str, Any] = {
        "model": predictor.family, "task": "token_classification", "kind": data.kind,
        "fit_seconds": round(fit_seconds, 2), "n_parameters": done.n_parameters,
        "n_trainable_parameters": done.n_trainable_parameters, "n_steps": done.global_step,
        "world_size": done.world_size}
    if len(splits["val"]):
        words, tags = _pick(data, splits["val"])
        metrics["val"] = token_scores(data.kind, tags, predictor.predict(words))
    words, tags = _pick(data, splits["test"])
    y_test = predictor.predict(words) if words else []
    metrics["test"] = evaluate_tokens(data.kind, tags, y_test, cfg.eval.n_bootstrap,
                                      cfg.eval.ci, cfg.seed) if words else {}
    unit = "words" if data.kind == "ner" else "residues"
    metrics["warnings"] = token_collapse_warnings(tags, y_test, unit)
    for line in metrics["warnings"]:
        logger.info("model review: %s", line)  # the CLI summary prints it
    return metrics, y_test


def _token_outputs(ctx: RunContext, predictor: TokenPredictor, metrics: dict[str, Any],
                   data: TokenData, test: np.ndarray, y_test: list[list[str]]) -> TrainResult:
    """Write metrics, history, test predictions and the report; log to MLflow."""
    cfg, run, family = ctx.cfg, ctx.run, predictor.family
    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, {family: predictor.history_})
    words, tags = _pick(data, test)
    frame = token_prediction_frame(data.kind, [data.ids[i] for i in test], words, tags, y_test)
    atomic_write_with(run.predictions_test, lambda p: frame.to_csv(p, index=False))
    atomic_write_text(run.report, render_token_report(
        metrics, predictor.history_, source=Path(str(cfg.data.path)).name,
        modality=cfg.data.modality, config_yaml=config_to_yaml(cfg), command=ctx.command))
    logger.info("test: %s", ", ".join(f"{k} {v['value']:.3f} [{v['ci95'][0]:.3f}, "
                                      f"{v['ci95'][1]:.3f}]" for k, v in metrics["test"].items()
                                      if isinstance(v, dict)))
    run_id = ctx.track(histories={family: predictor.history_},
                       final_metrics={"test": metrics["test"], "val": metrics.get("val", {})},
                       artifacts=[run.report, run.metrics, run.config, run.splits, run.model])
    return TrainResult(ctx.out, family, metrics, mlflow_run_id=run_id)
