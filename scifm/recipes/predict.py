"""Recipe: predict — a trained run directory + a data file -> one prediction row per input row.

The input is streamed in chunks, so memory does not grow with the file size. Invalid inputs are
not a crash: their row carries ``status=invalid`` and the reason in ``error``.

Token-classification runs (``family: token``; NER, per-residue labels) write one row per sentence
/ sequence: ``row_id``, ``id``, ``input``, ``status``, ``error``, ``pred`` (NER: one tag per
token, space-separated; residues: one label per residue, as a string of the sequence's length)
and, for NER, ``entities`` (:mod:`scifm.evaluation.token_tables`). Their inputs are a CoNLL-style
file (NER; one token per line, the tag column may be absent) or a table whose text column is split
on whitespace / whose sequence column is read residue by residue.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scifm.config.schema import DataConfig
from scifm.data.io import iter_table, require_columns
from scifm.data.tokens import iter_token_inputs, saved_data_config
from scifm.data.validate import validate_records
from scifm.evaluation.tables import prediction_columns
from scifm.evaluation.token_tables import tag_chunk
from scifm.models import load_predictor
from scifm.models.base import Predictor
from scifm.models.registry import get_family
from scifm.models.token import FAMILY as TOKEN_FAMILY
from scifm.rundir import RunDir
from scifm.tasks import TaskSpec
from scifm.utils.io import atomic_path

logger = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    """Counts of a prediction run."""

    out: Path
    n_rows: int
    n_invalid: int


def predict(
    run_dir: str | Path,
    data: str | Path,
    out: str | Path,
    input_col: str | None = None,
    id_col: str | None = None,
    fmt: str = "auto",
    chunksize: int = 5_000,
    workers: int = 0,
) -> PredictSummary:
    """Predict every row of ``data`` with the model of ``run_dir``; write a CSV to ``out``.

    Output columns: ``row_id`` (0-based row in the input), ``id`` (when ``id_col``), ``input``
    (as given), ``canonical``, ``status`` (``ok`` | ``invalid``), ``error`` and the prediction
    columns of :func:`scifm.evaluation.tables.prediction_columns` (empty for invalid rows).

    ``workers`` processes featurise and predict chunks in parallel (0 = one per CPU core for
    feature-based models, 1 for transformers, whose torch kernels already use every core). At most
    ``2 x workers`` chunks are in flight, so memory stays flat whatever the file size.
    """
    run = RunDir(Path(run_dir))
    meta = run.model_meta()
    if meta["family"] == TOKEN_FAMILY:  # NER / per-residue runs: one tag per token
        return _predict_tokens(run, meta, Path(data), out, input_col, id_col, fmt, chunksize)
    task = TaskSpec.from_dict(meta["task"])
    data_cfg = DataConfig.model_validate(meta.get("data", {"modality": meta["modality"]}))
    col = input_col or data_cfg.input_cols[0]
    if workers <= 0:
        # families whose kernels use every core already (torch) predict in one process
        workers = (os.cpu_count() or 1) if get_family(meta["family"]).uses_n_jobs else 1
    job = _ChunkJob(run.model, task, data_cfg, col, id_col)
    n_rows = n_invalid = 0
    with atomic_path(out) as tmp:
        for frame in _predict_chunks(job, iter_table(data, fmt, chunksize=chunksize), workers,
                                     str(data)):
            frame.to_csv(tmp, mode="a", header=n_rows == 0, index=False)
            n_rows += len(frame)
            n_invalid += int((frame["status"] == "invalid").sum())
            logger.info("predicted %d rows (%d invalid so far)", n_rows, n_invalid)
    if n_invalid:
        logger.warning("%d of %d rows were invalid; see the 'error' column of %s", n_invalid,
                       n_rows, out)
    return PredictSummary(Path(out), n_rows, n_invalid)


def _predict_tokens(run: RunDir, meta: dict, data: Path, out: str | Path, input_col: str | None,
                    id_col: str | None, fmt: str, chunksize: int) -> PredictSummary:
    """Tag every sentence / sequence of ``data`` with a token-classification run's model."""
    model = load_predictor(run.model)
    data_cfg = saved_data_config(meta.get("data"), meta["modality"])
    col = input_col or data_cfg.input_cols[0]
    n_rows = n_invalid = 0
    with atomic_path(out) as tmp:
        for chunk in iter_token_inputs(data, model.kind, fmt, col, id_col, chunksize):
            frame = tag_chunk(model, data_cfg, chunk, n_rows)
            frame.to_csv(tmp, mode="a", header=n_rows == 0, index=False)
            n_rows += len(frame)
            n_invalid += int((frame["status"] == "invalid").sum())
            logger.info("tagged %d rows (%d invalid so far)", n_rows, n_invalid)
    return PredictSummary(Path(out), n_rows, n_invalid)


@dataclass
class _ChunkJob:
    """Everything a (worker) process needs to predict one chunk."""

    model_dir: Path
    task: TaskSpec
    data_cfg: DataConfig
    col: str
    id_col: str | None

    predictor: Predictor | None = None
    """The loaded model; ``None`` in a freshly spawned worker until its first chunk."""

    def __call__(self, chunk: pd.DataFrame, start: int) -> pd.DataFrame:
        if self.predictor is None:
            self.predictor = load_predictor(self.model_dir)
        return predict_chunk(self.predictor, self.task, self.data_cfg, chunk, self.col,
                             self.id_col, start)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "predictor": None}  # workers load the model themselves


def _limit_threads(n: int) -> None:
    """Worker start-up: share the cores instead of every worker's OpenMP pool taking all of them
    (oversubscribed OpenMP threads spin and slow LightGBM down many times over)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)


def _predict_chunks(job: _ChunkJob, chunks: Iterator[pd.DataFrame], workers: int,
                    source: str) -> Iterator[pd.DataFrame]:
    """Predicted frames in input order; a bounded window of chunks runs in worker processes."""
    cols = [job.col, *job.data_cfg.input_cols[1:]] + ([job.id_col] if job.id_col else [])
    start = 0
    if workers == 1:
        job.predictor = load_predictor(job.model_dir)
        for chunk in chunks:
            require_columns(chunk, cols, source)
            yield job(chunk, start)
            start += len(chunk)
        return
    ctx = multiprocessing.get_context("spawn")
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_limit_threads,
                             initargs=(threads,)) as pool:
        window: deque = deque()
        for chunk in chunks:
            require_columns(chunk, cols, source)
            window.append(pool.submit(job, chunk, start))
            start += len(chunk)
            if len(window) >= 2 * workers:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()


def predict_chunk(predictor: Predictor, task: TaskSpec, data_cfg: DataConfig, chunk: pd.DataFrame,
                  col: str, id_col: str | None, start: int) -> pd.DataFrame:
    """Validate, canonicalise and predict one chunk; invalid rows keep their place."""
    raw = chunk[col].tolist()
    records, reasons = validate_records(chunk, data_cfg, [col, *data_cfg.input_cols[1:]])
    canonical = [None if r is None else r.primary for r in records]
    ok = np.array([r is not None for r in records], dtype=bool)
    y = np.full((len(raw), task.n_outputs), np.nan)
    if ok.any():
        y[ok] = predictor.predict([r for r in records if r is not None])
    out: dict[str, object] = {"row_id": np.arange(start, start + len(raw))}
    if id_col:
        out["id"] = chunk[id_col].tolist()
    out.update({"input": raw, "canonical": canonical,
                "status": np.where(ok, "ok", "invalid"), "error": reasons})
    preds = prediction_columns(task, y)
    for name, values in preds.items():
        values = np.asarray(values, dtype=object)
        values[~ok] = None
        out[name] = values
    return pd.DataFrame(out)
