"""Recipe: train — data file -> clean -> split + audit -> fit model families -> evaluate -> report.

The story of a study in one linear file. Every stage writes its output into the run directory
(:mod:`scifm.rundir`), which is what ``predict`` and ``evaluate`` read later.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scifm.config.load import config_to_yaml, save_config
from scifm.config.schema import ExperimentConfig
from scifm.data.clean import CleanResult, clean_table
from scifm.data.io import read_table
from scifm.data.leakage import audit_split
from scifm.data.splitting import make_split, save_splits
from scifm.evaluation.metrics import (
    compute_metrics,
    evaluate_predictions,
    paired_bootstrap,
    primary_metric,
)
from scifm.evaluation.report import ModelResult, ReportData, write_report
from scifm.evaluation.tables import prediction_frame
from scifm.models import build_predictor
from scifm.models.base import MODEL_META, Predictor
from scifm.recipes.common import attach_run_log, update_model_meta
from scifm.rundir import RunDir
from scifm.tracking.mlflow import log_run
from scifm.training.distributed import backend, barrier, is_main_process, world_size
from scifm.utils.io import atomic_write_json, atomic_write_with
from scifm.utils.seed import seed_everything

logger = logging.getLogger(__name__)


@dataclass
class FamilyResult:
    """What one trained model family produced."""

    family: str
    run: RunDir
    metrics: dict[str, Any]
    history: list[dict[str, Any]]
    y_test_pred: np.ndarray
    fit_seconds: float
    n_parameters: int | None = None
    n_trainable_parameters: int | None = None


@dataclass
class TrainResult:
    """Outcome of :func:`train`: where things are and the headline numbers."""

    run_dir: Path
    selected: str
    metrics: dict[str, Any]
    families: dict[str, FamilyResult] = field(default_factory=dict)
    mlflow_run_id: str | None = None

    @property
    def report(self) -> Path:
        return RunDir(self.run_dir).report


def train(cfg: ExperimentConfig, command: str = "") -> TrainResult:
    """Run a whole study as configured; returns the run directory and metrics."""
    if cfg.data.task == "token_classification":  # its own recipe: one label per word / residue
        from scifm.recipes.token_train import train_tokens

        return train_tokens(cfg, command)
    if world_size() > 1 and not is_main_process():  # torchrun / accelerate launch
        from scifm.recipes.train_worker import train_worker

        return train_worker(cfg)  # ranks > 0 only train, write nothing
    run = RunDir(Path(cfg.out))
    run.root.mkdir(parents=True, exist_ok=True)
    detach_log = attach_run_log(run.log)
    try:
        result = _train(cfg, run, command)
    finally:
        detach_log()
    barrier()  # the other processes wait until everything is written
    return result


def _train(cfg: ExperimentConfig, run: RunDir, command: str) -> TrainResult:
    save_config(cfg, run.config)
    seed_everything(cfg.seed)
    logger.info("run directory: %s", run.root)

    # 1. Data: read, validate, canonicalise, deduplicate. Nothing is dropped silently.
    cleaned = load_clean(cfg, run)
    ds, task = cleaned.dataset, cleaned.dataset.task

    # 2. Split the way the field demands, and audit the split for leakage.
    splits, leakage = split_and_audit(cfg, ds, run)

    # 3. Fit every requested model family on the same split.
    families = ["lightgbm", "transformer"] if cfg.model.family == "both" else [cfg.model.family]
    results: dict[str, FamilyResult] = {}
    for family in families:
        fam_run = run if len(families) == 1 else run.family(family)
        results[family] = fit_family(family, cfg, cleaned, splits, fam_run)

    # 4. Select on validation (never on test) and put the selected model at the top level.
    selected = select_family(results, task)
    if len(families) > 1:
        promote(results[selected].run, run)
    metrics = dict(results[selected].metrics)
    metrics["model"] = selected
    if len(families) > 1:
        metrics["families"] = {f: r.metrics for f, r in results.items()}
        metrics["comparison"] = compare_families(results, ds, splits, task, cfg)
    atomic_write_json(run.metrics, metrics)
    atomic_write_json(run.history, {f: r.history for f, r in results.items()})

    # 5. Report and tracking.
    write_report(run.report, build_report_data(cfg, cleaned, splits, leakage, results, metrics,
                                               command))
    logger.info("report: %s", run.report)
    run_id = None
    if cfg.tracking.enabled:
        run_id = log_run(
            run_dir=run.root, uri=cfg.tracking.uri, experiment=cfg.tracking.experiment,
            run_name=run.root.name, params=cfg.model_dump(mode="json"),
            histories={f: r.history for f, r in results.items()}, final_metrics=
            {"test": metrics["test"], "val": metrics.get("val", {})},
            artifacts=[run.report, run.metrics, run.config, run.splits, run.model])
    return TrainResult(run.root, selected, metrics, results, run_id)


def load_clean(cfg: ExperimentConfig, run: RunDir) -> CleanResult:
    """Read and clean the configured data file; write ``rejected.csv`` and ``data_report.json``."""
    if cfg.data.path is None:
        from scifm.errors import ConfigError

        raise ConfigError("no input data: pass --data FILE (or data.path in the config)")
    frame = read_table(cfg.data.path, cfg.data.format)
    cleaned = clean_table(frame, cfg.data, source=str(cfg.data.path))
    atomic_write_with(run.rejected, lambda p: cleaned.rejected.to_csv(p, index=False))
    atomic_write_json(run.data_report, cleaned.report)
    rep = cleaned.report
    logger.info("data: %s rows read, %s used, %s rejected (see %s)", rep.get("n_rows_in"),
                len(cleaned.dataset.inputs), len(cleaned.rejected), run.rejected)
    logger.info("task: %s on %s", cleaned.dataset.task.task_type,
                ", ".join(cleaned.dataset.task.target_cols))
    return cleaned


def split_and_audit(cfg: ExperimentConfig, ds: Any,
                    run: RunDir) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Split the cleaned data as configured, audit the split for leakage; write ``splits.json``
    and ``leakage.json``. Shared by the train, tune and auto recipes."""
    splits = make_split(ds, cfg.split, seed=cfg.seed)
    save_splits(run.splits, splits, ds, method=cfg.split.method, seed=cfg.seed)
    leakage = audit_split(ds, splits, cfg.data.modality)
    atomic_write_json(run.leakage, leakage)
    return splits, leakage


def fit_family(family: str, cfg: ExperimentConfig, cleaned: CleanResult,
               splits: dict[str, np.ndarray], run: RunDir) -> FamilyResult:
    """Fit one family on train (early-stopping on val), evaluate on val and test, save."""
    ds, task = cleaned.dataset, cleaned.dataset.task
    x = np.asarray(ds.inputs, dtype=object)
    tr, va, te = splits["train"], splits["val"], splits["test"]
    run.root.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    predictor: Predictor = build_predictor(family, task, cfg.data.modality, cfg, work_dir=run.root)
    logger.info("fitting %s on %d rows (val %d)", family, len(tr), len(va))
    t0 = time.perf_counter()
    predictor.fit(list(x[tr]), ds.y[tr], list(x[va]) if len(va) else None,
                  ds.y[va] if len(va) else None)
    fit_seconds = time.perf_counter() - t0
    barrier()  # several processes: all are done with the checkpoints before they are removed
    if backend() is not None:
        logger.info("%s trained by %d processes (%s)", family, world_size(), backend())
    predictor.save(run.model)
    if not cfg.train.keep_checkpoints:  # resume state is only needed until the run succeeds
        shutil.rmtree(run.root / "checkpoints", ignore_errors=True)
    update_model_meta(run.model, data=cfg.data.model_dump(mode="json"),
                      split=cfg.split.model_dump(mode="json"))
    metrics: dict[str, Any] = {"fit_seconds": round(fit_seconds, 2)}
    if len(va):
        metrics["val"] = compute_metrics(task, ds.y[va], predictor.predict(list(x[va])))
    y_test = predictor.predict(list(x[te])) if len(te) else np.zeros((0, task.n_outputs))
    metrics["test"] = evaluate_predictions(task, ds.y[te], y_test, n_bootstrap=cfg.eval.n_bootstrap,
                                           ci=cfg.eval.ci, seed=cfg.seed) if len(te) else {}
    n_params = getattr(predictor, "n_parameters_", None)
    if n_params is not None:
        metrics["n_parameters"] = int(n_params)
    n_trainable = getattr(predictor, "n_trainable_parameters_", None)
    if n_trainable:
        metrics["n_trainable_parameters"] = int(n_trainable)
    atomic_write_json(run.metrics, metrics)
    frame = prediction_frame(task, [ds.ids[i] for i in te], [ds.inputs[i] for i in te], y_test,
                             ds.y[te])
    atomic_write_with(run.predictions_test, lambda p: frame.to_csv(p, index=False))
    name, _ = primary_metric(task)
    logger.info("%s: test %s = %s (fit %.1f s)", family, name,
                _fmt(metrics["test"].get(name, {})), fit_seconds)
    return FamilyResult(family, run, metrics, list(getattr(predictor, "history_", [])), y_test,
                        fit_seconds, n_params, metrics.get("n_trainable_parameters"))


def select_family(results: dict[str, FamilyResult], task: Any) -> str:
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


def promote(src: RunDir, dst: RunDir) -> None:
    """Copy the selected family's model and predictions to the top of the run directory."""
    if dst.model.exists():
        shutil.rmtree(dst.model)
    shutil.copytree(src.model, dst.model)
    shutil.copyfile(src.predictions_test, dst.predictions_test)
    assert (dst.model / MODEL_META).is_file()


def compare_families(results: dict[str, FamilyResult], ds: Any, splits: dict[str, np.ndarray],
                     task: Any, cfg: ExperimentConfig) -> list[dict[str, Any]]:
    """Paired bootstrap on the same test rows between every pair of families."""
    name, _ = primary_metric(task)
    fams = list(results)
    y_true = ds.y[splits["test"]]
    out = []
    for i, a in enumerate(fams):
        for b in fams[i + 1:]:
            out.append(paired_bootstrap(task, y_true, results[a].y_test_pred,
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
    )


def _fmt(m: dict[str, Any]) -> str:
    if not m:
        return "n/a"
    lo, hi = m.get("ci95", [float("nan")] * 2)
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"
