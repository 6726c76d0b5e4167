"""Recipe: token classification — tagged sentences / residues -> split -> fine-tune -> evaluate.

``scifm train`` runs this recipe when ``data.task`` is ``token_classification``::

    # NER on CoNLL files (token ... tag per line), predefined train/dev/test files
    scifm train --data train.txt.gz --set data.val_path=dev.txt.gz \\
        --set data.test_path=test.txt.gz --modality text --task token_classification \\
        --model transformer --out runs/ncbi
    # per-residue labels: a CSV with the sequence, a label string and an optional 0/1 mask
    scifm train --data ss.csv.gz --modality protein --task token_classification \\
        --target-col ss3 --set data.mask_col=resolved_mask --split column:set --out runs/ss3

The run directory::

    RUN_DIR/
      config.yaml, log.txt, data_report.json, rejected.csv, splits.json (row ids per split)
      model/                HF folder (AutoModelForTokenClassification) + tokenizer + scifm.json
      metrics.json          {"model": "token", "kind": "ner"|"residue", "val": {...},
                             "test": {"entity_f1"|"q3": {"value", "ci95"}, ...}, ...}
      predictions_test.csv  id, input, true, pred (space-joined tags for NER, strings for
                            residues; '-' = unscored residue)
      history.json, report.html

Under ``torchrun`` / ``accelerate launch`` every process trains (the Trainer shards the data);
only rank 0 writes the run directory and logs to MLflow.
"""

from __future__ import annotations

import html
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scifm.config.load import config_to_yaml, save_config
from scifm.config.schema import ExperimentConfig
from scifm.data.tokens import TokenData, load_token_data, rejected_frame, token_splits
from scifm.evaluation import plots
from scifm.evaluation.token_metrics import (
    NER_METRICS,
    RESIDUE_METRICS,
    evaluate_tokens,
    token_scores,
)
from scifm.models.token import FAMILY, TokenPredictor
from scifm.recipes.common import attach_run_log, update_model_meta
from scifm.recipes.train import TrainResult
from scifm.rundir import RunDir
from scifm.tracking.mlflow import log_run
from scifm.training.distributed import barrier, is_main_process
from scifm.utils.io import atomic_write_json, atomic_write_text, atomic_write_with
from scifm.utils.seed import seed_everything

logger = logging.getLogger(__name__)


def train_tokens(cfg: ExperimentConfig, command: str = "") -> TrainResult:
    """Run a token-classification study as configured; returns the run directory and metrics."""
    run = RunDir(Path(cfg.out))
    main = is_main_process()
    detach_log = None
    if main:
        run.root.mkdir(parents=True, exist_ok=True)
        detach_log = attach_run_log(run.log)
    try:
        result = _train_tokens(cfg, run, command, main)
    finally:
        if detach_log is not None:
            detach_log()
    barrier()  # the other processes wait until rank 0 has written everything
    return result


def _train_tokens(cfg: ExperimentConfig, run: RunDir, command: str, main: bool) -> TrainResult:
    seed_everything(cfg.seed)
    if main:
        save_config(cfg, run.config)
        logger.info("run directory: %s", run.root)

    # 1. Data: sentences or proteins are the rows; nothing is dropped silently.
    data = load_token_data(cfg.data, cfg.split)
    splits = token_splits(data, cfg.split, cfg.seed)
    if main:
        atomic_write_with(run.rejected, lambda p: rejected_frame(data).to_csv(p, index=False))
        atomic_write_json(run.data_report, _data_report(cfg, data, splits))
        atomic_write_json(run.splits, {"method": "files" if data.split else "random",
                                       "seed": cfg.seed, "unit": "row",
                                       "ids": {k: [data.ids[i] for i in v]
                                               for k, v in splits.items()}})

    # 2. Fit: Trainer owns the loop (and the processes, when launched distributed).
    tr, va, te = splits["train"], splits["val"], splits["test"]
    pick = _picker(data)
    predictor = TokenPredictor(data.kind, cfg.data.modality, cfg.model, cfg.train,
                               seed=cfg.seed, work_dir=run.root)
    logger.info("fitting %s token classifier on %d rows (val %d)", data.kind, len(tr), len(va))
    t0 = time.perf_counter()
    predictor.fit(*pick(tr), *(pick(va) if len(va) else (None, None)))
    fit_seconds = time.perf_counter() - t0
    barrier()  # every process is done with the checkpoints before rank 0 removes them
    if not main:
        return TrainResult(run.root, FAMILY, {})
    predictor.save(run.model)
    update_model_meta(run.model, data=cfg.data.model_dump(mode="json"))
    if not cfg.train.keep_checkpoints:
        shutil.rmtree(run.root / "checkpoints", ignore_errors=True)

    # 3. Evaluate on val and test (bootstrap over sentences / proteins).
    metrics: dict[str, Any] = {"model": FAMILY, "task": "token_classification",
                               "kind": data.kind, "fit_seconds": round(fit_seconds, 2),
                               "n_parameters": predictor.n_parameters_,
                               "n_steps": predictor.global_step_,
                               "world_size": predictor.world_size_}
    if len(va):
        words, tags = pick(va)
        metrics["val"] = token_scores(data.kind, tags, predictor.predict(words))
    words, tags = pick(te)
    pred = predictor.predict(words) if len(te) else []
    metrics["test"] = evaluate_tokens(data.kind, tags, pred, cfg.eval.n_bootstrap, cfg.eval.ci,
                                      cfg.seed) if len(te) else {}
    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, {FAMILY: predictor.history_})
    frame = _prediction_frame(data, te, pred)
    atomic_write_with(run.predictions_test, lambda p: frame.to_csv(p, index=False))
    atomic_write_text(run.report, render_token_report(cfg, metrics, predictor.history_, command))
    logger.info("test: %s", ", ".join(f"{k} {v['value']:.3f} [{v['ci95'][0]:.3f}, "
                                      f"{v['ci95'][1]:.3f}]" for k, v in metrics["test"].items()
                                      if isinstance(v, dict)))
    run_id = None
    if cfg.tracking.enabled:
        run_id = log_run(
            run_dir=run.root, uri=cfg.tracking.uri, experiment=cfg.tracking.experiment,
            run_name=run.root.name, params=cfg.model_dump(mode="json"),
            histories={FAMILY: predictor.history_},
            final_metrics={"test": metrics["test"], "val": metrics.get("val", {})},
            artifacts=[run.report, run.metrics, run.config, run.splits, run.model])
    return TrainResult(run.root, FAMILY, metrics, mlflow_run_id=run_id)


def _picker(data: TokenData) -> Any:
    def pick(idx: np.ndarray) -> tuple[list[list[str]], list[list[str | None]]]:
        return [data.words[i] for i in idx], [data.tags[i] for i in idx]
    return pick


def _data_report(cfg: ExperimentConfig, data: TokenData,
                 splits: dict[str, np.ndarray]) -> dict[str, Any]:
    tags = [t for row in data.tags for t in row if t is not None]
    labels, counts = np.unique(np.asarray(tags, dtype=object).astype(str), return_counts=True)
    return {"source": str(cfg.data.path), "task": "token_classification", "kind": data.kind,
            "n_rows_used": len(data), "n_rejected": len(data.rejected),
            "n_tokens": int(sum(len(w) for w in data.words)), "n_scored_tokens": len(tags),
            "label_counts": {str(k): int(v) for k, v in zip(labels, counts, strict=True)},
            "split_sizes": {k: int(len(v)) for k, v in splits.items()}}


def _prediction_frame(data: TokenData, idx: np.ndarray, pred: list[list[str]]) -> pd.DataFrame:
    sep = " " if data.kind == "ner" else ""
    return pd.DataFrame({
        "id": [data.ids[i] for i in idx],
        "input": [sep.join(data.words[i]) for i in idx],
        "true": [sep.join("-" if t is None else t for t in data.tags[i]) for i in idx],
        "pred": [sep.join(p) for p in pred],
    })


def render_token_report(cfg: ExperimentConfig, metrics: dict[str, Any],
                        history: list[dict[str, Any]], command: str = "") -> str:
    """A compact self-contained HTML report: test metrics with CIs, learning curves, config."""
    e = html.escape
    names = NER_METRICS if metrics["kind"] == "ner" else RESIDUE_METRICS
    test, val = metrics.get("test", {}), metrics.get("val", {})
    rows = []
    for name in names:
        m = test.get(name) or {}
        lo, hi = (m.get("ci95") or [float("nan")] * 2)[:2]
        rows.append(f"<tr><td>{e(name)}</td><td>{m.get('value', float('nan')):.3f} "
                    f"[{lo:.3f}, {hi:.3f}]</td><td>{val.get(name, float('nan')):.3f}</td></tr>")
    unit = "sentences" if metrics["kind"] == "ner" else "sequences"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        f"<title>scifm: {e(Path(str(cfg.data.path)).name)}</title><style>body{{font-family:"
        "system-ui,sans-serif;max-width:1000px;margin:auto;padding:1em}table{border-collapse:"
        "collapse}td,th{border:1px solid #ddd;padding:.2em .6em}pre{background:#f6f8fa;"
        "padding:.8em}</style></head><body>",
        f"<h1>scifm: {e(Path(str(cfg.data.path)).name)} (token classification, "
        f"{e(metrics['kind'])}, {e(cfg.data.modality)})</h1>",
        f"<p>{e(command)}</p>" if command else "",
        f"<h2>Test metrics</h2><p>{test.get('n', 0)} {unit}, {test.get('n_scored', 0)} scored "
        f"{'entities' if metrics['kind'] == 'ner' else 'residues'}; value [95% bootstrap "
        f"interval over {unit}].</p>",
        "<table><tr><th>metric</th><th>test</th><th>val</th></tr>", "".join(rows), "</table>",
        f"<p>{metrics.get('n_parameters', 0):,} parameters, {metrics.get('n_steps', 0)} steps "
        f"on {metrics.get('world_size', 1)} process(es), fit {metrics.get('fit_seconds', 0)} "
        "s.</p>",
        "<h2>Learning curves</h2>", plots.learning_curves({FAMILY: history}),
        f"<h2>Configuration</h2><pre>{e(config_to_yaml(cfg))}</pre>",
        "</body></html>\n",
    ])
