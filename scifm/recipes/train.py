"""Recipe: train — data file -> clean -> split + audit -> fit model families -> evaluate ->
uncertainty -> report.

The story of a study in one linear file. Every stage writes its output into the run directory
(:mod:`scifm.rundir`), which is what ``predict`` and ``evaluate`` read later. The families come
from ``model.families`` (any registered family, :mod:`scifm.models.families`); several are trained
on the same split, compared on the test rows, and the best on validation becomes the run's model.

Under ``torchrun`` / ``accelerate launch`` every process runs this recipe: the families trained by
``transformers.Trainer`` are trained by all of them (DDP), the others by the main process alone,
and only the main process writes.

The run is written in ``OUT.partial/`` and moved to ``OUT`` only when it succeeded
(:class:`~scifm.rundir.RunContext`): a failed run leaves ``OUT`` as it was; an interrupted
transformer run keeps its checkpoints in ``OUT.partial/checkpoints`` (``families/<family>/`` with
several families) for ``--resume``. A non-empty ``OUT`` is refused unless ``--overwrite``.
"""

from __future__ import annotations

import logging

from scifm.config.applicability import check_applicable
from scifm.config.schema import ExperimentConfig
from scifm.data.prepare import load_clean, split_and_audit
from scifm.errors import ConfigError
from scifm.evaluation.report import write_report
from scifm.evaluation.scoring import (
    FamilyResult,
    build_report_data,
    compare_families,
    select_family,
)
from scifm.models.fitting import fit_family
from scifm.models.registry import get_family
from scifm.rundir import RunContext, TrainResult
from scifm.trust.fitting import attach_uncertainty, audit_membership
from scifm.utils.io import atomic_write_json

__all__ = ["TrainResult", "train"]

logger = logging.getLogger(__name__)


def train(cfg: ExperimentConfig, command: str = "") -> TrainResult:
    """Run a whole study as configured; returns the run directory and metrics."""
    if cfg.data.task == "token_classification":
        raise ConfigError("data.task: token_classification is fine-tuned by `scifm finetune`, "
                          "not `scifm train`")
    families = list(cfg.model.families)
    check_applicable(cfg, recipe="train", families=families)
    with RunContext.open(cfg, command) as ctx:
        run, main = ctx.run, ctx.is_main

        # 1. Data: read, validate, canonicalise, deduplicate. Nothing is dropped silently.
        cleaned = load_clean(cfg, run, write=main)
        ds = cleaned.dataset

        # 2. Split the way the field demands, and audit the split for leakage.
        splits, leakage = split_and_audit(cfg, ds, run, write=main)

        # 3. Fit every requested family on the same split (the other processes of a torchrun
        #    launch join the families that train with several processes, and write nothing).
        results: dict[str, FamilyResult] = {}
        for family in families:
            if not (main or get_family(family).distributed):
                continue
            fam_run = run if len(families) == 1 else run.family(family)
            result = fit_family(family, cfg, ds, splits, fam_run, is_main=main)
            if result is not None:
                results[family] = result
        if not main:
            return TrainResult(ctx.out, "", {})

        # 4. Select on validation (never on test) and put the selected model at the top level.
        selected = select_family(results, ds.task)
        if len(families) > 1:
            run.promote(results[selected].run)
        metrics = dict(results[selected].metrics)
        metrics["model"] = selected
        if len(families) > 1:
            metrics["families"] = {f: r.metrics for f, r in results.items()}
            metrics["comparison"] = compare_families(results, ds.y[splits["test"]], ds.task, cfg)

        # 5. Uncertainty of the selected model: calibrated on validation, measured on test.
        metrics["uncertainty"] = attach_uncertainty(cfg, ds, splits, run)
        metrics["membership"] = audit_membership(cfg, ds, splits, run)  # privacy
        atomic_write_json(run.metrics, metrics)
        histories = {f: r.history for f, r in results.items()}
        atomic_write_json(run.history, histories)

        # 6. Report and tracking.
        write_report(run.report, build_report_data(cfg, cleaned, splits, leakage, results,
                                                   metrics, command))
        logger.info("report: %s", ctx.final(run.report))
        run_id = ctx.track(histories=histories,
                           final_metrics={"test": metrics["test"], "val": metrics.get("val", {})},
                           artifacts=[run.report, run.metrics, run.config, run.splits, run.model])
        return TrainResult(ctx.out, selected, metrics, results, run_id)
