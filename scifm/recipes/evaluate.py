"""Recipe: evaluate — a trained run directory + new labelled data -> metrics and a report.

Writes ``OUT/metrics.json``, ``predictions.csv``, ``rejected.csv`` and ``report.html`` (default
``OUT``: ``RUN_DIR/evaluations/<data file stem>/``), staged in ``OUT.partial/`` and moved into
place when the evaluation succeeded (:mod:`scifm.staging`): an earlier evaluation in ``OUT`` is
replaced as a whole, anything else there is refused, and ``OUT`` may not be (or contain) the data
file or the run's model. Token-classification runs read labelled
token data as they were trained on (CoNLL files for NER, a table with the label string and the
optional mask for per-residue labels) and report entity F1 / Q3 with bootstrap intervals over
sentences / sequences.

Reviewer's checks (:mod:`scifm.evaluation.evaluation_audit`, :mod:`scifm.evaluation.sanity`):
the evaluated rows are compared with the run's own train / validation / test rows (exact
duplicates after canonicalisation, nearest-neighbour similarity to train + validation) and scored
again on the rows the model has not seen (``audit.test_new_only``); a model whose predictions
collapsed to one class or value is flagged. Both end up in ``warnings`` (``metrics.json``, the
CLI summary, the report).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from scifm.config.schema import DataConfig, SplitConfig
from scifm.data.clean import clean_table
from scifm.data.io import read_table
from scifm.data.tokens import load_token_data, rejected_frame, saved_data_config
from scifm.evaluation.evaluation_audit import audit_table, audit_tokens
from scifm.evaluation.metrics import evaluate_predictions
from scifm.evaluation.report import ModelResult, ReportData, write_report
from scifm.evaluation.report_audit import audit_html
from scifm.evaluation.sanity import collapse_warnings, token_collapse_warnings
from scifm.evaluation.tables import prediction_frame
from scifm.evaluation.token_metrics import NER_METRICS, RESIDUE_METRICS, evaluate_tokens
from scifm.evaluation.token_report import render_token_report
from scifm.evaluation.token_tables import token_prediction_frame
from scifm.models import load_predictor
from scifm.privacy.redaction import redact_inputs
from scifm.rundir import RunDir
from scifm.staging import staged
from scifm.tasks import TaskSpec
from scifm.utils.io import (
    atomic_write_json,
    atomic_write_text,
    atomic_write_with,
    refuse_overwriting_inputs,
)

logger = logging.getLogger(__name__)


def evaluate(
    run_dir: str | Path,
    data: str | Path,
    out: str | Path | None = None,
    input_col: str | None = None,
    seed: int = 0,
    n_bootstrap: int = 1000,
) -> dict[str, Any]:
    """Score the run's model on labelled ``data``; writes metrics, predictions and a report.

    Returns the metrics dict (``{"test": {...}, "model": family, "n_rejected": k, "warnings":
    [...], "audit": {...}}``; the audit: :func:`scifm.evaluation.evaluation_audit.audit_rows`),
    also written to ``OUT/metrics.json`` (default ``RUN_DIR/evaluations/<data file stem>/``).
    """
    run = RunDir(Path(run_dir))
    out_dir = Path(out) if out else run.root / "evaluations" / Path(data).name.split(".")[0]
    refuse_overwriting_inputs(out_dir, {"the --data file": data, "the run's model": run.model,
                                        "the run's config": run.config})
    meta = run.model_meta()
    with staged(out_dir, kind="evaluation", command="scifm evaluate") as tmp:
        if meta.get("task") == "token_classification":  # NER / per-residue labels
            metrics = _evaluate_tokens(run, meta, Path(data), tmp, input_col, seed, n_bootstrap)
        else:
            metrics = _evaluate_table(run, meta, Path(data), tmp, input_col, seed, n_bootstrap)
    logger.info("evaluation written to %s", out_dir)
    return metrics


def _evaluate_table(run: RunDir, meta: dict[str, Any], data: Path, out_dir: Path,
                    input_col: str | None, seed: int, n_bootstrap: int) -> dict[str, Any]:
    """Score a run that makes one prediction per input on a labelled table; audit the rows
    against the run's training data and flag a model whose output collapsed."""
    task = TaskSpec.from_dict(meta["task"])
    data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
    updates: dict[str, Any] = {"path": Path(data), "target_cols": task.target_cols,
                               "task": task.task_type}
    if input_col:
        updates["input_col"] = input_col
    data_cfg = data_cfg.model_copy(update=updates)
    frame = redact_inputs(read_table(data, data_cfg.format), data_cfg.input_cols, meta)
    cleaned = clean_table(frame, data_cfg, source=str(data), task=task)
    atomic_write_with(out_dir / "rejected.csv", lambda p: cleaned.rejected.to_csv(p, index=False))
    ds = cleaned.dataset
    predictor = load_predictor(run.model)
    y_pred = predictor.predict(ds.inputs)

    def score(idx: np.ndarray) -> dict[str, Any]:
        return evaluate_predictions(task, ds.y[idx], y_pred[idx], n_bootstrap=n_bootstrap,
                                    seed=seed)

    test = score(np.arange(len(ds)))
    audit = audit_table(run, meta, ds.inputs, score, seed=seed)
    collapsed = collapse_warnings(task, y_pred, ds.y, test, split="evaluated")
    for line in collapsed:  # at INFO: the CLI prints the warnings after the metrics
        logger.info("%s", line)
    warnings = collapsed + audit["warnings"]
    metrics = {"model": meta["family"], "n_rejected": int(len(cleaned.rejected)), "test": test,
               "warnings": warnings, "audit": audit}
    atomic_write_json(out_dir / "metrics.json", metrics)
    frame = prediction_frame(task, ds.ids, ds.inputs, y_pred, ds.y)
    atomic_write_with(out_dir / "predictions.csv", lambda p: frame.to_csv(p, index=False))
    write_report(out_dir / "report.html", ReportData(
        title=f"scifm evaluate: {Path(data).name} with {run.root.name}",
        data_report=cleaned.report, split={"method": "external", "seed": seed,
                                           "sizes": {"test": len(ds.inputs)}},
        leakage={}, task=task,
        models={meta["family"]: ModelResult(metrics=test, history=[], y_true=ds.y,
                                            y_pred=y_pred, fit_seconds=None, n_parameters=None)},
        comparisons=[], config_yaml=run.config.read_text() if run.config.exists() else "",
        extra_notes=[f"Model: {run.model}"], warnings=warnings, evaluation_audit=audit,
        dataset_path=str(data), modality=meta["modality"], units=dict(data_cfg.units),
        rejected_rows_file="rejected.csv", command="scifm evaluate",
        split_inputs={"test": [str(x) for x in ds.inputs]}, split_y={"test": ds.y}))
    return metrics


def _evaluate_tokens(run: RunDir, meta: dict[str, Any], data: Path, out_dir: Path,
                     input_col: str | None, seed: int, n_bootstrap: int) -> dict[str, Any]:
    """Score a token-classification run on labelled token data (entity F1 / Q3 with CIs)."""
    updates: dict[str, Any] = {"path": data} | ({"input_col": input_col} if input_col else {})
    data_cfg = saved_data_config(meta.get("data"), meta["modality"], **updates)
    tokens = load_token_data(data_cfg, SplitConfig())
    atomic_write_with(out_dir / "rejected.csv",
                      lambda p: rejected_frame(tokens).to_csv(p, index=False))
    model = load_predictor(run.model)
    pred = model.predict(tokens.words)

    def score(idx: np.ndarray) -> dict[str, Any]:
        return evaluate_tokens(tokens.kind, [tokens.tags[i] for i in idx],
                               [pred[i] for i in idx], n_bootstrap, seed=seed)

    test = score(np.arange(len(tokens)))
    unit = "sentences" if tokens.kind == "ner" else "sequences"
    audit = audit_tokens(run, meta, tokens.words, score, unit)
    collapsed = token_collapse_warnings(tokens.tags, pred,
                                        "words" if tokens.kind == "ner" else "residues",
                                        split="evaluated")
    metrics = {"model": meta["family"], "task": "token_classification", "kind": tokens.kind,
               "n_rejected": len(tokens.rejected), "test": test,
               "warnings": collapsed + list(audit["warnings"]), "audit": audit}
    atomic_write_json(out_dir / "metrics.json", metrics)
    frame = token_prediction_frame(tokens.kind, tokens.ids, tokens.words, tokens.tags, pred)
    atomic_write_with(out_dir / "predictions.csv", lambda p: frame.to_csv(p, index=False))
    names = NER_METRICS if tokens.kind == "ner" else RESIDUE_METRICS
    atomic_write_text(out_dir / "report.html", render_token_report(
        metrics, [], source=f"{data.name} with {run.root.name}", modality=meta["modality"],
        config_yaml=run.config.read_text() if run.config.exists() else "",
        extra_sections=[audit_html(audit, test, names)]))
    return metrics
