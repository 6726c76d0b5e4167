"""Fit one registered family on a split, save it and score it: the step ``train``, ``tune`` and
``auto`` share.

The family is trained on the train rows (early stopping on val where it supports it), saved to
``run.model`` with the data and split settings in its ``scifm.json``, scored on val and test
(:func:`scifm.evaluation.scoring.score_predictor`) and its test predictions written beside it.
Under ``torchrun`` the other processes join the fit of a distributed family (the Trainer's DDP)
and write nothing.
"""

from __future__ import annotations

import logging
import shutil
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from scifm.evaluation.metrics import primary_metric
from scifm.evaluation.scoring import FamilyResult, format_metric, rows, score_predictor
from scifm.evaluation.tables import prediction_frame
from scifm.models.base import update_model_meta
from scifm.models.memo import remember_predictions
from scifm.models.registry import build_predictor
from scifm.privacy.redaction import model_redaction
from scifm.training.distributed import backend, barrier, world_size
from scifm.utils import progress
from scifm.utils.io import atomic_write_json, atomic_write_with
from scifm.utils.seed import seed_everything

if TYPE_CHECKING:
    from scifm.config.schema import ExperimentConfig
    from scifm.data.clean import CleanDataset
    from scifm.models.base import Predictor
    from scifm.rundir import RunDir

logger = logging.getLogger(__name__)


def fit_family(family: str, cfg: ExperimentConfig, ds: CleanDataset,
               splits: dict[str, np.ndarray], run: RunDir, is_main: bool = True,
               ) -> FamilyResult | None:
    """Fit ``family`` on train (early-stopping on val), save it, evaluate on val and test.

    Returns
    -------
    FamilyResult or None
        None on a process that is not the main one (it only took part in the fit).
    """
    tr, va = splits["train"], splits["val"]
    if is_main:
        run.root.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    predictor = build_predictor(family, ds.task, cfg.data.modality, cfg, work_dir=run.root)
    logger.info("fitting %s on %d rows (val %d)", family, len(tr), len(va))
    t0 = time.perf_counter()
    predictor.fit(rows(ds, tr), ds.y[tr], rows(ds, va) if len(va) else None,
                  ds.y[va] if len(va) else None)
    fit_seconds = time.perf_counter() - t0
    barrier()  # several processes: all are done with the checkpoints before they are removed
    if not is_main:
        return None
    if backend() is not None:
        logger.info("%s trained by %d processes (%s)", family, world_size(), backend())
    if not cfg.train.keep_checkpoints:  # resume state is only needed until the run succeeds
        shutil.rmtree(run.root / "checkpoints", ignore_errors=True)
    return save_and_score(family, predictor, cfg, ds, splits, run, fit_seconds)


def save_and_score(family: str, predictor: Predictor, cfg: ExperimentConfig, ds: CleanDataset,
                   splits: dict[str, np.ndarray], run: RunDir, fit_seconds: float,
                   extra: dict[str, Any] | None = None) -> FamilyResult:
    """Save a fitted predictor into ``run.model`` (data and split settings in its
    ``scifm.json``), score it on val and test, write ``metrics.json`` (``extra`` keys added) and
    ``predictions_test.csv``."""
    run.root.mkdir(parents=True, exist_ok=True)
    predictor.save(run.model)
    privacy = getattr(predictor, "privacy_", None)  # a DP fit's accountant record
    redaction = model_redaction(cfg)  # new inputs are redacted as the training data were
    update_model_meta(run.model, data=cfg.data.recorded(),
                      split=cfg.split.model_dump(mode="json"),
                      **({"privacy": privacy} if privacy else {}),
                      **({"redaction": redaction} if redaction else {}))
    predictor = remember_predictions(predictor)  # combinations and the uncertainty layer
    with progress.track(f"{family}: scoring on val and test", level=logging.DEBUG):  # ask again
        scores, y_test = score_predictor(predictor, ds, splits, cfg)
    metrics = {"fit_seconds": round(fit_seconds, 2), **({"privacy": privacy} if privacy else {}),
               **(extra or {}), **scores}
    atomic_write_json(run.metrics, metrics)
    te = splits["test"]
    frame = prediction_frame(ds.task, [ds.ids[i] for i in te], rows(ds, te), y_test, ds.y[te])
    atomic_write_with(run.predictions_test, lambda p: frame.to_csv(p, index=False))
    name, _ = primary_metric(ds.task)
    logger.info("%s: test %s = %s (fit %.1f s)", family, name,
                format_metric(metrics["test"].get(name, {})), fit_seconds)
    return FamilyResult(family, run, metrics, list(getattr(predictor, "history_", [])), y_test,
                        fit_seconds, metrics.get("n_parameters"),
                        metrics.get("n_trainable_parameters"), predictor=predictor)
