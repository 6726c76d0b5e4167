"""Recipe: compress — smaller and faster variants of a trained model, measured, one kept.

1. The run's model and its rows per split, read again from its training data file as its
   ``splits.json`` says (:func:`scifm.evaluation.evaluation_audit.run_dataset`).
2. Every variant maker that applies to the model's family (:mod:`scifm.compression.variants`:
   ONNX fp32 / int8, bf16, pruning, distillation for transformers; ONNX and a fingerprint
   student for feature models) writes its variants as model folders. A maker that fails is one
   warning and one ``failed`` row: the others still run.
3. The original model and every variant are loaded as ``predict`` loads them and measured the
   same way on the run's test rows (:mod:`scifm.compression.measure`: size, batch-1 latency,
   batch-64 throughput, metric with its CI and its paired-bootstrap change).
4. The fastest variant within ``--max-drop`` (:mod:`scifm.compression.choice`) is written as a
   normal run directory ``OUT``: its ``model/`` (the uncertainty layer fitted again on the
   validation rows for the new model, the model card), ``metrics.json`` (with
   ``compression``), ``predictions_test.csv``, the run's data files, ``compression.json`` /
   ``compression.csv`` (every variant) and ``report.html`` with a Compression section (added to
   the source run's report as well). ``predict``, ``evaluate``, ``screen`` and ``serve`` use
   ``OUT`` with no extra flag.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scifm.compression.base import CompressJob, CompressOptions, Variant
from scifm.compression.chain import bf16_of, chainable, int8_of
from scifm.compression.choice import ORIGINAL, allowed_drop, choose
from scifm.compression.measure import model_bytes, score_variant, time_predictor
from scifm.compression.rows import run_rows
from scifm.compression.tradeoff import compression_section, markdown_table, tradeoff_frame
from scifm.compression.variants import MakerSpec, applicable_makers, run_maker
from scifm.config.load import load_config
from scifm.data.clean import CleanDataset
from scifm.errors import ConfigError
from scifm.evaluation.report import add_to_report
from scifm.evaluation.scoring import rows as split_inputs
from scifm.evaluation.scoring import score_predictor
from scifm.evaluation.tables import prediction_frame
from scifm.models import load_predictor
from scifm.models.base import Predictor, update_model_meta
from scifm.models.safeload import first_line
from scifm.rundir import RunDir
from scifm.staging import staged
from scifm.tasks import TaskSpec
from scifm.trust.card import write_card
from scifm.trust.fitting import attach_uncertainty
from scifm.utils import progress
from scifm.utils.io import atomic_write_json, atomic_write_with, refuse_overwriting_inputs

logger = logging.getLogger(__name__)

__all__ = ["CompressResult", "compress"]

RUN_FILES = ("config.yaml", "data_report.json", "rejected.csv", "splits.json", "leakage.json",
             "history.json", "report.html")
"""Files of the source run copied into the compressed run (the model and its scores are new)."""


@dataclass
class CompressResult:
    """What ``scifm compress`` made."""

    out: Path
    chosen: str
    table: str
    """The trade-off table (Markdown)."""
    result: dict[str, Any]
    """``compression.json``."""


def compress(run_dir: str | Path, out: str | Path, variants: list[str] | None = None,
             max_drop: str | float | None = None, options: CompressOptions | None = None,
             n_bootstrap: int = 1000, keep_variants: bool = False) -> CompressResult:
    """Make, measure and choose compressed variants of the model of ``run_dir``; write the
    chosen one as the run directory ``out``.

    Raises
    ------
    ConfigError
        No variant applies to the model's family, or ``variants`` names one that does not.
    RunDirError
        Not a run directory, its training data file gone or changed, no test rows.
    """
    run, out = RunDir(Path(run_dir)), Path(out)
    meta = run.model_meta()
    refuse_overwriting_inputs(out, {"the run directory": run.root})
    makers = applicable_makers(meta, variants)
    if not makers:
        raise ConfigError(f"no compression variant applies to a {meta.get('family')!r} model")
    data_run = _data_run(run)
    ds, splits, rows = run_rows(data_run, meta)
    task = TaskSpec.from_dict(meta["task"])
    options = options or CompressOptions()
    with staged(out, kind="compressed run", command="scifm compress") as tmp:
        job = CompressJob(run.model, meta, task, load_predictor(run.model), rows,
                          tmp / "variants", options)
        job.work.mkdir(parents=True, exist_ok=True)
        measured, folders = _measure_all(job, makers, n_bootstrap)
        base = measured[0]
        limit = allowed_drop(max_drop, base["value"], base["higher_is_better"])
        chosen = choose(measured, limit)
        result = _result(run, measured, chosen, limit, len(rows["test"]))
        _write_run(data_run, meta, (ds, splits), tmp, folders[chosen], result)
        if not keep_variants:
            shutil.rmtree(job.work, ignore_errors=True)
    add_to_report(run.report, compression_section(result))
    table = markdown_table(measured, chosen)
    logger.info("compression of %s:\n%s", run.root, table)
    return CompressResult(out, chosen, table, result)


def _data_run(run: RunDir) -> RunDir:
    """Where the run's data files are: the run itself, or for one family of a run that trained
    several (``RUN/families/NAME``), the run above it."""
    parent = run.root.parent
    if not run.splits.is_file() and parent.name == "families" and \
            RunDir(parent.parent).splits.is_file():
        return RunDir(parent.parent)
    return run


def _measure_all(job: CompressJob, makers: list[MakerSpec],
                 n_bootstrap: int) -> tuple[list[dict[str, Any]], dict[str, Path]]:
    """The original and every variant, measured; their model folders by name. With the
    ``onnx`` maker, int8 is chained on the other fp32 transformer variants, with the ``bf16``
    maker bf16 (:mod:`scifm.compression.chain`)."""
    base_pred = job.teacher.predict(job.rows["test"].inputs)
    measured = [_measure(ORIGINAL, "the run's model as trained", job.teacher, job.model_dir,
                         job, base_pred, n_bootstrap)]
    folders = {ORIGINAL: job.model_dir}
    made_all: list[Variant] = []
    for maker in makers:
        made = _made(maker.name, lambda m=maker: run_maker(m, job), measured)
        made_all += made
        for variant in made:
            _add(variant, job, base_pred, n_bootstrap, measured, folders)
    names = {v.name for v in made_all}
    for maker, suffix, chain in (("onnx", "int8", int8_of), ("bf16", "bf16", bf16_of)):
        if not any(m.name == maker for m in makers):
            continue
        for variant in [v for v in made_all if chainable(v)]:
            name = f"{variant.name}+{suffix}"
            if name in names:  # a maker made it already (vocab-trimmed+bf16)
                continue
            for chained in _made(name, lambda v=variant, c=chain: [c(job, v)], measured):
                _add(chained, job, base_pred, n_bootstrap, measured, folders)
    return measured, folders


def _made(name: str, make: Callable[[], list[Variant]],
          measured: list[dict[str, Any]]) -> list[Variant]:
    """What ``make`` returns; a failure is one warning and one ``failed`` row."""
    with progress.track(f"compress: making {name}"):
        try:
            return make()
        except Exception as err:  # noqa: BLE001 - one failed maker leaves the others
            logger.warning("compress: %s failed (%s: %s); the other variants go on", name,
                           type(err).__name__, first_line(err))
            measured.append({"name": name, "error": first_line(err)})
            return []


def _add(variant: Variant, job: CompressJob, base_pred: np.ndarray, n_bootstrap: int,
         measured: list[dict[str, Any]], folders: dict[str, Path]) -> None:
    """Load ``variant`` as predict does and measure it (a failure: one ``failed`` row)."""
    try:
        predictor = load_predictor(variant.model_dir)
        row = _measure(variant.name, variant.description, predictor, variant.model_dir, job,
                       base_pred, n_bootstrap)
    except Exception as err:  # noqa: BLE001 - a variant that does not load or predict
        logger.warning("compress: variant %s does not load or predict (%s: %s)",
                       variant.name, type(err).__name__, first_line(err))
        measured.append({"name": variant.name, "error": first_line(err)})
        return
    measured.append({**row, "details": variant.details})
    folders[variant.name] = variant.model_dir


def _measure(name: str, description: str, predictor: Predictor, folder: Path,
             job: CompressJob, base_pred: np.ndarray, n_bootstrap: int) -> dict[str, Any]:
    test = job.rows["test"]
    with progress.track(f"compress: measuring {name}"):
        pred = predictor.predict(test.inputs)
        timing = time_predictor(predictor, test.inputs)
        score = score_variant(job.task, test, pred, base_pred, n_bootstrap=n_bootstrap,
                              seed=job.options.seed)
    row = {"name": name, "description": description, "size_bytes": model_bytes(folder),
           "latency_ms": timing.latency_ms, "throughput": timing.throughput, **score}
    logger.info("compress: %s: %.1f MB, %.1f ms at batch 1, %.0f inputs/s at batch 64, "
                "%s %.4f (change %+.4f)", name, row["size_bytes"] / 1e6, timing.latency_ms,
                timing.throughput, score["metric"], score["value"], score["delta"])
    return row


def _result(run: RunDir, measured: list[dict[str, Any]], chosen: str, limit: float,
            n_test: int) -> dict[str, Any]:
    base = measured[0]
    if chosen == ORIGINAL:
        note = ("No variant is faster than the original within the allowed drop: the original "
                "model is kept.")
    else:
        row = next(r for r in measured if r["name"] == chosen)
        note = (f"{chosen}: {base['size_bytes'] / max(row['size_bytes'], 1):.1f}x smaller, "
                f"{row['throughput'] / base['throughput']:.1f}x the batch-64 throughput, "
                f"{row['metric']} change {row['delta']:+.4f}.")
    return {"source_run": str(run.root.resolve()), "chosen": chosen, "metric": base["metric"],
            "higher_is_better": base["higher_is_better"], "max_drop": limit, "n_test": n_test,
            "note": note, "variants": measured,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores"}


def _write_run(run: RunDir, meta: dict[str, Any],
               data: tuple[CleanDataset, dict[str, np.ndarray]], tmp: Path, chosen_dir: Path,
               result: dict[str, Any]) -> None:
    """The compressed run directory: the chosen model, scored and calibrated like a new run
    (``run``: the run that holds the data files)."""
    new = RunDir(tmp)
    for name in RUN_FILES:
        if (run.root / name).is_file():
            shutil.copy2(run.root / name, tmp / name)
    shutil.copytree(chosen_dir, new.model)
    update_model_meta(new.model, data=meta.get("data"), split=meta.get("split"),
                      compression={"variant": result["chosen"],
                                   "source_run": result["source_run"]})
    cfg = load_config(run.config)
    ds, splits = data
    predictor = load_predictor(new.model)
    scores, y_test = score_predictor(predictor, ds, splits, cfg)
    te = splits["test"]
    frame = prediction_frame(ds.task, [ds.ids[i] for i in te], split_inputs(ds, te), y_test,
                             ds.y[te])
    atomic_write_with(new.predictions_test, lambda p: frame.to_csv(p, index=False))
    summary = {k: result[k] for k in ("chosen", "metric", "max_drop", "note", "source_run")}
    metrics: dict[str, Any] = {**scores, "compression": summary}
    uncertainty = attach_uncertainty(cfg, ds, splits, new, predictor)
    if uncertainty is not None:
        metrics["uncertainty"] = uncertainty
    atomic_write_json(new.metrics, metrics)
    atomic_write_json(tmp / "compression.json", result)
    atomic_write_with(tmp / "compression.csv",
                      lambda p: tradeoff_frame(result["variants"]).to_csv(p, index=False))
    add_to_report(new.report, compression_section(result))
    write_card(new, Path(result["source_run"]).name + "-" + result["chosen"])
