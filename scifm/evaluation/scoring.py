"""Scoring fitted models on a split, choosing between them, and gathering the report's data.

Used by every recipe that trains families (``train``, ``tune``, ``auto``): the validation metrics
choose, the test metrics (with bootstrap CIs) report; the test set never chooses.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.config.load import config_to_yaml
from scifm.evaluation.metrics import (
    compute_metrics,
    evaluate_predictions,
    paired_bootstrap,
    primary_metric,
)
from scifm.evaluation.report import ModelResult, ReportData
from scifm.evaluation.sanity import collapse_warnings

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.data.clean import CleanDataset, CleanResult
    from scifm.models.base import Predictor
    from scifm.rundir import RunDir
    from scifm.tasks import TaskSpec

logger = logging.getLogger(__name__)


@dataclass
class FamilyResult:
    """What one trained model family produced."""

    family: str
    run: RunDir
    """Where its model, metrics and test predictions are."""
    metrics: dict[str, Any]
    """``fit_seconds``, ``val`` (plain values), ``test`` (``{metric: {value, ci95}}``), ..."""
    history: list[dict[str, Any]]
    y_test_pred: np.ndarray
    fit_seconds: float
    n_parameters: int | None = None
    n_trainable_parameters: int | None = None
    predictor: Predictor | None = field(default=None, repr=False, compare=False)
    """The fitted predictor itself, in memory (None when not kept): ``auto``'s combinations
    are built from their refitted members without loading them again (skops reads 300
    ExtraTrees in about 0.8 s, and each combination needed every member)."""


def score_predictor(predictor: Predictor, ds: CleanDataset, splits: dict[str, np.ndarray],
                    cfg: ExperimentConfig) -> tuple[dict[str, Any], np.ndarray]:
    """Validation metrics and test metrics with bootstrap CIs of a fitted predictor.

    Returns
    -------
    metrics
        ``{"val": {...}, "test": {...}, "warnings": [...]}`` (``val`` only when there are
        validation rows; ``warnings``: the predictions collapsed to one class or value, on test,
        or on validation when there is no test set: :mod:`scifm.evaluation.sanity`), plus
        ``n_parameters`` / ``n_trainable_parameters`` where the predictor counts them.
    y_test
        Test predictions, ``n_test x n_outputs``.
    """
    task = ds.task
    va, te = splits["val"], splits["test"]
    metrics: dict[str, Any] = {}
    y_val = predictor.predict(rows(ds, va)) if len(va) else None
    if y_val is not None:
        metrics["val"] = compute_metrics(task, ds.y[va], y_val)
    y_test = predictor.predict(rows(ds, te)) if len(te) else np.zeros((0, task.n_outputs))
    metrics["test"] = evaluate_predictions(task, ds.y[te], y_test, n_bootstrap=cfg.eval.n_bootstrap,
                                           ci=cfg.eval.ci, seed=cfg.seed) if len(te) else {}
    if len(te):
        metrics["warnings"] = collapse_warnings(task, y_test, ds.y[te], metrics["test"], "test")
    else:
        metrics["warnings"] = [] if y_val is None else collapse_warnings(
            task, y_val, ds.y[va], metrics["val"], "validation")
    for line in metrics["warnings"]:
        logger.info("model review: %s", line)  # the CLI summary prints it
    for key in ("n_parameters", "n_trainable_parameters"):
        value = getattr(predictor, f"{key}_", None)
        if value:
            metrics[key] = int(value)
    return metrics, y_test


def rows(ds: CleanDataset, idx: np.ndarray) -> list[Any]:
    """The inputs of positions ``idx`` (what a predictor's ``fit`` / ``predict`` take)."""
    return [ds.inputs[i] for i in idx]


def select_family(results: dict[str, FamilyResult], task: TaskSpec) -> str:
    """The family with the best validation primary metric (ties / no val: the first)."""
    name, higher = primary_metric(task)
    best, best_score = next(iter(results)), None
    for family, res in results.items():
        score = res.metrics.get("val", {}).get(name)
        if score is None or score != score:
            continue
        if best_score is None or (score > best_score if higher else score < best_score):
            best, best_score = family, score
    return best


def compare_families(results: dict[str, FamilyResult], y_test: np.ndarray, task: TaskSpec,
                     cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Paired bootstrap of the primary metric on the same test rows, for every pair."""
    name, _ = primary_metric(task)
    fams = list(results)
    out = []
    for i, a in enumerate(fams):
        for b in fams[i + 1:]:
            out.append(paired_bootstrap(task, y_test, results[a].y_test_pred,
                                        results[b].y_test_pred, name, ci=cfg.eval.ci,
                                        n_bootstrap=cfg.eval.n_bootstrap, seed=cfg.seed,
                                        name_a=a, name_b=b))
    return out


def build_report_data(cfg: ExperimentConfig, cleaned: CleanResult, splits: dict[str, np.ndarray],
                      leakage: dict[str, Any], results: dict[str, FamilyResult],
                      metrics: dict[str, Any], command: str) -> ReportData:
    """Gather what the HTML report shows."""
    ds = cleaned.dataset
    y_test = ds.y[splits["test"]]
    models = {
        f: ModelResult(metrics={**r.metrics["test"], "val": r.metrics.get("val", {})},
                       history=r.history, y_true=y_test, y_pred=r.y_test_pred,
                       fit_seconds=r.fit_seconds, n_parameters=r.n_parameters,
                       n_trainable_parameters=r.n_trainable_parameters)
        for f, r in results.items()
    }
    src = Path(cfg.data.path).name if cfg.data.path else "data"
    return ReportData(
        title=f"scifm: {src} ({ds.task.task_type}, {cfg.data.modality})",
        data_report=cleaned.report,
        split={"method": cfg.split.method, "seed": cfg.seed,
               "sizes": {k: int(len(v)) for k, v in splits.items()}},
        leakage=leakage, task=ds.task, models=models,
        comparisons=metrics.get("comparison", []), config_yaml=config_to_yaml(cfg),
        extra_notes=[f"Selected model (best validation {primary_metric(ds.task)[0]}): "
                     f"{metrics['model']}."],
        dataset_path=str(cfg.data.path), modality=cfg.data.modality, command=command or None,
        rejected_rows_file="rejected.csv",
        warnings=[f"{f}: {w}" for f, r in results.items() for w in r.metrics.get("warnings", [])],
        split_inputs={k: [str(x) for x in rows(ds, v)] for k, v in splits.items()},
        split_y={k: ds.y[v] for k, v in splits.items()}, units=dict(cfg.data.units),
        uncertainty=metrics.get("uncertainty") or {},
        privacy={**(metrics.get("privacy") or {}),
                 **({"membership": metrics["membership"]} if metrics.get("membership") else {})},
    )


def format_metric(m: dict[str, Any]) -> str:
    """``value [lo, hi]`` of one ``{value, ci95}`` entry (``n/a`` when empty)."""
    if not m:
        return "n/a"
    lo, hi = m.get("ci95", [float("nan")] * 2)
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"
